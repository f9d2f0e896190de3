"""agents.recurrent_ppo: trial-long memory, the GRU policy, the agent adapter, save/load, learning."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.torch_layers import NatureCNN

import meta_envs  # noqa: F401  (registers the IDs)
from agents.baselines.random_policy import RandomAgent
from agents.evaluation import evaluate
from agents.recurrent_ppo import RecurrentPPOAgent, RecurrentPPOConfig, build_model, learn, load_agent
from agents.recurrent_ppo.config import family_defaults, max_trial_length
from agents.recurrent_ppo.policy import GRUWithCellState, RL2RecurrentPolicy
from agents.recurrent_ppo.trainer import METRICS, restore_random_state, save_checkpoint
from agents.training.run_folder import RunFolder, RunSpec
from agents.recurrent_ppo.sb3_vec_env import make_native_vec_env

TINY = {"hidden_size": 16, "mlp_depth": 0, "n_epochs": 2}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tabular_model(policy="lstm", seed=0, num_envs=3):
    """A tiny model on tabular MDPs with 3 episodes of 2 steps: inner boundaries inside each trial."""
    kwargs = {"horizon": 2, "num_episodes": 3, "num_states": 3, "num_actions": 2}
    config = RecurrentPPOConfig(policy=policy, n_steps=max_trial_length("MetaTabularMDP-v0", kwargs), **TINY)
    return build_model("MetaTabularMDP-v0", kwargs, config, num_envs, seed, "cpu"), kwargs


def test_rollouts_start_the_state_only_at_trial_starts():
    """The rollout buffer's episode_starts (where sb3-contrib zeroes the state, in rollouts and
    in training) are the trials' first steps, never the inner-episode boundaries."""
    model, kwargs = tabular_model()
    assert model.n_steps == 6
    learn(model, 12, lambda row: None)
    buffer = model.rollout_buffer
    # after get(): flattened per sub-env, n_steps consecutive steps each
    starts = buffer.episode_starts.reshape(3, 6)
    prev_done = buffer.observations["prev_done"].reshape(3, 6)
    assert starts[:, 0].all() and not starts[:, 1:].any()
    assert np.array_equal(np.flatnonzero(prev_done[0]), [2, 4])  # inner-episode ends seen as prev_done


def trial_observations():
    """Observations of one tabular-MDP trial of 3 episodes x 2 steps, for 4 sub-envs."""
    kwargs = {"horizon": 2, "num_episodes": 3, "num_states": 3, "num_actions": 2}
    envs = gym.make_vec("MetaTabularMDP-v0", num_envs=4, vectorization_mode="vector_entry_point", **kwargs)
    observation, info = envs.reset(seed=0)
    observations, inner_starts = [observation], [np.zeros(4, bool)]
    for step in range(5):
        observation, _, _, _, info = envs.step(np.full(4, step % 2))
        observations.append(observation)
        inner_starts.append(info["episode_done"])
    return observations, np.array(inner_starts)


@pytest.mark.parametrize("policy", ["lstm", "gru"])
def test_agent_keeps_the_state_across_inner_episodes(policy):
    """The agent sets episode_start only at a trial's first step; resetting the state at the
    inner-episode boundaries (what a per-episode library would do) changes the outputs there."""
    model, _ = tabular_model(policy)
    observations, inner_starts = trial_observations()
    assert inner_starts[[2, 4]].all() and not np.delete(inner_starts, [2, 4], axis=0).any()

    seen_starts, agent_logits = [], []
    agent = RecurrentPPOAgent(model.policy)
    get_distribution = model.policy.get_distribution

    def recording(obs, states, episode_starts):
        distribution, states = get_distribution(obs, states, episode_starts)
        seen_starts.append(episode_starts.numpy().copy())
        agent_logits.append(distribution.distribution.logits.numpy())
        return distribution, states

    model.policy.get_distribution = recording
    agent.reset(4, seed=0)
    for observation in observations:
        agent.act(observation)
    del model.policy.get_distribution
    assert np.array_equal(np.array(seen_starts), np.eye(6, 1, dtype=np.float32).repeat(4, 1))

    # the same trial with the state reset at every inner-episode start as well
    states = zeros_state(model, 4)
    reset_logits = []
    for t, observation in enumerate(observations):
        starts = torch.as_tensor((t == 0) | inner_starts[t], dtype=torch.float32)
        with torch.no_grad():
            distribution, states = model.policy.get_distribution(model.policy.obs_to_tensor(observation)[0], states, starts)
        reset_logits.append(distribution.distribution.logits.numpy())
    for t in range(6):
        same = np.allclose(agent_logits[t], reset_logits[t], atol=1e-6)
        assert same == (t < 2), t  # equal until the first inner boundary, different after it


def zeros_state(model, n):
    layers, _, hidden = model.policy.lstm_hidden_state_shape
    return torch.zeros(layers, n, hidden), torch.zeros(layers, n, hidden)


def test_fast_sequence_pass_equals_the_library_loop():
    """RL2RecurrentPolicy runs whole sequences in one RNN call; same numbers as sb3-contrib's loop."""
    torch.manual_seed(0)
    for rnn in (torch.nn.LSTM(5, 7), GRUWithCellState(5, 7)):
        n_seq, length = 4, 6
        features = torch.randn(n_seq * length, 5)
        states = (torch.randn(1, n_seq, 7), torch.randn(1, n_seq, 7))
        starts = torch.zeros(n_seq, length)
        starts[[0, 2], 0] = 1.0  # episode starts only at sequence starts: the fast path
        fast = RL2RecurrentPolicy._process_sequence(features, states, starts.flatten(), rnn)
        slow = RecurrentActorCriticPolicy._process_sequence(features, states, starts.flatten(), rnn)
        assert torch.allclose(fast[0], slow[0], atol=1e-6)
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(fast[1], slow[1]))
        starts[1, 3] = 1.0  # a start inside a sequence: falls back to the loop, same result
        fast = RL2RecurrentPolicy._process_sequence(features, states, starts.flatten(), rnn)
        slow = RecurrentActorCriticPolicy._process_sequence(features, states, starts.flatten(), rnn)
        assert torch.equal(fast[0], slow[0])


def test_gru_policy_is_a_gru_with_a_dummy_cell_state():
    model, _ = tabular_model("gru")
    policy = model.policy
    assert isinstance(policy.lstm_actor, GRUWithCellState) and isinstance(policy.lstm_critic, GRUWithCellState)
    assert not any(isinstance(m, torch.nn.LSTM) for m in policy.modules())
    optimized = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in policy.parameters()}
    learn(model, 18, lambda row: None)
    assert not model.rollout_buffer.cell_states_pi.any() and model.rollout_buffer.hidden_states_pi.any()


def test_iterations_report_every_metric_after_their_update():
    model, _ = tabular_model(num_envs=2)
    rows = []
    learn(model, 30, rows.append)  # 12 steps per iteration: 3 iterations
    assert [row["iteration"] for row in rows] == [1, 2, 3] and [row["env_steps"] for row in rows] == [12, 24, 36]
    assert all(list(row) == list(METRICS) for row in rows)
    assert all(row["trials"] == 2 and np.isfinite(row["mean_trial_return"]) and row["entropy"] > 0 for row in rows)


def test_same_seed_same_training():
    params = []
    for _ in range(2):
        model, _ = tabular_model(seed=4)
        learn(model, 12, lambda row: None)
        params.append(torch.cat([p.flatten() for p in model.policy.parameters()]))
    assert torch.equal(params[0], params[1])


@pytest.mark.parametrize("policy", ["lstm", "gru"])
def test_save_load_round_trip_gives_identical_actions(policy, tmp_path):
    model, kwargs = tabular_model(policy)
    learn(model, 6, lambda row: None)
    folder = RunFolder(tmp_path, ".zip")
    folder.checkpoints.mkdir()
    save_checkpoint(model, folder.latest_checkpoint)
    spec = RunSpec("recurrent_ppo", "MetaTabularMDP-v0", kwargs, 0, 3, "cpu", 6, None, {})
    loaded = load_agent(folder, spec, torch.device("cpu"))
    assert isinstance(loaded.policy, RL2RecurrentPolicy) and loaded.policy.rnn == policy
    original = RecurrentPPOAgent(model.policy)
    observations, _ = trial_observations()

    def actions(agent):
        agent.reset(4, seed=9)
        return np.stack([agent.act(observation) for observation in observations])

    assert np.array_equal(actions(original), actions(loaded))
    assert all(torch.equal(a, b) for a, b in zip(original.states, loaded.states))
    learn(model, 6, lambda row: None)  # a different policy: the comparison above can fail
    changed = RecurrentPPOAgent(model.policy)
    actions(changed)
    assert not torch.equal(changed.states[0], loaded.states[0])


def test_pixel_observations_go_through_a_cnn():
    kwargs = {"horizon": 3, "num_episodes": 2, "obs_mode": "rgb"}
    config = RecurrentPPOConfig(n_steps=6, cnn_features=32, **TINY)
    model = build_model("MetaMaze-v0", kwargs, config, 2, 0, "cpu")
    assert isinstance(model.policy.features_extractor.extractors["obs"], NatureCNN)
    learn(model, 6, lambda row: None)
    result = evaluate(RecurrentPPOAgent(model.policy), "MetaMaze-v0", kwargs, num_tasks=4, seed=0)
    assert result.episode_returns.shape == (4, 2)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("policy", "rnn", "policy must be 'lstm' or 'gru'"),
        ("critic", "none", "critic must be"),
        ("hidden_size", 0, "hidden_size"),
        ("gamma", 1.5, "gamma"),
        ("n_minibatches", 0, "n_minibatches"),
        ("mlp_depth", -1, "mlp_depth"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(field, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        RecurrentPPOConfig(**{field: value})


def test_family_defaults_fit_whole_trials_in_a_rollout():
    assert family_defaults("MetaBandit-v0", {"num_episodes": 10})["n_steps"] == 40
    assert family_defaults("MetaBandit-v0", {"num_episodes": 100})["n_steps"] == 100
    assert family_defaults("MetaTabularMDP-v0", {})["n_steps"] == 400
    assert family_defaults("MetaTabularMDP-v0", {"num_episodes": 25})["n_steps"] == 500
    assert family_defaults("MetaMaze-v0", {})["n_steps"] == 500


def test_trial_lengths():
    assert max_trial_length("MetaBandit-v0", {"num_episodes": 7}) == 7
    assert max_trial_length("MetaTabularMDP-v0", {}) == 100
    assert max_trial_length("MetaMaze-v0", {}) == 500
    assert max_trial_length("MetaMazeLarge-v0", {"num_episodes": 3}) == 3000


def test_resume_continues_the_random_streams(tmp_path):
    """RecurrentPPO.load reseeds every generator with the run's seed; the checkpoint puts the
    streams back, so a resumed run does not replay the first tasks."""
    model, kwargs = tabular_model(seed=2)
    learn(model, 12, lambda row: None)
    save_checkpoint(model, tmp_path / "c.zip")
    env_state, torch_state = model.get_env().unwrapped.np_random_state, torch.get_rng_state()
    loaded = RecurrentPPO.load(tmp_path / "c.zip", env=make_native_vec_env("MetaTabularMDP-v0", 3, **kwargs))
    assert loaded.num_timesteps == 18 and not torch.equal(torch.get_rng_state(), torch_state)
    restore_random_state(loaded)
    assert loaded.get_env().unwrapped.np_random_state == env_state and torch.equal(torch.get_rng_state(), torch_state)
    first_tasks = make_native_vec_env("MetaTabularMDP-v0", 3, seed=2, **kwargs)
    first_tasks.reset()
    loaded.get_env().reset()
    assert loaded.get_env().get_attr("task") != first_tasks.get_attr("task")


def test_short_run_on_two_arm_bandit_beats_random_by_ten_percent():
    two_arms = {"num_arms": 2, "num_episodes": 10}
    config = RecurrentPPOConfig(hidden_size=32, mlp_depth=0, learning_rate=1e-2, n_minibatches=4, n_steps=40)
    model = build_model("MetaBandit-v0", two_arms, config, num_envs=64, seed=0, device="cpu")
    learn(model, 20_000, lambda row: None)  # 8 iterations
    learned = evaluate(RecurrentPPOAgent(model.policy), "MetaBandit-v0", two_arms, num_tasks=500, seed=0)
    random = evaluate(RandomAgent(2), "MetaBandit-v0", two_arms, num_tasks=500, seed=0)
    assert learned.mean >= 1.1 * random.mean, (learned.mean, random.mean)
