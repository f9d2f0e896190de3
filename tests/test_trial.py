"""The trial layer (shared by every family), exercised through MetaBandit-v0."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import meta_envs
from meta_envs import BanditTask, MetaBanditEnv, MetaBanditVectorEnv, flatten_observation


def run_trial(env, actions):
    """Step through a whole trial; returns the (obs, reward, terminated, info) of every step."""
    return [env.step(a) for a in actions]


def test_observation_at_reset_is_zero_and_then_reports_the_last_transition():
    env = MetaBanditEnv(num_arms=3, num_episodes=4)
    obs, info = env.reset(seed=0, options={"task": BanditTask([1.0, 0.0, 1.0])})
    assert obs["prev_action"].tolist() == [0, 0, 0] and obs["prev_reward"][0] == 0 and obs["prev_done"][0] == 0
    assert info == {"episode_index": 0, "step_in_episode": 0, "episode_done": False}
    for step, action in enumerate([2, 1, 0]):
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs["prev_action"].tolist() == np.eye(3)[action].tolist()
        assert obs["prev_reward"][0] == reward == [1.0, 0.0, 1.0][action]
        assert obs["prev_done"][0] == 1.0  # every pull ends an inner episode
        assert not terminated and not truncated
        assert info["episode_index"] == step + 1 and info["step_in_episode"] == 0 and info["episode_done"]
        assert "episode_returns" not in info


def test_terminated_exactly_after_num_episodes_with_per_episode_returns():
    env = MetaBanditEnv(num_arms=2, num_episodes=7)
    env.reset(seed=0, options={"task": BanditTask([0.0, 1.0])})
    actions = [1, 0, 1, 1, 0, 0, 1]
    results = run_trial(env, actions)
    assert [r[2] for r in results] == [False] * 6 + [True]
    info = results[-1][4]
    assert info["episode_index"] == 7
    assert info["episode_returns"].tolist() == [float(a) for a in actions]


def test_task_is_constant_within_a_trial_and_redrawn_at_reset():
    env = MetaBanditEnv(num_arms=5, num_episodes=20)
    env.reset(seed=0)
    first = env.task
    for _ in range(20):
        env.step(0)
        assert env.task == first
    env.reset()
    assert env.task != first


def test_stepping_a_finished_trial_raises():
    env = MetaBanditEnv(num_episodes=1)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)
    env.reset(seed=0)
    env.step(0)
    with pytest.raises(RuntimeError, match="trial is over"):
        env.step(0)


@pytest.mark.parametrize(
    ("action", "error"), [(5, ValueError), (-1, ValueError), (1.0, TypeError), (True, TypeError),
                          (np.array([1]), TypeError), ("1", TypeError)]
)
def test_invalid_actions_are_rejected(action, error):
    env = MetaBanditEnv(num_arms=5)
    env.reset(seed=0)
    with pytest.raises(error, match=r"action must be an integer in \[0, 5\)"):
        env.step(action)


def test_numpy_integer_actions_are_accepted():
    env = MetaBanditEnv(num_arms=5)
    env.reset(seed=0)
    env.step(np.int64(4))
    env.step(np.array(3))


def test_same_seed_same_trajectory_and_different_seed_differs():
    def trajectory(seed):
        env = gym.make("MetaBandit-v0", num_episodes=50)
        env.reset(seed=seed)
        return [env.step(t % 5)[1] for t in range(50)] + env.unwrapped.task.arm_probs.tolist()

    assert trajectory(3) == trajectory(3)
    assert trajectory(3) != trajectory(4)


def test_single_env_equals_vector_env_with_one_sub_env():
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 5, 95)
    single = MetaBanditEnv(num_episodes=30)
    vector = MetaBanditVectorEnv(num_envs=1, num_episodes=30, autoreset_mode=AutoresetMode.SAME_STEP)
    obs_s, _ = single.reset(seed=11)
    obs_v, _ = vector.reset(seed=11)
    for a in actions:
        for key in obs_s:
            np.testing.assert_array_equal(obs_s[key], obs_v[key][0])
        assert single.task == vector.task(0)
        obs_s, r_s, term_s, _, info_s = single.step(int(a))
        obs_v, r_v, term_v, _, info_v = vector.step(np.array([a]))
        assert r_s == r_v[0] and term_s == term_v[0]
        assert info_s["episode_index"] == info_v["episode_index"][0] or term_s
        if term_s:
            np.testing.assert_array_equal(info_s["episode_returns"], info_v["episode_returns"][0])
            for key in obs_s:
                np.testing.assert_array_equal(obs_s[key], info_v["final_obs"][key][0])
            obs_s, _ = single.reset()


def test_vector_sub_envs_agree_with_single_envs_on_everything_not_random():
    """Deterministic tasks (p in {0, 1}) make the whole trajectory non-random."""
    tasks = [BanditTask([0.0, 1.0, 1.0]), BanditTask([1.0, 0.0, 0.0]), BanditTask([1.0, 1.0, 0.0])]
    actions = np.random.default_rng(1).integers(0, 3, (12, 3))
    # Record the vector trajectory once, then compare each sub-env to its single env.
    vector = MetaBanditVectorEnv(num_envs=3, num_arms=3, num_episodes=12)
    vector.reset(seed=5, options={"tasks": tasks})
    recorded = [vector.step(actions[t]) for t in range(12)]
    for i, task in enumerate(tasks):
        single = MetaBanditEnv(num_arms=3, num_episodes=12)
        single.reset(seed=123, options={"task": task})
        for t in range(12):
            obs_s, r_s, term_s, _, info_s = single.step(int(actions[t, i]))
            obs_v, r_v, term_v, _, info_v = recorded[t]
            assert r_s == r_v[i] and term_s == term_v[i]
            for key in obs_s:
                np.testing.assert_array_equal(obs_s[key], obs_v[key][i])
            for key in ("episode_index", "step_in_episode", "episode_done"):
                assert info_s[key] == info_v[key][i]
        np.testing.assert_array_equal(info_s["episode_returns"], info_v["episode_returns"][i])


def test_next_step_autoreset_draws_a_new_task_and_ignores_the_action():
    envs = MetaBanditVectorEnv(num_envs=4, num_arms=2, num_episodes=3)
    envs.reset(seed=0)
    before = envs.tasks
    for _ in range(2):
        _, _, terminated, _, info = envs.step(np.zeros(4, np.int64))
        assert not terminated.any() and "episode_returns" not in info
    obs, _, terminated, _, info = envs.step(np.ones(4, np.int64))
    assert terminated.all() and info["_episode_returns"].all()
    assert obs["prev_action"][:, 1].all()  # the last observation of the finished trial
    obs, rewards, terminated, _, info = envs.step(np.ones(4, np.int64))
    assert not terminated.any() and (rewards == 0).all()
    assert (obs["prev_action"] == 0).all() and (obs["prev_done"] == 0).all()  # a fresh trial
    assert (info["episode_index"] == 0).all()
    assert all(a != b for a, b in zip(before, envs.tasks))


def test_same_step_autoreset_returns_the_new_trial_and_the_final_observation():
    envs = MetaBanditVectorEnv(num_envs=4, num_arms=2, num_episodes=2, autoreset_mode="SameStep")
    envs.reset(seed=0)
    before = envs.tasks
    envs.step(np.zeros(4, np.int64))
    obs, _, terminated, _, info = envs.step(np.ones(4, np.int64))
    assert terminated.all() and info["_final_obs"].all()
    assert (info["final_obs"]["prev_action"][:, 1] == 1).all()
    assert (obs["prev_action"] == 0).all() and (info["episode_index"] == 0).all()
    assert all(a != b for a, b in zip(before, envs.tasks))


def test_partial_reset_with_mask_and_tasks():
    envs = MetaBanditVectorEnv(num_envs=3, num_arms=2, num_episodes=5)
    envs.reset(seed=0)
    envs.step(np.zeros(3, np.int64))
    kept = envs.task(0)
    new = BanditTask([0.25, 0.75])
    obs, info = envs.reset(options={"reset_mask": np.array([False, True, True]), "tasks": [new, new]})
    assert envs.task(0) == kept and envs.task(1) == new == envs.task(2)
    assert info["episode_index"].tolist() == [1, 0, 0]
    assert obs["prev_done"][:, 0].tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("actions", "error", "match"),
    [
        (np.array([0, 1, 5]), ValueError, r"actions must be in \[0, 5\); sub-env 2 got 5"),
        (np.array([0, -1, 1]), ValueError, r"sub-env 1 got -1"),
        (np.array([0, 1]), ValueError, r"shape \(3,\)"),
        (np.array([0.0, 1.0, 2.0]), TypeError, "integer array"),
    ],
)
def test_vector_env_rejects_bad_actions(actions, error, match):
    envs = MetaBanditVectorEnv(num_envs=3)
    envs.reset(seed=0)
    with pytest.raises(error, match=match):
        envs.step(actions)


def test_vector_env_rejects_bad_reset_arguments():
    envs = MetaBanditVectorEnv(num_envs=3, num_arms=2)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="first reset must reset every sub-env"):
        envs.reset(options={"reset_mask": np.array([True, False, False])})
    with pytest.raises(ValueError, match="got 1 tasks for 3"):
        envs.reset(options={"tasks": [BanditTask([0.5, 0.5])]})
    with pytest.raises(ValueError, match="unknown reset options"):
        envs.reset(options={"task": BanditTask([0.5, 0.5])})
    with pytest.raises(TypeError, match="seeded with one int"):
        envs.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="autoreset_mode"):
        MetaBanditVectorEnv(num_envs=2, autoreset_mode="sometimes")


def test_flatten_observation_layout_matches_gymnasium_flatten():
    env = MetaBanditEnv(num_arms=3)
    env.reset(seed=0)
    obs, *_ = env.step(2)
    flat = flatten_observation(obs)
    assert flat.tolist() == [1.0, 0.0, 0.0, 1.0, obs["prev_reward"][0], 1.0]
    np.testing.assert_array_equal(flat, gym.spaces.flatten(env.observation_space, obs))
    envs = MetaBanditVectorEnv(num_envs=4, num_arms=3)
    batch, _ = envs.reset(seed=0)
    assert flatten_observation(batch).shape == (4, 6)


def test_held_out_tasks_are_reproducible_and_separate_from_training_seeds():
    a = meta_envs.held_out_tasks("MetaBandit-v0", 5, seed=7)
    assert a == meta_envs.held_out_tasks("MetaBandit-v0", 5, seed=7)
    assert a != meta_envs.held_out_tasks("MetaBandit-v0", 5, seed=8)
    training = MetaBanditVectorEnv(num_envs=5)
    training.reset(seed=7)
    assert not set(a) & set(training.tasks)
    assert meta_envs.held_out_tasks("MetaBandit-v0", 2, seed=0, num_arms=9)[0].num_arms == 9


META_IDS = ["MetaBandit-v0", "MetaTabularMDP-v0", "MetaMaze-v0", "MetaMazeLarge-v0"]


@pytest.mark.parametrize("env_id", META_IDS)
def test_vector_observation_space_keys_come_in_the_single_env_order(env_id):
    single = gym.make(env_id).observation_space
    vector = gym.make_vec(env_id, num_envs=3)
    assert list(single.keys()) == list(vector.observation_space.keys()) == list(meta_envs.OBSERVATION_KEYS)
    observation, _ = vector.reset(seed=0)
    assert list(observation) == list(meta_envs.OBSERVATION_KEYS)
    assert vector.observation_space.contains(observation)


@pytest.mark.parametrize("env_id", META_IDS)
def test_every_vector_env_takes_the_render_modes_of_its_single_env(env_id):
    modes = gym.make(env_id).metadata["render_modes"]
    for mode in modes:
        vector = gym.make_vec(env_id, num_envs=3, render_mode=mode)
        vector.reset(seed=0)
        vector.step(np.zeros(3, np.int64))
        frames = vector.render()
        assert vector.render_mode == mode and len(frames) == 3
        assert all(isinstance(frame, np.ndarray if mode == "rgb_array" else str) for frame in frames)
    with pytest.raises(ValueError, match="render_mode must be None or one of"):
        gym.make_vec(env_id, num_envs=3, render_mode="human")


@pytest.mark.parametrize("mode", ["ansi", "rgb_array"])
def test_vector_maze_renders_each_sub_env_as_its_single_env_does(mode):
    """Maze dynamics are deterministic given the task: same task and actions, same picture."""
    vector = gym.make_vec("MetaMaze-v0", num_envs=2, render_mode=mode, num_episodes=2, horizon=3)
    vector.reset(seed=1)
    singles = [gym.make("MetaMaze-v0", render_mode=mode, num_episodes=2, horizon=3) for _ in range(2)]
    for env_id, single in enumerate(singles):
        single.reset(seed=5, options={"task": vector.unwrapped.task(env_id)})
    for actions in ([0, 1], [2, 2], [0, 0], [1, 2]):  # across the first episode's end (horizon 3)
        vector.step(np.array(actions))
        for env_id, single in enumerate(singles):
            single.step(actions[env_id])
            np.testing.assert_array_equal(vector.render()[env_id], single.render())


def test_vector_bandit_render_counts_each_sub_env_trial_and_restarts_with_the_next_trial():
    vector = gym.make_vec("MetaBandit-v0", num_envs=2, num_arms=2, num_episodes=2, render_mode="ansi")
    vector.reset(seed=0, options={"tasks": [BanditTask([1.0, 0.0]), BanditTask([0.0, 1.0])]})
    vector.step(np.array([0, 0]))
    vector.step(np.array([0, 1]))  # both trials end here
    first, second = vector.render()
    assert first.splitlines()[2:4] == ["  0      2   1.00  1.00", "  1      0    -    0.00"]
    assert second.splitlines()[2:4] == ["  0      1   0.00  0.00", "  1      1   1.00  1.00"]
    vector.step(np.array([1, 1]))  # next-step autoreset: new trials, nothing pulled yet
    assert all("pulls" in text and "last:" not in text for text in vector.render())
