"""The RL² training loop under both update rules: it learns, logs every quantity, saves,
loads and resumes exactly."""

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import meta_envs  # noqa: F401
from agents.baselines import RandomAgent
from agents.evaluation import evaluate
from agents.training.run_folder import InitFromError, RunFolder, RunSpec
from agents.rl2.config import PPOConfig, TRPOConfig
from agents.rl2.policy import LayerNormGRUCell
from agents.rl2.trainer import RL2Trainer, build_networks, load_agent, metric_names

TWO_ARMS = {"num_arms": 2, "num_episodes": 10}
SMALL = TRPOConfig(hidden_size=32, value_hidden_size=32, steps_per_iteration=4000)
CPU = torch.device("cpu")
#: each update rule on each recurrent core, at a size that runs in a second
TINY = {
    "trpo": TRPOConfig(hidden_size=16, value_hidden_size=16, steps_per_iteration=200),
    "ppo": PPOConfig(hidden_size=16, value_hidden_size=16, steps_per_iteration=200),
    "ppo_layernorm": PPOConfig(
        hidden_size=16, value_hidden_size=16, steps_per_iteration=200, cell="layernorm_gru", update_gate_bias=1.0
    ),
    "trpo_task_value": TRPOConfig(hidden_size=16, value_hidden_size=16, steps_per_iteration=200, value_task_features=True),
}
ALGO = {TRPOConfig: "trpo_gru", PPOConfig: "ppo_gru"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    "config",
    [SMALL, PPOConfig(hidden_size=32, value_hidden_size=32, steps_per_iteration=4000, cell="layernorm_gru",
                      update_gate_bias=1.0, gae_lambda=0.95)],
    ids=["trpo", "ppo_layernorm"],
)
def test_short_run_on_two_arm_bandit_beats_random_by_ten_percent(config):
    trainer = RL2Trainer("MetaBandit-v0", TWO_ARMS, config, num_envs=400, seed=0, device=CPU)
    for _ in range(30):
        metrics = trainer.train_iteration()
    assert list(metrics) == list(metric_names(type(config)))
    assert all(math.isfinite(v) for v in metrics.values())
    learned = evaluate(trainer.agent(), "MetaBandit-v0", TWO_ARMS, num_tasks=500, seed=0)
    random = evaluate(RandomAgent(2), "MetaBandit-v0", TWO_ARMS, num_tasks=500, seed=0)
    assert learned.mean >= 1.1 * random.mean, (learned.mean, random.mean)


def _actions(agent, seed=3):
    """The agent's actions over a whole batch of trials."""
    import gymnasium as gym

    envs = gym.make_vec("MetaBandit-v0", num_envs=50, vectorization_mode="vector_entry_point", **TWO_ARMS)
    observation, _ = envs.reset(seed=seed)
    agent.reset(50, seed)
    actions = []
    for _ in range(TWO_ARMS["num_episodes"]):
        actions.append(agent.act(observation))
        observation, *_ = envs.step(actions[-1])
    return np.stack(actions)


@pytest.mark.parametrize("config", TINY.values(), ids=TINY.keys())
def test_checkpoint_round_trip_gives_identical_actions(tmp_path, config):
    trainer = RL2Trainer("MetaBandit-v0", TWO_ARMS, config, num_envs=20, seed=0, device=CPU)
    trainer.train_iteration()
    folder = RunFolder(tmp_path)
    folder.checkpoints.mkdir()
    torch.save(trainer.state_dict(), folder.latest_checkpoint)
    spec = RunSpec(ALGO[type(config)], "MetaBandit-v0", TWO_ARMS, 0, 20, "cpu", None, 1, {})
    loaded = load_agent(folder, spec, CPU)
    assert loaded.name == ALGO[type(config)]
    np.testing.assert_array_equal(_actions(loaded), _actions(trainer.agent()))
    # a different policy acts differently: the comparison above can fail
    trainer.train_iteration()
    assert not np.array_equal(_actions(loaded), _actions(trainer.agent()))


@pytest.mark.parametrize("config", TINY.values(), ids=TINY.keys())
def test_resumed_trainer_continues_exactly(config):
    straight = RL2Trainer("MetaBandit-v0", TWO_ARMS, config, num_envs=20, seed=1, device=CPU)
    straight.train_iteration()
    state = copy.deepcopy(straight.state_dict())  # the live dict shares the parameters' storage
    expected = straight.train_iteration()
    resumed = RL2Trainer("MetaBandit-v0", TWO_ARMS, config, num_envs=20, seed=1, device=CPU)
    resumed.load_state_dict(state)
    got = resumed.train_iteration()
    timing = {name for name in metric_names(type(config)) if name.endswith("_s")}  # seconds and steps per second
    assert {k: v for k, v in got.items() if k not in timing} == {k: v for k, v in expected.items() if k not in timing}


# the task-seeing baseline's chunked values are checked on their own (below): TRPO's conjugate
# gradient turns their last-digit differences into 3e-5 in the policy
@pytest.mark.parametrize("config", [c for k, c in TINY.items() if k != "trpo_task_value"],
                         ids=[k for k in TINY if k != "trpo_task_value"])
def test_an_iteration_in_cache_sized_chunks_of_trials_is_the_one_pass_iteration(config, monkeypatch):
    # the CPU runs every whole-trial pass (value fit, policy gradient, line search) in
    # chunks of trials; the iteration must be the one the whole batch makes in one pass
    runs = []
    for chunk in (10_000, 3):
        monkeypatch.setattr("agents.rl2.policy.CPU_COLUMN_CHUNK", chunk)
        trainer = RL2Trainer("MetaBandit-v0", TWO_ARMS, config, num_envs=20, seed=2, device=CPU)
        metrics = trainer.train_iteration()
        runs.append((metrics, [p.detach().clone() for p in (*trainer.policy.parameters(), *trainer.value.parameters())]))
    (whole, whole_params), (chunked, chunked_params) = runs
    for name in ("mean_trial_return", "value_loss", "explained_variance", "entropy"):
        assert chunked[name] == pytest.approx(whole[name], rel=1e-4, abs=1e-6), name
    for ours, reference in zip(chunked_params, whole_params):
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)


def test_the_value_baseline_runs_its_own_core_or_the_policys():
    space = gym.make("MetaBandit-v0", **TWO_ARMS).observation_space
    layernorm = {"hidden_size": 8, "value_hidden_size": 8, "cell": "layernorm_gru"}
    policy, value = build_networks(space, 2, TRPOConfig(**layernorm), seed=0)
    assert isinstance(policy.gru, LayerNormGRUCell) and isinstance(value.gru, LayerNormGRUCell)
    policy, value = build_networks(space, 2, TRPOConfig(**layernorm, value_cell="gru"), seed=0)
    assert isinstance(policy.gru, LayerNormGRUCell) and isinstance(value.gru, torch.nn.GRU)


def test_a_value_baseline_that_sees_the_task_needs_it_and_is_not_mixed_with_one_that_does_not(
    tmp_path, monkeypatch
):
    trainer = RL2Trainer("MetaBandit-v0", TWO_ARMS, TINY["trpo_task_value"], num_envs=20, seed=0, device=CPU)
    assert trainer.value.task_size == 2
    assert trainer.value.encoder.output_size == trainer.policy.encoder.output_size + 2
    data = trainer.collector.collect(trainer.policy, 200, trainer.generator).data
    assert data.task_features.shape == (data.num_trials, 2)
    values = trainer.value.values(data.observations, data.task_features)
    monkeypatch.setattr("agents.rl2.policy.CPU_COLUMN_CHUNK", 3)  # each chunk of trials with its own tasks
    torch.testing.assert_close(trainer.value.values(data.observations, data.task_features), values)
    # the task changes the values: the features reach the baseline
    assert not torch.allclose(trainer.value.values(data.observations, data.task_features.flip(0)), values)
    with pytest.raises(ValueError, match=r"needs task features \[B, 2\]"):
        trainer.value.values(data.observations)
    blind = RL2Trainer("MetaBandit-v0", TWO_ARMS, TINY["trpo"], num_envs=20, seed=0, device=CPU)
    with pytest.raises(ValueError, match="does not see the task"):
        blind.value.values(data.observations, data.task_features)
    # a warm start between baselines that do and do not see the task is refused by name
    folder = RunFolder(tmp_path / "run")
    folder.checkpoints.mkdir(parents=True)
    torch.save(blind.state_dict(), folder.latest_checkpoint)
    with pytest.raises(InitFromError, match="value_task_features"):
        trainer.load_networks(str(folder.path))
    # ... unless only the policy is taken: the task-seeing baseline keeps its own start
    with torch.no_grad():  # both trainers drew the same start (seed 0): make the source's policy its own
        for parameter in blind.policy.parameters():
            parameter.add_(0.5)
    torch.save(blind.state_dict(), folder.latest_checkpoint)
    fresh_value = {name: value.clone() for name, value in trainer.value.state_dict().items()}
    trainer.load_networks(str(folder.path), policy_only=True)
    for name, value in trainer.policy.state_dict().items():
        torch.testing.assert_close(value, blind.policy.state_dict()[name], rtol=0, atol=0)
    for name, value in trainer.value.state_dict().items():
        torch.testing.assert_close(value, fresh_value[name], rtol=0, atol=0)


def test_a_family_without_task_features_says_so():
    config = TRPOConfig(hidden_size=8, value_hidden_size=8, steps_per_iteration=400, value_task_features=True)
    with pytest.raises(ValueError, match="MetaMaze-v0 cannot show its tasks to the baseline"):
        RL2Trainer("MetaMaze-v0", {}, config, num_envs=2, seed=0, device=CPU)
