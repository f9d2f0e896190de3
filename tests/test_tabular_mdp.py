"""MetaTabularMDP-v0: registration, checkers, trial semantics, task distribution, dynamics, errors."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import meta_envs
from meta_envs import MetaTabularMDPEnv, MetaTabularMDPVectorEnv, TabularMDPTask, TabularMDPTaskDistribution


def ks_statistic(samples, cdf):
    """Kolmogorov-Smirnov distance between the samples and a CDF (vectorised ``cdf``)."""
    ordered = np.sort(samples)
    n = ordered.size
    f = cdf(ordered)
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


def ks_critical(n):
    """The 1% critical value of the one-sample KS statistic."""
    return 1.63 / math.sqrt(n)


normal_cdf = np.vectorize(lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0))))


def state_of(obs):
    """The state index of a one-hot ``obs`` (single, or batched along the first axis)."""
    one_hot = obs["obs"]
    assert np.all(one_hot.sum(axis=-1) == 1.0) and np.all((one_hot == 0.0) | (one_hot == 1.0))
    return one_hot.argmax(axis=-1)


def chain_task(num_states=3, num_actions=2, means=None, initial_state=0):
    """A deterministic task: action a moves from s to (s + a) % num_states."""
    p = np.zeros((num_states, num_actions, num_states))
    for s in range(num_states):
        for a in range(num_actions):
            p[s, a, (s + a) % num_states] = 1.0
    if means is None:
        means = np.arange(num_states * num_actions, dtype=float).reshape(num_states, num_actions)
    init = np.eye(num_states)[initial_state]
    return TabularMDPTask(p, means, init)


@pytest.mark.parametrize("kwargs", [{}, {"num_episodes": 25, "num_states": 4, "initial_state": "uniform"}])
def test_gymnasium_and_sb3_checkers_pass(kwargs):
    gym_check_env(gym.make("MetaTabularMDP-v0", **kwargs).unwrapped, skip_render_check=False)
    sb3_check_env(gym.make("MetaTabularMDP-v0", **kwargs), warn=True)


@pytest.mark.parametrize("num_episodes", [10, 25, 50, 75, 100])
def test_paper_grid_trials_end_after_num_episodes_times_horizon_steps(num_episodes):
    env = gym.make("meta_envs:MetaTabularMDP-v0", num_episodes=num_episodes)
    obs, info = env.reset(seed=num_episodes)
    assert obs["obs"].shape == (10,) and obs["prev_action"].shape == (5,)
    assert env.unwrapped.task.transitions.shape == (10, 5, 10)
    assert env.unwrapped.task.reward_means.shape == (10, 5)
    steps, terminated = 0, False
    while not terminated:
        _, _, terminated, truncated, info = env.step(steps % 5)
        assert not truncated
        steps += 1
    assert steps == 10 * num_episodes and len(info["episode_returns"]) == num_episodes


def test_make_vec_uses_native_vector_env():
    envs = gym.make_vec("MetaTabularMDP-v0", num_envs=4096)
    assert isinstance(envs.unwrapped, MetaTabularMDPVectorEnv)
    obs, _ = envs.reset(seed=0)
    assert obs["obs"].shape == (4096, 10) and obs["obs"].dtype == np.float32
    assert (state_of(obs) == 0).all()
    obs, *_ = envs.step(np.zeros(4096, np.int64))
    assert len(np.unique(state_of(obs))) == 10  # the tasks differ, so the next states do


@pytest.mark.parametrize("initial_state", [0, 3])
def test_every_episode_starts_in_the_initial_state_and_the_task_is_constant(initial_state):
    env = MetaTabularMDPEnv(num_states=5, num_actions=3, horizon=4, num_episodes=6, initial_state=initial_state)
    obs, info = env.reset(seed=2)
    task = env.task
    assert state_of(obs) == initial_state
    np.testing.assert_array_equal(task.initial_state_probs, np.eye(5)[initial_state])
    actions = np.random.default_rng(0).integers(0, 3, 24)
    for t, action in enumerate(actions):
        obs, reward, terminated, _, info = env.step(int(action))
        assert env.task == task
        assert info["step_in_episode"] == (t + 1) % 4
        assert info["episode_done"] == ((t + 1) % 4 == 0) == bool(obs["prev_done"][0])
        if info["episode_done"] and not terminated:
            assert state_of(obs) == initial_state
    assert terminated and info["episode_index"] == 6
    env.reset()
    assert env.task != task


def test_uniform_initial_state_rule_draws_start_states_uniformly():
    envs = MetaTabularMDPVectorEnv(num_envs=5000, num_states=4, horizon=1, num_episodes=2, initial_state="uniform")
    obs, _ = envs.reset(seed=0)
    np.testing.assert_array_equal(envs.task(0).initial_state_probs, np.full(4, 0.25))
    starts = [state_of(obs)]
    obs, *_ = envs.step(np.zeros(5000, np.int64))  # horizon 1: the next episode's start
    starts.append(state_of(obs))
    for start in starts:
        counts = np.bincount(start, minlength=4)
        chi2 = ((counts - 1250) ** 2 / 1250).sum()
        assert chi2 < 16.3  # 0.1% critical value, 3 degrees of freedom
    assert (starts[0] != starts[1]).mean() > 0.7  # a fresh draw per episode, not a fixed state


def test_transition_rows_are_flat_dirichlet():
    tasks = meta_envs.held_out_tasks("MetaTabularMDP-v0", 400, seed=3)
    rows = np.stack([t.transitions for t in tasks]).reshape(-1, 10)  # 20000 rows
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-12)
    # Each component of a flat Dirichlet of dimension 10 is Beta(1, 9): CDF 1 - (1 - x)^9.
    for k in range(10):
        assert ks_statistic(rows[:, k], lambda x: 1.0 - (1.0 - x) ** 9) < ks_critical(len(rows))
    assert abs(rows.var() - 9 / 1100) < 4e-4  # Var = (K - 1) / (K^2 (K + 1))
    # Components of a row are correlated -1 / (K - 1); distinct rows are independent.
    assert abs(np.corrcoef(rows[:, 0], rows[:, 1])[0, 1] + 1 / 9) < 0.03
    assert abs(np.corrcoef(rows[:-1, 0], rows[1:, 0])[0, 1]) < 0.03


def test_reward_means_are_normal_1_1():
    tasks = meta_envs.held_out_tasks("MetaTabularMDP-v0", 400, seed=4)
    means = np.stack([t.reward_means for t in tasks]).ravel()  # 20000 draws
    assert abs(means.mean() - 1.0) < 0.03 and abs(means.std() - 1.0) < 0.03
    assert ks_statistic(means - 1.0, normal_cdf) < ks_critical(means.size)


def test_steps_draw_normal_rewards_and_next_states_from_the_task():
    p = np.array(
        [
            [[0.2, 0.3, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]],
            [[0.25, 0.25, 0.25, 0.25], [0.9, 0.0, 0.1, 0.0]],
            [[0.0, 0.6, 0.0, 0.4], [0.5, 0.5, 0.0, 0.0]],
            [[0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 0.7, 0.3]],
        ]
    )
    means = np.array([[0.0, 1.0], [-2.0, 3.0], [0.5, -0.5], [10.0, 2.0]])
    task = TabularMDPTask(p, means, np.full(4, 0.25))
    num_envs, horizon = 500, 40
    envs = MetaTabularMDPVectorEnv(num_envs, num_states=4, num_actions=2, horizon=horizon, num_episodes=1)
    obs, _ = envs.reset(seed=5, options={"tasks": [task] * num_envs})
    actions = np.random.default_rng(6).integers(0, 2, (horizon - 1, num_envs))
    counts = np.zeros((4, 2, 4))
    residuals = []
    for a in actions:  # the last step is left out: it ends the episode, its next state is not shown
        s = state_of(obs)
        obs, rewards, *_ = envs.step(a)
        np.add.at(counts, (s, a, state_of(obs)), 1)
        residuals.append(rewards - means[s, a])
    residuals = np.concatenate(residuals)
    assert abs(residuals.mean()) < 0.02 and abs(residuals.std() - 1.0) < 0.02
    assert ks_statistic(residuals, normal_cdf) < ks_critical(residuals.size)
    for s in range(4):
        for a in range(2):
            n = counts[s, a].sum()
            assert n > 500
            assert np.all(counts[s, a][p[s, a] == 0.0] == 0)  # probability 0: never drawn
            expected = n * p[s, a][p[s, a] > 0]
            chi2 = ((counts[s, a][p[s, a] > 0] - expected) ** 2 / expected).sum()
            assert chi2 < 16.3  # 0.1% critical value for <= 3 degrees of freedom


@pytest.mark.parametrize("initial_state", [0, "uniform"])
def test_single_env_equals_vector_env_with_one_sub_env(initial_state):
    kwargs = {"num_states": 6, "num_actions": 3, "horizon": 5, "num_episodes": 4, "initial_state": initial_state}
    actions = np.random.default_rng(0).integers(0, 3, 70)  # three and a half trials
    single = MetaTabularMDPEnv(**kwargs)
    vector = MetaTabularMDPVectorEnv(num_envs=1, autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    obs_s, _ = single.reset(seed=11)
    obs_v, _ = vector.reset(seed=11)
    for a in actions:
        for key in obs_s:
            np.testing.assert_array_equal(obs_s[key], obs_v[key][0])
        assert single.task == vector.task(0)
        obs_s, r_s, term_s, _, info_s = single.step(int(a))
        obs_v, r_v, term_v, _, info_v = vector.step(np.array([a]))
        assert r_s == r_v[0] and term_s == term_v[0]
        if term_s:
            np.testing.assert_array_equal(info_s["episode_returns"], info_v["episode_returns"][0])
            for key in obs_s:
                np.testing.assert_array_equal(obs_s[key], info_v["final_obs"][key][0])
            obs_s, _ = single.reset()
        else:
            assert info_s["step_in_episode"] == info_v["step_in_episode"][0]


def test_single_env_equals_next_step_vector_env_within_a_trial():
    actions = np.random.default_rng(1).integers(0, 5, 100)
    single, vector = MetaTabularMDPEnv(), gym.make_vec("MetaTabularMDP-v0", num_envs=1)
    single.reset(seed=3)
    vector.reset(seed=3)
    for a in actions:
        obs_s, r_s, term_s, _, _ = single.step(int(a))
        obs_v, r_v, term_v, _, _ = vector.step(np.array([a]))
        assert r_s == r_v[0] and term_s == term_v[0]
        np.testing.assert_array_equal(obs_s["obs"], obs_v["obs"][0])
    assert term_s


def test_vector_sub_envs_agree_with_single_envs_on_everything_not_random():
    """With deterministic transitions only the rewards are random: everything else must agree."""
    tasks = [chain_task(initial_state=i) for i in range(3)]
    actions = np.random.default_rng(1).integers(0, 2, (12, 3))
    vector = MetaTabularMDPVectorEnv(num_envs=3, num_states=3, num_actions=2, horizon=4, num_episodes=3)
    vector.reset(seed=5, options={"tasks": tasks})
    recorded = [vector.step(actions[t]) for t in range(12)]
    for i, task in enumerate(tasks):
        single = MetaTabularMDPEnv(num_states=3, num_actions=2, horizon=4, num_episodes=3)
        single.reset(seed=123, options={"task": task})
        assert single.task == vector.task(i) == task
        for t in range(12):
            obs_s, r_s, term_s, _, info_s = single.step(int(actions[t, i]))
            obs_v, r_v, term_v, _, info_v = recorded[t]
            assert term_s == term_v[i] and r_s != r_v[i]  # different generators
            for key in ("obs", "prev_action", "prev_done"):
                np.testing.assert_array_equal(obs_s[key], obs_v[key][i])
            for key in ("episode_index", "step_in_episode", "episode_done"):
                assert info_s[key] == info_v[key][i]


def test_task_objects_are_immutable_comparable_serialisable_and_round_trip_through_envs():
    task = TabularMDPTaskDistribution(num_states=3, num_actions=2).sample(np.random.default_rng(0))
    assert task.num_states == 3 and task.num_actions == 2
    same = TabularMDPTask(task.transitions.copy(), task.reward_means.copy(), task.initial_state_probs.copy())
    assert task == same and hash(task) == hash(same)
    assert TabularMDPTask.from_dict(task.to_dict()) == task
    with pytest.raises(ValueError):
        task.transitions[0, 0, 0] = 0.5
    with pytest.raises(AttributeError):
        task.reward_means = np.zeros((3, 2))
    envs = MetaTabularMDPVectorEnv(num_envs=3, num_states=3, num_actions=2)
    envs.reset(seed=0)
    drawn = envs.tasks
    assert len(set(drawn)) == 3
    envs.reset(options={"reset_mask": np.array([False, True, False]), "tasks": [task]})
    assert envs.tasks == [drawn[0], task, drawn[2]]


def test_held_out_tasks_follow_the_env_kwargs():
    tasks = meta_envs.held_out_tasks("MetaTabularMDP-v0", 3, seed=0, num_states=4, num_actions=2, initial_state=1)
    assert tasks == meta_envs.held_out_tasks("MetaTabularMDP-v0", 3, seed=0, num_states=4, num_actions=2,
                                             initial_state=1)
    assert tasks[0].transitions.shape == (4, 2, 4)
    np.testing.assert_array_equal(tasks[0].initial_state_probs, [0, 1, 0, 0])


def test_smallest_mdp_one_state_one_action():
    env = MetaTabularMDPEnv(num_states=1, num_actions=1, horizon=2, num_episodes=2)
    obs, _ = env.reset(seed=0)
    assert obs["obs"].tolist() == [1.0]
    rewards = [env.step(0)[1] for _ in range(4)]
    assert len(set(rewards)) == 4


def test_ansi_render_shows_state_step_episode_and_last_reward():
    env = gym.make("MetaTabularMDP-v0", num_states=3, num_actions=2, horizon=4, render_mode="ansi")
    env.reset(seed=0, options={"task": chain_task(means=np.full((3, 2), 2.0))})
    assert "state 0" in env.render()
    _, reward, *_ = env.step(1)
    text = env.render()
    assert "episode 0/10, step 1" in text and "state 1" in text
    assert f"action 1 -> reward {reward:.3f}" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_states": 0}, ValueError, "num_states must be an integer >= 1"),
        ({"num_states": 2.5}, TypeError, "num_states must be an integer"),
        ({"num_actions": True}, TypeError, "num_actions must be an integer"),
        ({"num_actions": 0}, ValueError, "num_actions must be an integer >= 1"),
        ({"horizon": 0}, ValueError, "horizon must be an integer >= 1"),
        ({"horizon": "10"}, TypeError, "horizon must be an integer"),
        ({"num_episodes": 0}, ValueError, "num_episodes must be an integer >= 1"),
        ({"initial_state": 10}, ValueError, "initial_state must be an integer >= 0 and <= 9"),
        ({"initial_state": -1}, ValueError, "initial_state must be an integer >= 0 and <= 9"),
        ({"initial_state": "first"}, ValueError, r"initial_state must be a state index in \[0, 10\) or 'uniform'"),
        ({"initial_state": 1.0}, TypeError, r"initial_state must be a state index in \[0, 10\) or 'uniform'"),
        ({"initial_state": None}, TypeError, "initial_state must be a state index"),
    ],
)
def test_invalid_kwargs_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        MetaTabularMDPEnv(**kwargs)
    with pytest.raises(error, match=match):
        gym.make_vec("MetaTabularMDP-v0", num_envs=2, **kwargs)


def test_invalid_actions_are_rejected():
    env = MetaTabularMDPEnv()
    env.reset(seed=0)
    for action, error in [(5, ValueError), (-1, ValueError), (1.0, TypeError)]:
        with pytest.raises(error, match=r"action must be an integer in \[0, 5\)"):
            env.step(action)
    envs = MetaTabularMDPVectorEnv(num_envs=2)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"sub-env 1 got 5"):
        envs.step(np.array([0, 5]))
    with pytest.raises(TypeError, match="integer array"):
        envs.step(np.array([0.0, 1.0]))


def _arrays(**changes):
    arrays = {
        "transitions": np.full((2, 3, 2), 0.5),
        "reward_means": np.zeros((2, 3)),
        "initial_state_probs": np.array([1.0, 0.0]),
    }
    arrays.update(changes)
    return arrays


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"transitions": np.full((2, 3), 0.5)}, r"transitions must have shape \(num_states, num_actions, num_states\)"),
        ({"transitions": np.full((2, 3, 3), 1 / 3)}, r"got \(2, 3, 3\)"),
        ({"transitions": np.zeros((0, 3, 0))}, "num_states, num_actions >= 1"),
        ({"reward_means": np.zeros((3, 2))}, r"reward_means must have shape \(num_states, num_actions\)"),
        ({"initial_state_probs": np.ones(3) / 3}, r"initial_state_probs must have shape \(num_states,\)"),
        ({"transitions": np.full((2, 3, 2), 0.4)}, r"transitions rows must sum to 1 .*index \(0, 0\) sums to 0.8"),
        ({"transitions": np.tile([1.5, -0.5], (2, 3, 1))}, r"transitions must be non-negative, got -0.5 at index \(0, 0, 1\)"),
        ({"transitions": np.full((2, 3, 2), np.nan)}, "transitions must be finite"),
        ({"reward_means": np.array([[0.0, np.inf, 0.0], [0.0, 0.0, 0.0]])}, "reward_means must be finite"),
        ({"initial_state_probs": np.array([0.5, 0.4])}, "initial_state_probs rows must sum to 1"),
        ({"reward_means": [["a"] * 3] * 2}, "array-like"),
    ],
)
def test_malformed_task_cannot_be_built(changes, match):
    with pytest.raises(ValueError, match=match):
        TabularMDPTask(**_arrays(**changes))


def test_rounding_in_probabilities_is_tolerated():
    TabularMDPTask(**_arrays(transitions=np.full((2, 3, 2), 0.5 + 1e-9)))


@pytest.mark.parametrize(
    ("task", "error", "match"),
    [
        (chain_task(num_states=3, num_actions=2), ValueError,
         "task has num_states=3, num_actions=2 but the env has num_states=10, num_actions=5"),
        (meta_envs.BanditTask([0.5, 0.5]), TypeError, "task must be a TabularMDPTask"),
    ],
)
def test_tasks_that_do_not_fit_the_env_are_rejected(task, error, match):
    with pytest.raises(error, match=match):
        MetaTabularMDPEnv().reset(options={"task": task})
    with pytest.raises(error, match=match):
        MetaTabularMDPVectorEnv(num_envs=2).reset(options={"tasks": [task, task]})


def test_task_features_are_reward_means_then_transitions():
    envs = gym.make_vec("MetaTabularMDP-v0", num_envs=3, vectorization_mode="vector_entry_point",
                        num_states=4, num_actions=2)
    envs.reset(seed=0)
    features = envs.unwrapped.task_features()
    assert features.dtype == np.float32 and features.shape == (3, 4 * 2 + 4 * 2 * 4)
    for i, task in enumerate(envs.unwrapped.tasks):
        np.testing.assert_allclose(features[i, :8], task.reward_means.reshape(-1), rtol=1e-6)
        np.testing.assert_allclose(features[i, 8:], task.transitions.reshape(-1), rtol=1e-6)
