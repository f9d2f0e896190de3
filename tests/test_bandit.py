"""MetaBandit-v0: registration, checkers, trial semantics, task distribution, errors."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import meta_envs
from meta_envs import BanditTask, BanditTaskDistribution, MetaBanditEnv


@pytest.mark.parametrize("kwargs", [{}, {"num_arms": 10, "num_episodes": 100}])
def test_gymnasium_and_sb3_checkers_pass(kwargs):
    gym_check_env(gym.make("MetaBandit-v0", **kwargs).unwrapped, skip_render_check=False)
    sb3_check_env(gym.make("MetaBandit-v0", **kwargs), warn=True)


def test_make_with_module_prefix_and_paper_grid():
    for k in (5, 10, 50):
        for n in (10, 100, 500):
            env = gym.make("meta_envs:MetaBandit-v0", num_arms=k, num_episodes=n)
            obs, _ = env.reset(seed=k * n)
            assert obs["prev_action"].shape == (k,)
            steps = 0
            terminated = False
            while not terminated:
                _, _, terminated, truncated, info = env.step(steps % k)
                assert not truncated
                steps += 1
            assert steps == n and len(info["episode_returns"]) == n


def test_make_vec_uses_native_vector_env():
    envs = gym.make_vec("MetaBandit-v0", num_envs=4096)
    assert isinstance(envs.unwrapped, meta_envs.MetaBanditVectorEnv)
    obs, _ = envs.reset(seed=0)
    assert obs["prev_action"].shape == (4096, 5)


def test_arm_probabilities_are_uniform_on_unit_interval():
    probs = np.stack([t.arm_probs for t in meta_envs.held_out_tasks("MetaBandit-v0", 4000, seed=3)])
    flat = probs.ravel()  # 20000 draws
    # Kolmogorov-Smirnov statistic against U[0,1]; 1.63/sqrt(n) is the 1% critical value.
    ordered = np.sort(flat)
    grid = np.arange(1, flat.size + 1) / flat.size
    ks = max(np.max(grid - ordered), np.max(ordered - (grid - 1 / flat.size)))
    assert ks < 1.63 / np.sqrt(flat.size)
    assert abs(flat.mean() - 0.5) < 0.01
    # arms are independent: the correlation between arm 0 and arm 1 is near zero
    assert abs(np.corrcoef(probs[:, 0], probs[:, 1])[0, 1]) < 0.05


def test_rewards_follow_the_pulled_arm_probability():
    env = MetaBanditEnv(num_arms=3, num_episodes=3000)
    env.reset(seed=1, options={"task": BanditTask([0.1, 0.5, 0.9])})
    totals = np.zeros(3)
    for t in range(3000):
        _, reward, _, _, _ = env.step(t % 3)
        totals[t % 3] += reward
    np.testing.assert_allclose(totals / 1000, [0.1, 0.5, 0.9], atol=0.05)


def test_task_objects_are_immutable_comparable_and_serialisable():
    task = BanditTask([0.2, 0.7])
    assert task == BanditTask(np.array([0.2, 0.7])) and hash(task) == hash(BanditTask([0.2, 0.7]))
    assert task != BanditTask([0.2, 0.71])
    with pytest.raises(ValueError):
        task.arm_probs[0] = 0.5
    with pytest.raises(AttributeError):
        task.arm_probs = np.zeros(2)
    assert BanditTask.from_dict(task.to_dict()) == task
    assert BanditTaskDistribution(4).sample(np.random.default_rng(0)).num_arms == 4


def test_reset_with_a_given_task_runs_that_task():
    env = gym.make("MetaBandit-v0", num_arms=2)
    task = BanditTask([0.0, 1.0])
    env.reset(seed=0, options={"task": task})
    assert env.unwrapped.task == task
    rewards = [env.step(1)[1] for _ in range(5)] + [env.step(0)[1] for _ in range(5)]
    assert rewards == [1.0] * 5 + [0.0] * 5


def test_ansi_render_shows_counts_and_estimates():
    env = gym.make("MetaBandit-v0", num_arms=2, render_mode="ansi")
    env.reset(seed=0, options={"task": BanditTask([0.0, 1.0])})
    env.step(1)
    env.step(1)
    text = env.render()
    assert "episode 2/10" in text
    arm1 = next(line for line in text.splitlines() if line.strip().startswith("1 "))
    assert arm1.split()[:3] == ["1", "2", "1.00"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_arms": 1}, ValueError, "num_arms must be an integer >= 2"),
        ({"num_arms": 2.0}, TypeError, "num_arms must be an integer"),
        ({"num_arms": True}, TypeError, "num_arms must be an integer"),
        ({"num_episodes": 0}, ValueError, "num_episodes must be an integer >= 1"),
        ({"num_episodes": "10"}, TypeError, "num_episodes must be an integer"),
        ({"render_mode": "human"}, ValueError, "render_mode must be None or one of"),
    ],
)
def test_invalid_kwargs_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        MetaBanditEnv(**kwargs)
    if "render_mode" not in kwargs:
        with pytest.raises(error, match=match):
            gym.make_vec("MetaBandit-v0", num_envs=2, **kwargs)


@pytest.mark.parametrize(
    ("task", "error", "match"),
    [
        (BanditTask([0.1, 0.2, 0.3]), ValueError, "task has 3 arms but the env has num_arms=5"),
        ([0.1] * 5, TypeError, "task must be a BanditTask"),
    ],
)
def test_malformed_tasks_in_options_are_rejected(task, error, match):
    env = MetaBanditEnv()
    with pytest.raises(error, match=match):
        env.reset(options={"task": task})


@pytest.mark.parametrize(
    ("probs", "match"),
    [([0.5, 1.5], r"must lie in \[0, 1\]"), ([-0.1, 0.5], r"must lie in \[0, 1\]"), ([0.5], ">= 2"),
     ([[0.5, 0.5]], "1-D"), (["a", "b"], "array-like")],
)
def test_malformed_task_cannot_be_built(probs, match):
    with pytest.raises(ValueError, match=match):
        BanditTask(probs)


def test_task_features_are_each_sub_envs_arm_probabilities():
    envs = gym.make_vec("MetaBandit-v0", num_envs=3, vectorization_mode="vector_entry_point", num_arms=4)
    with pytest.raises(RuntimeError, match="reset"):
        envs.unwrapped.task_features()
    envs.reset(seed=0)
    features = envs.unwrapped.task_features()
    assert features.dtype == np.float32 and features.shape == (3, 4)
    for i, task in enumerate(envs.unwrapped.tasks):
        np.testing.assert_allclose(features[i], task.arm_probs, rtol=1e-6)
