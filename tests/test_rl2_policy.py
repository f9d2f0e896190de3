"""RL² networks and agent: both recurrent cores, hidden state across a trial, encoders,
value normalisation."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import meta_envs  # noqa: F401
from agents.rl2.agent import RL2Agent
from agents.rl2.policy import (
    CELLS,
    LayerNormGRUCell,
    Observations,
    RecurrentNet,
    ValueNet,
    column_chunks,
    is_image_space,
    to_observations,
)
from agents.rl2.rollout import TrialCollector
from meta_envs.trial import rl2_observation_space

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KWARGS = {"num_arms": 3, "num_episodes": 8}


def bandit_policy(seed: int = 0, cell: str = "gru", tied: bool = False) -> RecurrentNet:
    torch.manual_seed(seed)
    space = gym.make("MetaBandit-v0", **KWARGS).observation_space
    return RecurrentNet(space, KWARGS["num_arms"], hidden_size=16, embedding_size=0, head_gain=1.0, cell=cell,
                        tied_action_head=tied)


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("cell", CELLS)
def test_step_by_step_equals_whole_trial_forward(cell, tied):
    policy = bandit_policy(cell=cell, tied=tied)
    envs = gym.make_vec("MetaBandit-v0", num_envs=4, vectorization_mode="vector_entry_point", **KWARGS)
    observation, _ = envs.reset(seed=0)
    hidden, steps, logits = policy.initial_state(4), [], []
    with torch.no_grad():
        for t in range(KWARGS["num_episodes"]):
            x = to_observations(observation, False, torch.device("cpu"))
            out, hidden = policy.step(x, hidden)
            steps.append(x.vector)
            logits.append(out)
            observation, *_ = envs.step(np.full(4, t % 3))
        whole = policy(Observations(torch.stack(steps), None))[0]
    torch.testing.assert_close(torch.stack(logits), whole, rtol=1e-5, atol=1e-6)


def test_rollout_carries_hidden_state_across_inner_episodes_and_resets_between_trials():
    """Every bandit pull ends an inner episode; the GRU state must survive all but the trial's end."""
    policy = bandit_policy()
    seen = []
    step = policy.step

    def recording_step(observations, hidden):
        seen.append((observations.vector.clone(), hidden.clone()))
        return step(observations, hidden)

    policy.step = recording_step
    collector = TrialCollector("MetaBandit-v0", KWARGS, 3, 0, torch.device("cpu"))
    collector.collect(policy, 3 * 2 * KWARGS["num_episodes"], torch.Generator().manual_seed(0))  # 2 trials each
    length = KWARGS["num_episodes"]
    assert len(seen) == 2 * length
    with torch.no_grad():
        trial = torch.stack([v for v, _ in seen[:length]])
        _, expected_last = RecurrentNet.forward(policy, Observations(trial, None))
        for t, (vector, hidden) in enumerate(seen):
            prev_done = vector[:, -1]
            if t % length == 0:  # a trial starts: zero state, empty previous action
                assert torch.count_nonzero(hidden) == 0 and torch.count_nonzero(vector[:, 1:4]) == 0
            else:  # inside the trial, right after an inner episode ended
                assert torch.all(prev_done == 1) and torch.all(hidden.abs().sum(1) > 0)
        # the state after the first trial's last-but-one step is the full-trial state
        _, partial = RecurrentNet.forward(policy, Observations(trial[:-1], None))
        torch.testing.assert_close(seen[length - 1][1], partial, rtol=1e-5, atol=1e-6)
    collector.close()


def test_agent_keeps_state_inside_a_trial_and_resets_at_a_new_trial():
    policy = bandit_policy()
    agent = RL2Agent(policy, image=False, device=torch.device("cpu"))
    envs = gym.make_vec("MetaBandit-v0", num_envs=2, vectorization_mode="vector_entry_point", **KWARGS)
    observation, _ = envs.reset(seed=1)
    agent.reset(2, seed=0)
    fed = []
    for _ in range(KWARGS["num_episodes"]):
        fed.append(to_observations(observation, False, torch.device("cpu")).vector)
        observation, _, terminated, _, _ = envs.step(agent.act(observation))
    assert terminated.all()
    # after the whole trial (an inner episode ended at every step) the agent's state is
    # the one of an uninterrupted pass over the trial
    with torch.no_grad():
        _, whole_trial = policy(Observations(torch.stack(fed), None))
    torch.testing.assert_close(agent.hidden, whole_trial, rtol=1e-5, atol=1e-6)
    # NEXT_STEP autoreset: the next observation is a new trial's first; the state restarts
    observation, *_ = envs.step(agent.act(observation))
    assert np.all(observation["prev_action"] == 0)
    agent.act(observation)
    fresh = policy.step(to_observations(observation, False, torch.device("cpu")), policy.initial_state(2))[1]
    torch.testing.assert_close(agent.hidden, fresh.detach())


def test_sampled_actions_are_seeded_and_greedy_is_argmax():
    policy = bandit_policy()
    envs = gym.make_vec("MetaBandit-v0", num_envs=64, vectorization_mode="vector_entry_point", **KWARGS)
    observation, _ = envs.reset(seed=0)
    runs = []
    for _ in range(2):
        agent = RL2Agent(policy, False, torch.device("cpu"))
        agent.reset(64, seed=5)
        runs.append(agent.act(observation))
    np.testing.assert_array_equal(*runs)
    assert len(set(runs[0].tolist())) > 1
    greedy = RL2Agent(policy, False, torch.device("cpu"), greedy=True)
    greedy.reset(64, seed=5)
    logits = policy.step(to_observations(observation, False, torch.device("cpu")), policy.initial_state(64))[0]
    np.testing.assert_array_equal(greedy.act(observation), logits.argmax(-1).numpy())


def image_space(side=20):
    return rl2_observation_space(spaces.Box(0, 255, (side, side, 3), np.uint8), 4)


def test_encoder_is_chosen_from_the_observation_space():
    assert is_image_space(image_space()["obs"])
    assert not is_image_space(gym.make("MetaBandit-v0").observation_space["obs"])
    net = RecurrentNet(image_space(), 4, hidden_size=8, embedding_size=12)
    assert net.encoder.cnn is not None and net.gru.input_size == 12
    sample = image_space().sample()
    batch = {k: np.stack([v] * 3) for k, v in sample.items()}
    x = to_observations(batch, True, torch.device("cpu"))
    assert x.image.dtype == torch.uint8 and x.vector.shape == (3, 4 + 2)
    out, hidden = net(Observations(x.vector[None].repeat(5, 1, 1), x.image[None].repeat(5, 1, 1, 1, 1)))
    assert out.shape == (5, 3, 4) and hidden.shape == (3, 8)
    vector_net = bandit_policy()
    assert vector_net.encoder.cnn is None and vector_net.gru.input_size == 1 + 3 + 1 + 1
    with pytest.raises(ValueError, match="embedding_size must be >= 1"):
        RecurrentNet(image_space(), 4, hidden_size=8, embedding_size=0)


def test_value_statistics_update_keeps_predictions():
    space = gym.make("MetaBandit-v0", **KWARGS).observation_space
    torch.manual_seed(0)
    value = ValueNet(space, hidden_size=8, embedding_size=0)
    x = Observations(torch.rand(5, 4, 6), None)
    before = value.values(x)
    value.update_statistics(torch.tensor([10.0, 30.0, 50.0, 70.0]))
    torch.testing.assert_close(value.values(x), before, rtol=1e-5, atol=1e-5)
    assert value.target_mean.item() == pytest.approx(40.0)
    assert value.target_std.item() == pytest.approx(np.std([10, 30, 50, 70]), rel=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_padded_trials_of_different_lengths_skip_their_padding(cell):
    # [T, B] whole trials with lengths: outputs on each trial's steps, its final state and
    # the gradients are those of running every trial alone, whatever the padding holds
    policy = bandit_policy(cell=cell).double()
    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([8, 3, 5, 1])
    vector = torch.rand(8, 4, 1 + 3 + 1 + 1, generator=g, dtype=torch.float64)
    padded = vector.clone()
    for column, length in enumerate(lengths):
        padded[length:, column] = 1e3  # garbage the networks must not read
    out, last = policy(Observations(padded, None, lengths))
    loss = sum(out[: int(n), c].sum() for c, n in enumerate(lengths))
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    alone_loss = 0
    for column, length in enumerate(lengths):
        alone, alone_last = policy(Observations(vector[: int(length), column : column + 1], None))
        torch.testing.assert_close(out[: int(length), column], alone[:, 0])
        torch.testing.assert_close(last[column], alone_last[0])
        alone_loss = alone_loss + alone.sum()
    for ours, reference in zip(grads, torch.autograd.grad(alone_loss, list(policy.parameters()))):
        torch.testing.assert_close(ours, reference)
    # the columns of a batch keep their lengths, trimmed to the rows kept
    picked = Observations(padded, None, lengths).index((slice(0, 4), torch.tensor([2, 0])))
    assert picked.lengths.tolist() == [4, 4] and picked.vector.shape == (4, 2, 6)


@pytest.mark.parametrize("cell", CELLS)
def test_a_whole_trial_pass_in_chunks_of_trials_equals_one_pass(cell, monkeypatch):
    # the CPU splits wide batches into column chunks (cache-sized); outputs, final states
    # and gradients must be those of one pass, ragged trials included
    policy = bandit_policy(cell=cell).double()
    lengths = torch.tensor([8, 3, 5, 1, 8, 2, 7])
    vector = torch.rand(8, 7, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    hidden = torch.rand(7, 16, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    runs = []
    for chunk in (1000, 3):
        monkeypatch.setattr("agents.rl2.policy.CPU_COLUMN_CHUNK", chunk)
        assert len(column_chunks(7, torch.device("cpu"))) == (1 if chunk > 7 else 3)
        out, last = policy(Observations(vector, None, lengths), hidden)
        steps = torch.arange(8)[:, None] < lengths[None, :]
        loss = (out[steps] ** 2).sum() + last.sum()
        runs.append((out[steps], last, torch.autograd.grad(loss, list(policy.parameters()))))
    (out, last, grads), (chunked_out, chunked_last, chunked_grads) = runs
    torch.testing.assert_close(chunked_out, out)
    torch.testing.assert_close(chunked_last, last)
    for chunked, whole in zip(chunked_grads, grads):
        torch.testing.assert_close(chunked, whole)


@pytest.mark.parametrize("ragged", [False, True])
def test_the_cuda_sequence_pass_agrees_with_the_cpu_cell_loop(ragged):
    # the nn.GRU (packed when ragged) pass CUDA runs, exercised on the CPU against the cell loop
    policy = bandit_policy().double()
    lengths = torch.tensor([8, 3, 5, 1]) if ragged else None
    vector = torch.rand(8, 4, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    hidden = policy.initial_state(4)
    out, last = policy(Observations(vector, None, lengths))
    features, gru_last = policy._gru_pass(policy.encoder(Observations(vector, None)), hidden, lengths)
    steps = torch.arange(8)[:, None] < (lengths if ragged else torch.full((4,), 8))[None, :]
    torch.testing.assert_close(policy.head(features)[steps], out[steps])
    torch.testing.assert_close(gru_last, last)


def test_layernorm_gru_cell_computes_the_textbook_equations():
    cell = LayerNormGRUCell(5, 4, update_gate_bias=1.0).double()
    with torch.no_grad():  # non-trivial affine parameters, so that their roles are checked
        for parameter in (cell.gain_ih, cell.bias_ih, cell.gain_hh, cell.bias_hh):
            parameter.add_(torch.rand(parameter.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, generator=g, dtype=torch.float64)
    h = torch.randn(3, 4, generator=g, dtype=torch.float64)

    def normalised(projection, gain, bias):  # each gate's 4 units on their own
        gates = projection.view(3, 3, 4)
        mean = gates.mean(-1, keepdim=True)
        std = (gates.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
        return (gates - mean) / std * gain + bias

    gx = normalised(x @ cell.weight_ih.T, cell.gain_ih, cell.bias_ih)
    gh = normalised(h @ cell.weight_hh.T, cell.gain_hh, cell.bias_hh)
    r = torch.sigmoid(gx[:, 0] + gh[:, 0])
    z = torch.sigmoid(gx[:, 1] + gh[:, 1])
    n = torch.tanh(gx[:, 2] + r * gh[:, 2])
    torch.testing.assert_close(cell(x, h), (1 - z) * n + z * h)


@pytest.mark.parametrize("cell", CELLS)
def test_update_gate_bias_makes_a_new_network_keep_more_of_its_state(cell):
    space = gym.make("MetaBandit-v0", **KWARGS).observation_space
    vector = torch.rand(30, 64, 6, generator=torch.Generator().manual_seed(2))
    kept = []
    for bias in (0.0, 2.0):
        torch.manual_seed(0)
        net = RecurrentNet(space, 3, hidden_size=16, embedding_size=0, cell=cell, update_gate_bias=bias)
        start = torch.randn(64, 16, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            _, last = net(Observations(vector, None), start)
        kept.append(torch.nn.functional.cosine_similarity(last, start, dim=1).mean().item())
    assert kept[1] > kept[0] + 0.1, kept


def _permuted_arms(policy: RecurrentNet, order: torch.Tensor) -> RecurrentNet:
    """The same net with its arms relabelled: input columns of prev_action and head rows by ``order``."""
    permuted = bandit_policy(cell="layernorm_gru", tied=policy.tied_actions is not None)
    permuted.load_state_dict(policy.state_dict())
    with torch.no_grad():
        columns = permuted.gru.weight_ih[:, 1:4]  # obs is one constant unit, then the 3 arms
        columns.copy_(columns[:, order])
        if policy.tied_actions is None:
            permuted.head.weight.copy_(permuted.head.weight[order])
            permuted.head.bias.copy_(permuted.head.bias[order])
        else:
            permuted.head_bias.copy_(permuted.head_bias[order])
    return permuted


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_a_tied_head_is_the_input_embedding_of_the_actions(tied):
    """Relabelling the arms of the input relabels the tied head's outputs with them: its
    weights are the input weights of prev_action. An untied head has its own weights,
    which must be relabelled separately."""
    policy = bandit_policy(cell="layernorm_gru", tied=tied)
    with torch.no_grad():
        policy.gru.weight_ih.normal_()
    order = torch.tensor([2, 0, 1])
    permuted = _permuted_arms(policy, order)
    # arms pulled in a trial, as the network sees them: relabelled for the permuted net
    pulls = torch.tensor([[1, 2, 0, 0, 1], [0, 0, 2, 1, 2]]).T
    rewards = torch.tensor([[1.0, 0, 1, 1, 0], [0, 1, 1, 0, 1]]).T

    def trial(arms: torch.Tensor) -> Observations:
        vector = torch.zeros(5, 2, 6)
        vector[..., 0] = 1.0
        vector.scatter_(2, 1 + arms.unsqueeze(-1), 1.0)
        vector[..., 4], vector[..., 5] = rewards, 1.0
        return Observations(vector, None)

    with torch.no_grad():
        logits = policy(trial(pulls))[0]
        relabelled = permuted(trial(torch.argsort(order)[pulls]))[0]
    torch.testing.assert_close(relabelled, logits[..., order])
    if tied:  # and the head moves with the input weights
        with torch.no_grad():
            policy.gru.weight_ih[32:, 2] += 1.0
        assert not torch.allclose(policy(trial(pulls))[0][..., 1], logits[..., 1])


def test_a_tied_head_needs_the_flat_input_of_the_actions():
    space = gym.make("MetaBandit-v0", **KWARGS).observation_space
    with pytest.raises(ValueError, match="embedding_size=0"):
        RecurrentNet(space, 3, hidden_size=8, embedding_size=4, tied_action_head=True)
    with pytest.raises(ValueError, match="output_size"):
        RecurrentNet(space, 1, hidden_size=8, embedding_size=0, tied_action_head=True)
