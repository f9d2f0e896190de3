"""Widening a trained recurrent network: a warm start with more units (Net2Net's wider operator).

A :class:`~agents.rl2.policy.RecurrentNet` of ``H`` units becomes one of ``m·H`` units that
computes the same function: unit ``u`` of the wide network is a copy of unit ``u mod H``
(its rows of the input and recurrent projections, its gains and biases), and every weight
that reads the state (the recurrent projection's columns, the head's) is split evenly over
the ``m`` copies. The copies then hold equal states at every step, so every projection of
the state is unchanged; and because each unit appears exactly ``m`` times, the per-gate
layer normalisation of :class:`~agents.rl2.policy.LayerNormGRUCell` sees the same mean and
variance. Only a whole multiple keeps that exact: any other width would change them.

Exact copies get equal gradients forever (Adam's per-weight scaling undoes an uneven split
of the outgoing weights too), so the copies' incoming weights get a small Gaussian
perturbation, ``noise`` times each weight tensor's standard deviation, from a seeded
generator: the wide network starts close to, not exactly at, the narrow one's function.

Chen, Goodfellow and Shlens, "Net2Net: accelerating learning via knowledge transfer", ICLR 2016.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

#: the perturbation of the copies' incoming weights, in units of each tensor's standard deviation
WIDEN_NOISE = 0.01

#: parameters whose first axis is ``3·H`` gate units (nn.GRU) or ``(3, H)`` (the layer-normalised cell)
_GATE_ROWS = ("gru.weight_ih", "gru.weight_hh", "gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0")
_GATE_VECTORS = ("gru.gain_ih", "gru.bias_ih", "gru.gain_hh", "gru.bias_hh")
#: the incoming weights of a unit, perturbed in the copies
_INCOMING = ("gru.weight_ih", "gru.weight_hh", "gru.weight_ih_l0", "gru.weight_hh_l0")
#: parameters that read the state: their last axis is ``H``
_READ_STATE = ("gru.weight_hh", "gru.weight_hh_l0", "head.weight")


def widen_recurrent_net(
    state: Mapping[str, torch.Tensor], hidden_size: int, generator: torch.Generator, noise: float = WIDEN_NOISE
) -> dict[str, torch.Tensor]:
    """A :class:`~agents.rl2.policy.RecurrentNet` state dict widened to ``hidden_size`` units.

    :param state: the narrow network's ``state_dict()`` (either cell; a value net's
        normalisation statistics and the encoder pass through unchanged).
    :param hidden_size: the new width, a whole multiple (>= 2) of the old one.
    :param generator: the source of the copies' perturbation (a CPU generator).
    :param noise: its scale, in standard deviations of each incoming weight tensor (0: exact copies).
    :return: a state dict for the network of ``hidden_size`` units.
    :raises ValueError: if the state is not a recurrent net's, or the width is not a multiple.
    """
    if "head_scale" in state:
        raise ValueError("a net with a tied action head cannot be widened: its head reads the state through the "
                         "input weights, which widening copies rather than splits")
    if "head.weight" not in state:
        raise ValueError(f"not a RecurrentNet state dict: no 'head.weight' among {sorted(state)}")
    old = state["head.weight"].shape[1]
    if hidden_size <= old or hidden_size % old:
        raise ValueError(
            f"hidden_size {hidden_size}: widening {old} units needs a whole multiple of {old} above it "
            f"(e.g. {2 * old}); only then does the layer normalisation see the same statistics"
        )
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    copies = hidden_size // old
    source = torch.arange(hidden_size) % old  # wide unit -> the narrow unit it copies
    wide = dict(state)
    for name, tensor in state.items():
        if name in _GATE_ROWS:  # [3H, ...] -> [3mH, ...], gate by gate
            gates = tensor.unflatten(0, (3, old))[:, source]
            wide[name] = gates.flatten(0, 1)
        elif name in _GATE_VECTORS:  # [3, H] -> [3, mH]
            wide[name] = tensor[:, source]
    for name in _READ_STATE:
        if name in wide:
            wide[name] = wide[name][..., source] / copies
    for name in _INCOMING:
        if name in wide and noise > 0:
            tensor = wide[name].unflatten(0, (3, hidden_size))
            perturbation = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)
            perturbation[:, :old] = 0  # the first copy keeps the trained weights
            wide[name] = (tensor + noise * tensor.std() * perturbation).flatten(0, 1)
    return wide
