"""--algo dpt (agents.in_context): the transformer, its online agent, the trainer and scripts/train.py."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("minari")

import agents  # noqa: E402
from agents.evaluation import evaluate  # noqa: E402
from agents.in_context.agent import InContextAgent  # noqa: E402
from agents.in_context.generation import generate_dataset  # noqa: E402
from agents.in_context.loader import InContextWindows, load_histories  # noqa: E402
from agents.in_context.model import CausalTransformer, ModelConfig  # noqa: E402
from agents.in_context.trainer import DPTConfig, DPTTrainer  # noqa: E402
from agents.training.algorithms import load_run_agent  # noqa: E402
from agents.training.run_folder import RunSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETTING = {"num_arms": 3, "num_episodes": 10}
SMALL = ["--d-model", "16", "--num-layers", "1", "--num-heads", "2", "--feedforward", "32", "--batch-size", "8",
         "--steps-per-iteration", "5", "--num-envs", "10", "--eval-tasks", "20", "--threads", "1"]


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A tiny bandit dataset: 40 tasks, UCB1 and random."""
    folder = tmp_path_factory.mktemp("dpt") / "bandit-k3-n10-v0"
    generate_dataset(folder, "MetaBandit-v0", SETTING, ["ucb1", "random"], 40, seed=2, progress=False)
    return folder


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spec_for(dataset, **hyperparameters) -> RunSpec:
    config = DPTConfig(dataset=str(dataset), d_model=16, num_layers=1, num_heads=2, feedforward=32,
                       validation_fraction=0.25, **hyperparameters)
    return RunSpec("dpt", "MetaBandit-v0", SETTING, seed=0, num_envs=10, device="cpu", timesteps=None,
                   iterations=1, hyperparameters=dataclasses.asdict(config))


def test_a_few_hundred_dpt_steps_lower_the_loss(dataset):
    torch.set_num_threads(1)
    trainer = DPTTrainer(spec_for(dataset, steps_per_iteration=100, warmup_steps=20, lr=3e-3, batch_size=8),
                         torch.device("cpu"))
    fixed = trainer.windows.sample(64, torch.Generator().manual_seed(1))  # training windows, the same before and after
    with torch.no_grad():
        before = trainer._loss(fixed)[0].item()
    for _ in range(3):
        metrics = trainer.train_iteration()
    with torch.no_grad():
        after = trainer._loss(fixed)[0].item()
    # about log(3) = 1.10 at first (3 arms); the best arm shows in a trial's rewards
    assert before > 1.0 and after < before - 0.2
    assert metrics["iteration"] == 3 and metrics["env_steps"] == 300 * 8 * 10  # every position of every window
    assert trainer.model.config.step_init_std == DPTConfig.step_init_std == 0.02  # new models start small


def test_the_online_agent_reads_the_same_history_as_the_model():
    torch.manual_seed(0)
    model = CausalTransformer(ModelConfig(input_dim=6, num_actions=3, max_length=10, d_model=16, num_layers=2,
                                          num_heads=2, feedforward=32))
    agent = InContextAgent(model, context_length=4, device=torch.device("cpu"), greedy=True)
    cold = InContextAgent(model, context_length=4, device=torch.device("cpu"), temperature=1e-4)  # sampled
    rng = np.random.default_rng(0)
    agent.reset(2, 0)
    cold.reset(2, 0)
    tokens = []
    for t in range(7):
        action = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 2)] * (t > 0)  # zeros: a trial's first observation
        observation = {"obs": np.ones((2, 1), np.float32), "prev_action": action,
                       "prev_reward": rng.random((2, 1)).astype(np.float32), "prev_done": np.ones((2, 1), np.float32)}
        tokens.append(np.concatenate([observation[key] for key in observation], axis=1))
        actions = agent.act(observation)
        np.testing.assert_array_equal(cold.act(observation), actions)  # a cold sample is the argmax
        window = torch.from_numpy(np.stack(tokens[-4:], axis=1))  # the last 4 steps, at their steps
        positions = torch.arange(max(0, t - 3), t + 1).expand(2, -1)
        with torch.no_grad():
            expected = model(window, positions)[:, -1].argmax(dim=1).numpy()
        np.testing.assert_array_equal(actions, expected)
        np.testing.assert_allclose(agent.memory, model.features(window, positions)[:, -1].detach().numpy(), atol=1e-5)
    # a trial start empties that trial's history
    observation["prev_action"][0] = 0
    agent.act(observation)
    assert agent._filled.tolist() == [1, 4] and agent._step.tolist() == [1, 8]


def test_a_whole_trial_agent_keeps_keys_and_values_and_reads_the_same_history():
    """context_length = max_length: one token's work per step, the full forward's features,
    and each trial's history restarting on its own."""
    torch.manual_seed(0)
    model = CausalTransformer(ModelConfig(input_dim=6, num_actions=3, max_length=5, d_model=16, num_layers=2,
                                          num_heads=2, feedforward=32)).eval()
    agent = InContextAgent(model, context_length=5, device=torch.device("cpu"), greedy=True)
    agent.reset(3, 0)
    assert agent._cache is not None
    rng = np.random.default_rng(1)
    histories: list[list[np.ndarray]] = [[], [], []]
    for t in range(14):
        starts = np.array([t % 6 == 0, t % 4 == 0, t in (0, 3, 9)])  # at most 6 acts: 5 steps + the last
        action = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 3)] * ~starts[:, None]
        observation = {"obs": np.ones((3, 1), np.float32), "prev_action": action,
                       "prev_reward": rng.random((3, 1)).astype(np.float32), "prev_done": np.ones((3, 1), np.float32)}
        token = np.concatenate([observation[key] for key in observation], axis=1)
        agent.act(observation)
        for row in range(3):
            histories[row] = [token[row]] if starts[row] else [*histories[row], token[row]]
            length = len(histories[row])
            with torch.no_grad():
                expected = model.features(torch.from_numpy(np.stack(histories[row]))[None],
                                          torch.arange(length).clamp_max(4)[None])[0, -1]
            np.testing.assert_allclose(agent.memory[row], expected.numpy(), atol=1e-5)


def test_train_writes_a_dpt_run_that_resumes_exactly(dataset, tmp_path, capsys):
    train = load_script("train")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train.main(["--algo", "dpt", "--dataset", str(dataset), "--iterations", "4", "--out", str(straight),
                       *SMALL]) == 0
    assert "dpt" in capsys.readouterr().out
    config = json.loads((straight / "config.json").read_text())
    assert config["env_id"] == "MetaBandit-v0" and config["env_kwargs"] == SETTING  # from the dataset
    assert train.main(["--algo", "dpt", "--dataset", str(dataset), "--iterations", "2", "--out", str(resumed),
                       *SMALL]) == 0
    assert train.main(["--resume", str(resumed), "--iterations", "4", "--threads", "1"]) == 0
    with (resumed / "progress.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(row["iteration"]) for row in rows] == [1, 2, 3, 4]
    with (straight / "progress.csv").open() as f:
        assert [row["loss"] for row in csv.DictReader(f)] == [row["loss"] for row in rows]
    a = torch.load(straight / "checkpoints" / "latest.pt", weights_only=True)["model"]
    b = torch.load(resumed / "checkpoints" / "latest.pt", weights_only=True)["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    document = json.loads((straight / "eval.json").read_text())
    assert set(document["results"]) == {"dpt", "random"}
    agent, spec = load_run_agent(straight)
    assert isinstance(agent, InContextAgent) and spec.algo == "dpt"
    assert len(evaluate(agent, "MetaBandit-v0", SETTING, num_tasks=5).per_episode) == 10


def test_the_ad_target_trains_on_one_sources_history(dataset, tmp_path):
    train = load_script("train")
    out = tmp_path / "ad"
    assert train.main(["--algo", "dpt", "--dataset", str(dataset), "--target", "ad", "--sources", "ucb1",
                       "--context-length", "6", "--iterations", "3", "--out", str(out), *SMALL,
                       "--steps-per-iteration", "40", "--warmup-steps", "0", "--lr", "3e-3"]) == 0
    hyperparameters = json.loads((out / "config.json").read_text())["hyperparameters"]
    assert hyperparameters["target"] == "ad" and hyperparameters["sources"] == "ucb1"
    with (out / "progress.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and float(rows[-1]["loss"]) < float(rows[0]["loss"])
    agent, _ = load_run_agent(out)
    assert agent.context_length == 6
    # AD targets are the source's own actions, not the optimal ones
    histories = load_histories(dataset)
    windows = InContextWindows(histories, "ad", trials=histories.trials_of(["ucb1"]))
    first = histories.trials_of(["ucb1"])[0]
    actions = histories.actions[histories.starts[first]:histories.starts[first] + 10]
    np.testing.assert_array_equal(windows[0]["targets"], actions)
    assert not np.array_equal(actions, histories.optimal_actions[histories.starts[first]:histories.starts[first] + 10])


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "--algo dpt needs --dataset PATH"),
        (["--dataset", "nowhere-v0"], "no dataset folder nowhere-v0"),
        (["--dataset", "DATASET", "--env-kwargs", "num_arms=4,num_episodes=10"],
         r"the dataset was made on MetaBandit-v0 .*'num_arms': 3.*not on MetaBandit-v0 .*'num_arms': 4"),
        (["--dataset", "DATASET", "--sources", "gittins"],
         r"has no source\(s\) \['gittins'\]; its sources are \['ucb1', 'random'\]"),
        (["--dataset", "DATASET", "--num-heads", "3"], r"num_heads \(3\) must divide d_model \(16\)"),
    ],
)
def test_bad_dpt_arguments_are_one_line_errors(argv, message, dataset, tmp_path, capsys):
    train = load_script("train")
    argv = [str(dataset) if arg == "DATASET" else arg for arg in argv]
    with pytest.raises(SystemExit):
        train.main(["--algo", "dpt", *SMALL, *argv, "--iterations", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert not (tmp_path / "run").exists()  # refused before a run folder is made


def test_load_pretrained_dpt_says_how_to_make_the_dataset_and_train(tmp_path, monkeypatch):
    import agents.pretrained as pretrained

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"not trained yet .*\n  python scripts/make_dataset.py .*\n  python scripts/train.py --algo dpt"):
        agents.load_pretrained("MetaBandit-v0", algo="dpt", num_arms=5, num_episodes=100)


def test_the_transformer_is_causal_and_the_same_in_training_and_in_play():
    torch.manual_seed(0)
    model = CausalTransformer(ModelConfig(input_dim=8, num_actions=5, max_length=40))
    tokens, positions = torch.randn(3, 30, 8), torch.arange(30).expand(3, -1)
    training = model.train()(tokens, positions)
    with torch.no_grad():
        playing = model.eval()(tokens, positions)
        changed = tokens.clone()
        changed[:, 20:] = torch.randn(3, 10, 8)  # the future
        after = model(changed, positions)
    torch.testing.assert_close(training.detach(), playing, atol=1e-5, rtol=0)
    assert torch.equal(after[:, :20], playing[:, :20]) and not torch.allclose(after[:, 20:], playing[:, 20:])


def test_the_step_embedding_starts_at_the_asked_scale():
    torch.manual_seed(0)
    small = CausalTransformer(ModelConfig(input_dim=6, num_actions=3, max_length=400, step_init_std=0.02))
    assert abs(float(small.step_embedding.weight.detach().std()) - 0.02) < 0.002
    with pytest.raises(ValueError, match="step_init_std"):
        DPTConfig(dataset="x", step_init_std=0.0)


def test_shipped_dpt_agents_play_at_their_recipes_temperature_and_evaluate_takes_one(tmp_path, capsys):
    from agents.pretrained import RECIPES

    shipped = [recipe for recipe in RECIPES if recipe.algo == "dpt" and recipe.trained]
    for recipe in shipped:
        agent = agents.load_pretrained(recipe.env_id, "dpt", **recipe.env_kwargs)
        assert recipe.temperature is not None and agent.temperature == recipe.temperature
    with pytest.raises(ValueError, match=r"temperature must be in \[1e-06, 1000000.0\]"):
        agent.temperature = 0.0
    with pytest.raises(ValueError, match="a play temperature is for in-context"):
        dataclasses.replace(RECIPES[0], temperature=0.5)
    evaluate_script = load_script("evaluate")
    run = next(recipe.path for recipe in RECIPES if recipe.algo == "trpo_gru" and recipe.trained)
    with pytest.raises(SystemExit):
        evaluate_script.main([str(run), "--temperature", "0.5", "--tasks", "2"])
    assert "--temperature is for in-context (dpt) runs" in capsys.readouterr().err
