"""scripts/train.py and scripts/evaluate.py with a tiny budget (seconds)."""

import csv
import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--env-kwargs", "num_arms=3,num_episodes=5", "--num-envs", "8", "--steps-per-iteration", "40",
        "--hidden-size", "8", "--value-hidden-size", "8", "--eval-tasks", "20", "--threads", "1"]


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_train_writes_a_complete_run_folder_and_resumes(tmp_path, capsys):
    train = load_script("train")
    out = tmp_path / "run"
    assert train.main(["--algo", "trpo_gru", "--iterations", "2", "--out", str(out), "--cg-damping", "0.01", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "trpo_gru" in printed and "random" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["algo"] == "trpo_gru" and config["env_kwargs"] == {"num_arms": 3, "num_episodes": 5}
    assert config["hyperparameters"]["cg_damping"] == 0.01 and config["hyperparameters"]["hidden_size"] == 8
    with (out / "progress.csv").open() as f:
        rows = list(csv.DictReader(f))
    from agents.rl2.config import TRPOConfig
    from agents.rl2.trainer import metric_names

    assert [int(r["iteration"]) for r in rows] == [1, 2] and list(rows[0]) == list(metric_names(TRPOConfig))
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "checkpoints" / "latest.pt").is_file() and (out / "learning_curve.png").stat().st_size > 0
    document = json.loads((out / "eval.json").read_text())
    assert set(document["results"]) == {"trpo_gru", "random"} and document["num_tasks"] == 20
    assert len(document["results"]["trpo_gru"]["per_episode"]) == 5
    behaviour = document["behaviour"]["trpo_gru"]  # the probe, on the same trials as the score
    assert behaviour["trial_return"] == document["results"]["trpo_gru"]["mean"]
    assert 0 <= behaviour["late_best"] <= 1 and 1 <= behaviour["arms_tried"] <= 3

    # resume to 3 iterations: one more row, same settings
    assert train.main(["--resume", str(out), "--iterations", "3", "--threads", "1"]) == 0
    with (out / "progress.csv").open() as f:
        assert [int(r["iteration"]) for r in csv.DictReader(f)] == [1, 2, 3]
    assert json.loads((out / "config.json").read_text())["iterations"] == 3
    sessions = json.loads((out / "sessions.json").read_text())
    assert [s["iterations"] for s in sessions] == [2, 3]
    assert sessions[1]["command"] == f"python scripts/train.py --resume {out} --iterations 3 --threads 1"
    assert all(s["wall_seconds"] > 0 and s["threads"] == 1 and s["device"] == "cpu" for s in sessions)
    capsys.readouterr()

    evaluate = load_script("evaluate")
    assert evaluate.main([str(out), "--tasks", "10", "--seed", "4", "--threads", "1", "--json", str(tmp_path / "e.json")]) == 0
    assert "trpo_gru" in capsys.readouterr().out
    sampled = json.loads((tmp_path / "e.json").read_text())
    assert sampled["num_tasks"] == 10

    # --greedy: the argmax agent, under its own name
    assert evaluate.main([str(out), "--tasks", "10", "--seed", "4", "--greedy", "--json", str(tmp_path / "g.json")]) == 0
    argmax = json.loads((tmp_path / "g.json").read_text())["results"]["trpo_gru-argmax"]
    from agents.evaluation import evaluate as run_protocol
    from agents.training.algorithms import load_run_agent

    agent, spec = load_run_agent(out, "cpu", greedy=True)
    expected = run_protocol(agent, spec.env_id, spec.env_kwargs, num_tasks=10, seed=4)
    assert argmax["mean"] == pytest.approx(expected.mean)
    assert argmax["mean"] != sampled["results"]["trpo_gru"]["mean"]
    with pytest.raises(SystemExit):
        evaluate.main([str(out), "--greedy", "--temperature", "0.5"])
    assert "exclude each other" in capsys.readouterr().err

    # another setting it can play (longer trials), with its behaviour; the probe leaves the score as it is
    longer = ["--env-kwargs", "num_episodes=7", "--tasks", "10", "--seed", "4"]
    assert evaluate.main([str(out), *longer, "--json", str(tmp_path / "n7.json")]) == 0
    assert evaluate.main([str(out), *longer, "--probe", "--json", str(tmp_path / "n7p.json")]) == 0
    plain, probed = (json.loads((tmp_path / name).read_text()) for name in ("n7.json", "n7p.json"))
    assert probed["env_kwargs"] == {"num_arms": 3, "num_episodes": 7} and "behaviour" not in plain
    assert probed["results"] == plain["results"] and len(probed["results"]["trpo_gru"]["per_episode"]) == 7
    assert probed["behaviour"]["trpo_gru"]["trial_return"] == plain["results"]["trpo_gru"]["mean"]
    assert "behaviour (agents.evaluation.probe):" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # the probe has no statistics for mazes, and its read-out needs two trials
        evaluate.main([str(out), "--env", "MetaMaze-v0", "--probe"])
    assert "the behavioural probe knows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main([str(out), "--tasks", "1", "--probe"])
    assert "--tasks of at least 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # 4 arms: other observation and action spaces
        evaluate.main([str(out), "--env-kwargs", "num_arms=4"])
    assert "cannot play it" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main([str(out), "--env", "MetaBandit-v9"])
    assert "not a registered env ID" in capsys.readouterr().err


def test_unknown_algo_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script("train").main(["--algo", "dqn"])
    assert exit_info.value.code == 2
    assert "unknown --algo 'dqn'; known: dpt, ppo_gru, recurrent_ppo, trpo_gru" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env-kwargs", "num_arms"], "expected name=value"),
        (["--env-kwargs", "num_arms=1"], "num_arms must be an integer >= 2"),
        (["--max-kl", "-1"], "max_kl must be in"),
        (["--fvp", "hessian"], "invalid choice"),
    ],
)
def test_bad_arguments_are_clear_errors(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        load_script("train").main([*argv, "--out", str(tmp_path / "x")])
    assert message in capsys.readouterr().err


def test_resume_refuses_to_change_the_run(tmp_path, capsys):
    train = load_script("train")
    out = tmp_path / "run"
    train.main(["--iterations", "1", "--out", str(out), *TINY])
    with pytest.raises(SystemExit):
        train.main(["--resume", str(out), "--seed", "3"])
    assert "--resume keeps the run's settings" in capsys.readouterr().err


def start_long_run(out, iterations_logged):
    """A ``scripts/train.py`` process with a budget it will not reach, once it has logged
    ``iterations_logged`` iterations to ``out/progress.csv``."""
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), "--algo", "trpo_gru", "--iterations", "100000",
               "--out", str(out), *TINY]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    progress = out / "progress.csv"
    while not (progress.is_file() and len(progress.read_text().splitlines()) > iterations_logged):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.2)
    return process


def test_ctrl_c_stops_after_an_iteration_with_a_checkpoint_that_resumes(tmp_path):
    out = tmp_path / "run"
    process = start_long_run(out, 2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "continue with: python scripts/train.py --resume" in stdout
    session = json.loads((out / "sessions.json").read_text())[-1]
    state = torch.load(out / "checkpoints" / "latest.pt", weights_only=True)
    assert session["stopped"] and state["iteration"] == session["iterations"] >= 2
    with (out / "progress.csv").open() as f:
        assert len(list(csv.DictReader(f))) == state["iteration"]  # nothing logged past the checkpoint
    assert not (out / "eval.json").exists()
    train = load_script("train")
    assert train.main(["--resume", str(out), "--iterations", str(state["iteration"] + 1), "--threads", "1"]) == 0
    assert json.loads((out / "eval.json").read_text())["results"]["trpo_gru"]
    sessions = json.loads((out / "sessions.json").read_text())
    assert [s["status"] for s in sessions] == ["stopped", "completed"]


def test_a_killed_session_keeps_its_entry_up_to_its_last_iteration(tmp_path):
    out = tmp_path / "run"
    process = start_long_run(out, 3)
    process.kill()  # no handler runs: what sessions.json holds now is what a lost machine leaves
    process.communicate(timeout=60)
    [session] = json.loads((out / "sessions.json").read_text())
    with (out / "progress.csv").open() as f:
        logged = [int(r["iteration"]) for r in csv.DictReader(f)]
    assert session["status"] == "running" and not session["stopped"]
    # rewritten after every iteration: at most the one under way at the kill is missing
    assert logged[-1] - 1 <= session["iterations"] <= logged[-1] and session["wall_seconds"] > 0


def test_ppo_gru_runs_on_the_same_engine_with_its_own_flags_and_columns(tmp_path, capsys):
    train = load_script("train")
    out = tmp_path / "ppo"
    flags = ["--clip-range", "0.2", "--epochs", "2", "--minibatches", "2", "--cell", "layernorm_gru"]
    assert train.main(["--algo", "ppo_gru", "--iterations", "2", "--out", str(out), *flags, *TINY]) == 0
    assert "ppo_gru" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["algo"] == "ppo_gru"
    assert config["hyperparameters"]["clip_range"] == 0.2 and config["hyperparameters"]["cell"] == "layernorm_gru"
    from agents.rl2.config import PPOConfig
    from agents.rl2.trainer import metric_names

    with (out / "progress.csv").open() as f:
        assert list(next(csv.DictReader(f))) == list(metric_names(PPOConfig))
    assert set(json.loads((out / "eval.json").read_text())["results"]) == {"ppo_gru", "random"}
    # TRPO's flags are not PPO's
    with pytest.raises(SystemExit):
        train.main(["--algo", "ppo_gru", "--max-kl", "0.01", "--out", str(tmp_path / "bad"), *TINY])


def test_init_from_starts_a_new_run_from_another_runs_networks(tmp_path, capsys):
    from agents.rl2 import PPOConfig, RL2Trainer

    train = load_script("train")
    source = tmp_path / "source"
    assert train.main(["--algo", "trpo_gru", "--iterations", "2", "--out", str(source), *TINY]) == 0
    # a warm start at a longer trial, with the other rule: the networks are the same
    warm = tmp_path / "warm"
    longer = ["--env-kwargs", "num_arms=3,num_episodes=9", *TINY[2:]]
    assert train.main(["--algo", "ppo_gru", "--iterations", "1", "--init-from", str(source), "--out", str(warm), *longer]) == 0
    assert json.loads((warm / "config.json").read_text())["init_from"] == str(source)
    trainer = RL2Trainer("MetaBandit-v0", {"num_arms": 3, "num_episodes": 9}, PPOConfig(hidden_size=8, value_hidden_size=8),
                         num_envs=4, seed=7, device=torch.device("cpu"))
    trainer.load_networks(str(source))
    source_state = torch.load(source / "checkpoints" / "latest.pt", weights_only=True)
    for name, value in trainer.policy.state_dict().items():
        torch.testing.assert_close(value, source_state["policy"][name], rtol=0, atol=0)
    # "same" there and the cell itself here build the same baseline
    spelled_out = tmp_path / "spelled_out"
    assert train.main(["--algo", "trpo_gru", "--iterations", "1", "--init-from", str(source), "--value-cell", "gru",
                       "--out", str(spelled_out), *TINY]) == 0
    capsys.readouterr()
    # networks of another shape, or no checkpoint: one line, and no half-made run folder
    for flags, expected in [
        (["--init-from", str(source), "--hidden-size", "4"], "networks differ from this run's"),
        (["--init-from", str(source), "--value-cell", "layernorm_gru"], "'value_cell': ('gru', 'layernorm_gru')"),
        (["--init-from", str(tmp_path / "nothing")], "not found"),
    ]:
        out = tmp_path / "bad"
        with pytest.raises(SystemExit):
            train.main(["--algo", "trpo_gru", "--iterations", "1", "--out", str(out), *TINY, *flags])
        assert expected in capsys.readouterr().err and not out.exists()
    # the policy alone, under a baseline of another shape
    policy_only = tmp_path / "policy_only"
    assert train.main(["--algo", "trpo_gru", "--iterations", "1", "--init-from", str(source), "--init-policy-only",
                       "--out", str(policy_only), *TINY, "--value-hidden-size", "4"]) == 0
    assert json.loads((policy_only / "config.json").read_text())["init_policy_only"] is True
    capsys.readouterr()
    with pytest.raises(SystemExit):
        train.main(["--algo", "trpo_gru", "--init-policy-only", "--out", str(tmp_path / "alone"), *TINY])
    assert "give --init-from too" in capsys.readouterr().err and not (tmp_path / "alone").exists()
    with pytest.raises(SystemExit):
        train.main(["--algo", "recurrent_ppo", "--init-from", str(source), "--out", str(tmp_path / "sb3")])
    assert "recurrent_ppo has no warm start; learners with one: ppo_gru, trpo_gru" in capsys.readouterr().err
