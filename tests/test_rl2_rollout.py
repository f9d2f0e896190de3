"""Rollouts of whole trials: fixed-length (bandit) and variable-length trials (a test family)."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import meta_envs  # noqa: F401
from agents.rl2.config import TRPOConfig, paper_defaults
from agents.rl2.policy import RecurrentNet
from agents.rl2.rollout import TrialCollector, sample_actions
from agents.rl2.trainer import RL2Trainer
from meta_envs.task import ArrayTask
from meta_envs.trial import RL2Env, RL2VectorEnv, TaskDynamics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclasses.dataclass(frozen=True, eq=False)
class HorizonTask(ArrayTask):
    """Every inner episode lasts ``horizon[0]`` steps (1 to 3): trials differ in length."""

    horizon: np.ndarray
    array_fields = {"horizon": np.int64}


class HorizonDynamics(TaskDynamics):
    task_type = HorizonTask
    num_actions = 2
    state_space = spaces.Box(0.0, 1.0, (1,), np.float32)

    def __init__(self, num_envs):
        super().__init__(num_envs)
        self.horizon = np.ones(num_envs, np.int64)
        self.t = np.zeros(num_envs, np.int64)

    def sample_tasks(self, env_ids, rng):
        self.horizon[env_ids] = rng.integers(1, 4, len(env_ids))

    def set_tasks(self, env_ids, tasks):
        self.horizon[env_ids] = [t.horizon[0] for t in tasks]

    def task(self, env_id):
        return HorizonTask(self.horizon[env_id : env_id + 1].copy())

    def start_episodes(self, env_ids, rng):
        self.t[env_ids] = 0

    def step(self, actions, rng):
        self.t += 1
        return (actions == 0).astype(np.float64), self.t >= self.horizon

    def state_obs(self):
        return np.ones((self.num_envs, 1), np.float32)

    def task_features(self):
        return self.horizon[:, None].astype(np.float32)


EPISODES = 2
gym.register(
    "TestHorizon-v0",
    entry_point=lambda **kw: RL2Env(HorizonDynamics(1), EPISODES, **kw),
    vector_entry_point=lambda num_envs, **kw: RL2VectorEnv(HorizonDynamics(num_envs), EPISODES, **kw),
)


def policy_for(env_id, kwargs=None):
    torch.manual_seed(0)
    space = gym.make(env_id, **(kwargs or {})).observation_space
    return RecurrentNet(space, int(gym.make(env_id, **(kwargs or {})).action_space.n), 8, 0, head_gain=1.0)


def test_fixed_length_trials_are_one_reset_and_t_steps():
    kwargs = {"num_arms": 4, "num_episodes": 7}
    collector = TrialCollector("MetaBandit-v0", kwargs, 10, 0, torch.device("cpu"))
    rollout = collector.collect(policy_for("MetaBandit-v0", kwargs), 70, torch.Generator().manual_seed(0))
    data = rollout.data
    assert data.actions.shape == (7, 10) and bool(data.mask.all())
    assert rollout.env_steps == rollout.simulated_steps == 70
    np.testing.assert_allclose(rollout.trial_returns, data.rewards.sum(0).numpy())
    # every column starts a trial: empty previous action, then one-hot ones
    prev_action = data.observations.vector[..., 1:5]
    assert torch.all(prev_action[0] == 0) and torch.all(prev_action[1:].sum(-1) == 1)


def test_variable_length_trials_become_masked_columns_of_whole_trials():
    num_envs, steps = 6, 60
    collector = TrialCollector("TestHorizon-v0", {}, num_envs, 3, torch.device("cpu"))
    rollout = collector.collect(policy_for("TestHorizon-v0"), steps, torch.Generator().manual_seed(1))
    data = rollout.data
    lengths = data.mask.sum(0).long()
    # the mask is a prefix of ones; each trial is EPISODES episodes of its task's horizon
    assert torch.equal(data.mask, (torch.arange(data.mask.shape[0])[:, None] < lengths).float())
    assert set(lengths.tolist()) == {2, 4, 6}
    assert torch.equal(data.observations.lengths, lengths)  # the networks skip the padding
    prev_action = data.observations.vector[..., 1:3]
    prev_done = data.observations.vector[..., -1]
    for column, length in enumerate(lengths.tolist()):
        horizon = length // EPISODES
        assert torch.all(prev_action[0, column] == 0)  # a trial's first observation
        assert torch.all(prev_action[1:length, column].sum(-1) == 1)
        # an inner episode ends after every `horizon` steps; the trial goes on
        done_at = torch.nonzero(prev_done[1:length, column]).flatten().tolist()
        assert done_at == [horizon * (e + 1) - 1 for e in range(EPISODES - 1)]
        rewards = data.rewards[:length, column]
        actions = data.actions[:length, column]
        torch.testing.assert_close(rewards, (actions == 0).float())
    # whole trials only, back to back: at least steps_per_iteration steps, every env used
    assert rollout.env_steps == int(lengths.sum()) >= steps
    assert data.num_trials > num_envs
    assert rollout.simulated_steps >= rollout.env_steps
    np.testing.assert_allclose(rollout.trial_returns, data.rewards.sum(0).numpy())


def test_each_trial_carries_the_task_it_ran_on_across_autoresets():
    # trials of different lengths end at different steps, and a new task starts in the same
    # step: the features recorded for a trial must be those of its own task (here its horizon,
    # which fixes its length)
    collector = TrialCollector("TestHorizon-v0", {}, 6, 3, torch.device("cpu"), task_features=True)
    data = collector.collect(policy_for("TestHorizon-v0"), 60, torch.Generator().manual_seed(1)).data
    lengths = data.mask.sum(0)
    assert data.task_features.shape == (data.num_trials, 1) and data.num_trials > 6
    torch.testing.assert_close(data.task_features[:, 0] * EPISODES, lengths)
    # the columns and chunks of a batch keep each trial's features beside it
    index = torch.tensor([3, 0, 5])
    torch.testing.assert_close(data.columns(index).task_features, data.task_features[index])
    assert TrialCollector("TestHorizon-v0", {}, 6, 3, torch.device("cpu")).collect(
        policy_for("TestHorizon-v0"), 60, torch.Generator()).data.task_features is None


def test_sample_actions_follows_the_distribution():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).repeat(20000, 1)
    actions = sample_actions(logits, torch.Generator().manual_seed(0))
    frequencies = torch.bincount(actions, minlength=3).float() / 20000
    torch.testing.assert_close(frequencies, torch.tensor([0.7, 0.2, 0.1]), atol=0.015, rtol=0)


class PixelHorizonDynamics(HorizonDynamics):
    """The same trials with a uint8 image state (its brightness is the step in the episode)."""

    state_space = spaces.Box(0, 255, (12, 12, 3), np.uint8)

    def state_obs(self):
        return np.broadcast_to((self.t * 80).astype(np.uint8)[:, None, None, None], (self.num_envs, 12, 12, 3)).copy()


gym.register(
    "TestPixelHorizon-v0",
    entry_point=lambda **kw: RL2Env(PixelHorizonDynamics(1), EPISODES, **kw),
    vector_entry_point=lambda num_envs, **kw: RL2VectorEnv(PixelHorizonDynamics(num_envs), EPISODES, **kw),
)


def test_pixel_states_with_variable_length_trials_train_end_to_end():
    assert paper_defaults("TestPixelHorizon-v0", {}) == {"embedding_size": 256}
    config = TRPOConfig(hidden_size=8, value_hidden_size=8, embedding_size=16, steps_per_iteration=80)
    trainer = RL2Trainer("TestPixelHorizon-v0", {}, config, num_envs=8, seed=0, device=torch.device("cpu"))
    assert trainer.policy.encoder.cnn is not None
    metrics = trainer.train_iteration()
    assert metrics["env_steps"] >= 80 and metrics["accepted"] == 1.0 and 0 < metrics["kl"] <= config.max_kl
    images = trainer.collector.collect(trainer.policy, 80, trainer.generator).data.observations.image
    assert images.dtype == torch.uint8 and images.shape[2:] == (12, 12, 3)
