"""Widening a trained RL² network (Net2Net): the same function with more units, and a warm
start from a narrower run."""

import gymnasium as gym
import pytest
import torch

import meta_envs  # noqa: F401
from agents.rl2.config import PPOConfig
from agents.rl2.policy import CELLS, Observations, RecurrentNet, ValueNet
from agents.rl2.trainer import RL2Trainer
from agents.rl2.widen import widen_recurrent_net
from agents.training.run_folder import InitFromError, RunFolder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KWARGS = {"num_arms": 3, "num_episodes": 8}
SPACE = gym.make("MetaBandit-v0", **KWARGS).observation_space


def trained_looking_net(cell: str, hidden_size: int, net: type = RecurrentNet, seed: int = 0) -> RecurrentNet:
    """A net whose every parameter is random (not the init's ones and zeros), as after training."""
    torch.manual_seed(seed)
    if net is ValueNet:
        model = ValueNet(SPACE, hidden_size, 0, cell=cell)
    else:
        model = RecurrentNet(SPACE, 3, hidden_size, 0, cell=cell)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model


def sequences(net: RecurrentNet, steps: int = 12, batch: int = 5) -> Observations:
    return Observations(torch.randn(steps, batch, net.encoder.output_size, generator=torch.Generator().manual_seed(1)), None)


@pytest.mark.parametrize("cell", CELLS)
def test_an_exact_widening_computes_the_same_function_with_copies_of_each_unit(cell):
    narrow = trained_looking_net(cell, 8)
    wide = trained_looking_net(cell, 24, seed=5)
    wide.load_state_dict(widen_recurrent_net(narrow.state_dict(), 24, torch.Generator().manual_seed(0), noise=0.0))
    x = sequences(narrow)
    with torch.no_grad():
        (narrow_out, narrow_last), (wide_out, wide_last) = narrow(x), wide(x)
    torch.testing.assert_close(wide_out, narrow_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(wide_last, narrow_last.repeat(1, 3), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_the_copies_are_perturbed_so_that_they_can_grow_apart(cell):
    narrow = trained_looking_net(cell, 8)
    state = narrow.state_dict()
    wide = trained_looking_net(cell, 16)
    widened = widen_recurrent_net(state, 16, torch.Generator().manual_seed(0))
    wide.load_state_dict(widened)
    x = sequences(narrow)
    with torch.no_grad():
        (narrow_out, _), (wide_out, wide_last) = narrow(x), wide(x)
    difference = (wide_out - narrow_out).abs().max()
    assert 0 < difference < 0.05 * narrow_out.abs().max()  # close to the narrow function, not on it
    assert not torch.allclose(wide_last[..., :8], wide_last[..., 8:])
    name = "gru.weight_ih" if cell == "layernorm_gru" else "gru.weight_ih_l0"
    first_copy = widened[name].unflatten(0, (3, 16))[:, :8].flatten(0, 1)
    torch.testing.assert_close(first_copy, state[name], rtol=0, atol=0)  # the trained weights, kept
    # seeded: the same generator seed, the same wide network
    again = widen_recurrent_net(state, 16, torch.Generator().manual_seed(0))
    assert all(torch.equal(again[k], widened[k]) for k in widened)


def test_a_value_net_keeps_its_normalisation_statistics():
    narrow = trained_looking_net("layernorm_gru", 4, ValueNet)
    narrow.update_statistics(torch.tensor([3.0, 5.0, 9.0]))
    wide = trained_looking_net("layernorm_gru", 8, ValueNet)
    wide.load_state_dict(widen_recurrent_net(narrow.state_dict(), 8, torch.Generator(), noise=0.0))
    x = sequences(narrow)
    with torch.no_grad():
        torch.testing.assert_close(wide.values(x), narrow.values(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("size", "noise", "expected"),
    [(12, 0.01, "whole multiple of 8"), (8, 0.01, "whole multiple of 8"), (4, 0.01, "whole multiple"),
     (16, -1.0, "noise must be >= 0")],
)
def test_a_width_that_cannot_keep_the_function_is_refused(size, noise, expected):
    state = trained_looking_net("layernorm_gru", 8).state_dict()
    with pytest.raises(ValueError, match=expected):
        widen_recurrent_net(state, size, torch.Generator(), noise=noise)
    with pytest.raises(ValueError, match="not a RecurrentNet state dict"):
        widen_recurrent_net({"weight": torch.zeros(2)}, 16, torch.Generator())


def test_init_from_a_narrower_run_widens_its_networks(tmp_path):
    config = {"steps_per_iteration": 200, "cell": "layernorm_gru", "update_gate_bias": 1.0}
    cpu = torch.device("cpu")
    narrow = RL2Trainer("MetaBandit-v0", KWARGS, PPOConfig(hidden_size=8, value_hidden_size=4, **config), 4, 0, cpu)
    narrow.train_iteration()
    folder = RunFolder(tmp_path / "narrow")
    folder.checkpoints.mkdir(parents=True)
    torch.save(narrow.state_dict(), folder.latest_checkpoint)
    wide = RL2Trainer("MetaBandit-v0", KWARGS, PPOConfig(hidden_size=16, value_hidden_size=8, **config), 4, 0, cpu)
    wide.load_networks(str(folder.path))
    x = sequences(narrow.policy)
    with torch.no_grad():
        narrow_logits, wide_logits = narrow.policy(x)[0], wide.policy(x)[0]
        narrow_values, wide_values = narrow.value.values(x), wide.value.values(x)
    torch.testing.assert_close(wide_logits, narrow_logits, rtol=0.05, atol=0.02)
    torch.testing.assert_close(wide_values, narrow_values, rtol=0.05, atol=0.02)
    assert wide.policy.hidden_size == 16 and wide.value.hidden_size == 8
    wide.train_iteration()  # and it trains
    # narrower, or not a multiple: refused by name
    for hidden in (4, 12):
        other = RL2Trainer("MetaBandit-v0", KWARGS, PPOConfig(hidden_size=hidden, value_hidden_size=4, **config), 4, 0, cpu)
        with pytest.raises(InitFromError, match=r"hidden_size.*a width may only grow, by a whole multiple"):
            other.load_networks(str(folder.path))
    # a tied head on one side only: refused by name
    tied = RL2Trainer("MetaBandit-v0", KWARGS, PPOConfig(hidden_size=8, value_hidden_size=4, tied_action_head=True,
                                                          **config), 4, 0, cpu)
    with pytest.raises(InitFromError, match=r"'tied_action_head': \(False, True\)"):
        tied.load_networks(str(folder.path))


def test_a_tied_head_is_not_widened(tmp_path):
    space = gym.make("MetaBandit-v0", **KWARGS).observation_space
    tied = RecurrentNet(space, KWARGS["num_arms"], 8, 0, cell="layernorm_gru", tied_action_head=True)
    with pytest.raises(ValueError, match="tied action head cannot be widened"):
        widen_recurrent_net(tied.state_dict(), 16, torch.Generator())
    # nor through --init-from, which says so as its own error
    config = {"steps_per_iteration": 200, "cell": "layernorm_gru", "tied_action_head": True}
    cpu = torch.device("cpu")
    narrow = RL2Trainer("MetaBandit-v0", KWARGS, PPOConfig(hidden_size=8, value_hidden_size=4, **config), 4, 0, cpu)
    folder = RunFolder(tmp_path / "narrow")
    folder.checkpoints.mkdir(parents=True)
    torch.save(narrow.state_dict(), folder.latest_checkpoint)
    wide = RL2Trainer("MetaBandit-v0", KWARGS, PPOConfig(hidden_size=16, value_hidden_size=4, **config), 4, 0, cpu)
    with pytest.raises(InitFromError, match="tied action head cannot be widened"):
        wide.load_networks(str(folder.path))
