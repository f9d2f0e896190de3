"""agents.recurrent_ppo.sb3_vec_env: the native vector env against SB3's own VecEnv contract."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecCheckNan, VecMonitor, VecTransposeImage
from stable_baselines3.common.vec_env.util import obs_space_info

import meta_envs
from agents.recurrent_ppo.sb3_vec_env import NativeVecEnv, make_native_vec_env

SETTINGS = [
    ("MetaBandit-v0", {"num_arms": 3, "num_episodes": 4}),
    ("MetaTabularMDP-v0", {"horizon": 3, "num_episodes": 2}),
    ("MetaMaze-v0", {"horizon": 12}),
    ("MetaMaze-v0", {"horizon": 6, "obs_mode": "rgb"}),
]


def dummy_vec_env(env_id, env_kwargs, num_envs):
    return DummyVecEnv([lambda: Monitor(gym.make(env_id, **env_kwargs)) for _ in range(num_envs)])


def assert_same_observation(a, b):
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("env_id, env_kwargs", SETTINGS)
def test_one_sub_env_matches_dummy_vec_env_step_for_step(env_id, env_kwargs):
    """A native env with one sub-env is the single env: SB3's DummyVecEnv + Monitor must agree
    on everything it returns, over several trials (autoresets included)."""
    native, dummy = make_native_vec_env(env_id, 1, seed=3, **env_kwargs), dummy_vec_env(env_id, env_kwargs, 1)
    dummy.seed(3)
    assert_same_observation(native.reset(), dummy.reset())
    assert native.observation_space == dummy.observation_space and native.action_space == dummy.action_space
    rng = np.random.default_rng(0)
    trials = 0
    for _ in range(60):
        actions = rng.integers(native.action_space.n, size=1)
        obs_n, rew_n, done_n, info_n = native.step(actions)
        obs_d, rew_d, done_d, info_d = dummy.step(actions)
        assert_same_observation(obs_n, obs_d)
        assert rew_n.dtype == rew_d.dtype == np.float32 and np.array_equal(rew_n, rew_d)
        assert done_n.dtype == bool and np.array_equal(done_n, done_d)
        if done_n[0]:
            trials += 1
            assert_same_observation(info_n[0]["terminal_observation"], info_d[0]["terminal_observation"])
            assert info_n[0]["TimeLimit.truncated"] is info_d[0]["TimeLimit.truncated"] is False
            assert info_n[0]["episode"]["r"] == info_d[0]["episode"]["r"]
            assert info_n[0]["episode"]["l"] == info_d[0]["episode"]["l"]
            assert info_n[0]["episode_returns"].sum() == pytest.approx(info_d[0]["episode"]["r"])
        else:
            assert info_n == [{}]
    assert trials >= 2


def test_many_sub_envs_match_dummy_vec_env_on_the_same_tasks():
    """Sub-envs of a larger native env, given the same (deterministic) maze tasks as separate
    single envs, agree step for step until each one's trial ends."""
    env_id, env_kwargs, n = "MetaMaze-v0", {"horizon": 8}, 5
    tasks = meta_envs.held_out_tasks(env_id, n, 0, **env_kwargs)
    native, dummy = make_native_vec_env(env_id, n, **env_kwargs), dummy_vec_env(env_id, env_kwargs, n)
    native.set_options({"tasks": tasks})
    dummy.set_options([{"task": task} for task in tasks])
    assert_same_observation(native.reset(), dummy.reset())
    assert [info["episode_index"] for info in native.reset_infos] == [0] * n
    rng = np.random.default_rng(1)
    running = np.ones(n, bool)
    while running.any():
        actions = rng.integers(3, size=n)
        obs_n, rew_n, done_n, info_n = native.step(actions)
        obs_d, rew_d, done_d, info_d = dummy.step(actions)
        assert np.array_equal(rew_n[running], rew_d[running]) and np.array_equal(done_n[running], done_d[running])
        for key in obs_n:
            assert np.array_equal(obs_n[key][running & ~done_n], obs_d[key][running & ~done_n])
        assert len(info_n) == n
        for i in np.flatnonzero(running & done_n):
            assert_same_observation(info_n[i]["terminal_observation"], info_d[i]["terminal_observation"])
            assert info_n[i]["episode"]["l"] == info_d[i]["episode"]["l"] <= 16
        running &= ~done_n


def test_observation_layout_is_what_sb3_expects():
    env = make_native_vec_env("MetaTabularMDP-v0", 4, seed=0)
    keys, shapes, dtypes = obs_space_info(env.observation_space)
    observation = env.reset()
    assert keys == list(observation) == list(meta_envs.trial.OBSERVATION_KEYS)
    for key in keys:
        assert observation[key].shape == (4, *shapes[key]) and observation[key].dtype == dtypes[key]
    env.step(np.zeros(4, np.int64))
    assert set(env.last_info) >= {"episode_index", "step_in_episode", "episode_done"}


def test_dones_are_trial_ends_not_inner_episode_ends():
    """SB3 resets a recurrent state where ``dones`` is True: only at trial ends."""
    env = make_native_vec_env("MetaTabularMDP-v0", 2, seed=0, horizon=3, num_episodes=3)
    env.reset()
    dones, inner_ends = [], []
    for _ in range(18):
        _, _, done, _ = env.step(np.zeros(2, np.int64))
        dones.append(done[0])
        inner_ends.append(env.last_info["episode_done"][0])
    # (same-step autoreset: at a trial end, last_info already describes the new trial)
    assert np.flatnonzero(inner_ends).tolist() == [2, 5, 11, 14]
    assert np.flatnonzero(dones).tolist() == [8, 17]


def test_seeding_and_options():
    a, b = make_native_vec_env("MetaBandit-v0", 3), make_native_vec_env("MetaBandit-v0", 3)
    assert a.seed(5) == [5, 5, 5]
    b.seed(5)
    a.reset(), b.reset()
    actions = np.array([0, 1, 2])
    for _ in range(12):
        assert np.array_equal(a.step(actions)[1], b.step(actions)[1])
    with pytest.raises(TypeError, match="one options dict"):
        a.set_options([{}, {}, {}])
    with pytest.raises(TypeError, match="seed must be an int"):
        a.seed(1.5)
    tasks = meta_envs.held_out_tasks("MetaBandit-v0", 3, 0)
    a.set_options({"tasks": tasks})
    a.reset()
    assert a.get_attr("task") == tasks and a.get_attr("task", indices=[2]) == tasks[2:]
    # a partial reset restarts only the masked trials (and their lengths)
    a.step(actions)
    a.set_options({"reset_mask": np.array([False, True, False])})
    a.reset()
    assert a.get_attr("task")[0] == tasks[0] and a.get_attr("task")[1] != tasks[1]
    for _ in range(9):
        _, _, dones, infos = a.step(actions)
    assert dones.tolist() == [True, False, True] and infos[0]["episode"]["l"] == 10


def test_attribute_and_method_access():
    env = make_native_vec_env("MetaBandit-v0", 3, seed=0, num_episodes=7)
    env.reset()
    assert env.get_attr("num_episodes") == [7, 7, 7] and env.get_attr("num_episodes", 1) == [7]
    assert env.get_attr("render_mode") == [None] * 3 and env.render_mode is None
    assert env.has_attr("num_episodes") and not env.has_attr("action_masks")
    assert env.env_is_wrapped(Monitor) == [False] * 3
    with pytest.raises(NotImplementedError, match="one batched object"):
        env.set_attr("num_episodes", 3)
    with pytest.raises(NotImplementedError, match="one batched object"):
        env.env_method("reset")
    with pytest.raises(NotImplementedError, match="render a single env"):
        env.render()


def test_refuses_what_it_cannot_wrap():
    with pytest.raises(ValueError, match="autoreset_mode='SameStep'"):
        NativeVecEnv(gym.make_vec("MetaBandit-v0", num_envs=2, vectorization_mode="vector_entry_point"))
    with pytest.raises(TypeError, match="native meta_envs vector env"):
        NativeVecEnv(gym.make_vec("MetaBandit-v0", num_envs=2, vectorization_mode="sync"))


def test_sb3_wrappers_run_over_it():
    """VecMonitor agrees with the adapter's own episode info; VecCheckNan passes; pixel
    observations get SB3's channel-first transpose, terminal observations included."""
    env = VecCheckNan(VecMonitor(make_native_vec_env("MetaBandit-v0", 4, seed=0, num_episodes=5)), raise_exception=True)
    env.reset()
    for step in range(10):
        _, _, dones, infos = env.step(np.arange(4) % 5)
        assert dones.all() == (step % 5 == 4)
        for info in infos:
            if "episode" in info:
                assert info["episode"]["l"] == 5
                assert info["episode"]["r"] == pytest.approx(info["episode_returns"].sum())
    pixels = VecTransposeImage(make_native_vec_env("MetaMaze-v0", 2, seed=0, horizon=2, num_episodes=1, obs_mode="rgb"))
    assert pixels.reset()["obs"].shape == (2, 3, 40, 40)
    _, _, _, infos = pixels.step(np.zeros(2, np.int64))
    _, _, dones, infos = pixels.step(np.zeros(2, np.int64))
    assert dones.all() and infos[0]["terminal_observation"]["obs"].shape == (3, 40, 40)
