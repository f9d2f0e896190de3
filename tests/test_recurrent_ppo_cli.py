"""scripts/train.py --algo recurrent_ppo and scripts/evaluate.py on its run folder (seconds)."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from agents.recurrent_ppo.trainer import METRICS

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--env-kwargs", "num_arms=3,num_episodes=5", "--num-envs", "4", "--hidden-size", "8", "--mlp-depth", "0",
        "--n-epochs", "1", "--eval-tasks", "20", "--threads", "1"]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def restore_threads():
    """The scripts set torch's thread count (--threads): put it back after each test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_train_writes_the_run_folder_resumes_and_evaluates(tmp_path, capsys):
    train = load_script("train")
    out = tmp_path / "run"
    # 4 sub-envs x 40 steps (8 bandit trials of 5 pulls each) per iteration: 2 iterations
    assert train.main(["--algo", "recurrent_ppo", "--timesteps", "300", "--out", str(out), "--policy", "gru", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "recurrent_ppo" in printed and "random" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["algo"] == "recurrent_ppo" and config["timesteps"] == 300
    hyperparameters = config["hyperparameters"]
    assert hyperparameters["policy"] == "gru" and hyperparameters["hidden_size"] == 8
    assert hyperparameters["n_steps"] == 40 and hyperparameters["learning_rate"] == 1e-3  # family defaults
    with (out / "progress.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == [1, 2] and list(rows[0]) == list(METRICS)
    assert [int(r["env_steps"]) for r in rows] == [160, 320] and [int(r["trials"]) for r in rows] == [32, 32]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "checkpoints" / "latest.zip").is_file() and (out / "learning_curve.png").stat().st_size > 0
    document = json.loads((out / "eval.json").read_text())
    assert set(document["results"]) == {"recurrent_ppo", "random"} and document["num_tasks"] == 20
    assert len(document["results"]["recurrent_ppo"]["per_episode"]) == 5

    assert train.main(["--resume", str(out), "--iterations", "3", "--threads", "1"]) == 0
    with (out / "progress.csv").open() as f:
        assert [int(r["iteration"]) for r in csv.DictReader(f)] == [1, 2, 3]
    capsys.readouterr()

    evaluate = load_script("evaluate")
    assert evaluate.main([str(out), "--tasks", "10", "--seed", "4", "--threads", "1", "--json", str(tmp_path / "e.json")]) == 0
    assert "recurrent_ppo" in capsys.readouterr().out
    assert json.loads((tmp_path / "e.json").read_text())["results"].keys() == {"recurrent_ppo", "random"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--policy", "transformer"], "invalid choice"),
        (["--critic", "none"], "invalid choice"),
        (["--n-minibatches", "0"], "n_minibatches must be"),
    ],
)
def test_bad_arguments_are_clear_errors(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        load_script("train").main(["--algo", "recurrent_ppo", *argv, "--out", str(tmp_path / "x")])
    assert message in capsys.readouterr().err


def test_a_stop_request_ends_training_after_the_iteration_with_a_checkpoint(tmp_path):
    from sb3_contrib import RecurrentPPO

    from agents.training.algorithms import ALGORITHMS
    from agents.recurrent_ppo import trainer
    from agents.training.run_folder import RunFolder, RunSpec

    algorithm = ALGORITHMS["recurrent_ppo"]
    spec = RunSpec("recurrent_ppo", "MetaBandit-v0", {"num_arms": 3, "num_episodes": 5}, 0, 4, "cpu", 10_000, None,
                   algorithm.hyperparameters("MetaBandit-v0", {"num_arms": 3, "num_episodes": 5},
                                             {"hidden_size": 8, "mlp_depth": 0, "n_epochs": 1}))
    folder = RunFolder(tmp_path / "run", ".zip")
    folder.create(spec)
    rows = []
    # asked for before the first rollout ends (a Ctrl-C arrives mid-rollout): that iteration
    # is finished and saved before training stops
    trainer.train(folder, spec, rows.append, stop=lambda: True)
    assert [row["iteration"] for row in rows] == [1]
    assert RecurrentPPO.load(folder.latest_checkpoint).num_timesteps == rows[-1]["env_steps"]
    resumed = []
    trainer.train(folder, spec, resumed.append, resume=True, stop=lambda: len(resumed) >= 1)
    assert [row["iteration"] for row in resumed] == [2]
