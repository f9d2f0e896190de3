"""The RL² networks: observation encoder → embedding → recurrent core → linear head.

Input
    The shared RL² observation of every family (:mod:`meta_envs.trial`). When the
    family's state (``obs``) is an image (a ``uint8`` Box of shape ``(H, W, C)``, e.g.
    the maze's ``rgb`` mode) it goes through a small CNN (the paper's navigation
    encoder: two 5×5 convolutions of 16 filters, stride 2) and the result is
    concatenated with ``prev_action``, ``prev_reward`` and ``prev_done``; otherwise the
    whole observation is flattened with :func:`meta_envs.flatten_observation`. A linear
    layer + tanh can embed it before the GRU (``embedding_size``; needed after a CNN).
    With ``embedding_size=0`` the flattened observation (one-hot state, one-hot previous
    action, previous reward, done flag) goes straight into the GRU, whose input weights
    then act as a linear embedding.

Recurrent core
    ``cell="gru"``: PyTorch's GRU (the paper's; fused kernels, cuDNN on CUDA).
    ``cell="layernorm_gru"``: :class:`LayerNormGRUCell`, a GRU whose input and recurrent
    projections are layer-normalised per gate (Ba et al. 2016). Either can start with its
    update gate biased towards keeping the state (``update_gate_bias``): a trial of 100
    pulls needs counts that survive 100 steps, and a gate that starts half-open halves
    the memory of every step.

Networks
    :class:`RecurrentNet` is that stack with any output size. The policy is one with a
    categorical head over the actions (logits). The value baseline is a *separate*
    :class:`ValueNet` with its own GRU, as the paper does for bandits and MDPs: a shared
    trunk would tie the baseline's regression to the policy's trust region, and a
    separate GRU costs only a forward and a few gradient passes per iteration. The
    baseline may also see the task's parameters at every step (``task_size``; an asymmetric
    critic, :attr:`agents.rl2.config.RL2Config.value_task_features`): only the learner needs
    it, and an agent plays without it.

Hidden state
    The GRU state is carried across the inner episodes of a trial (the RL² memory) and
    starts at zero for every trial; nothing else resets it. Whole trials go through
    :meth:`RecurrentNet.forward` (one ``nn.GRU`` call over ``[T, B]``; cuDNN on CUDA; on
    the CPU a cell loop over cache-sized chunks of trials, :func:`column_chunks`)
    and rollouts through :meth:`RecurrentNet.step` (one GRU-cell call for every env at
    once, with the same weights).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from meta_envs.trial import OBSERVATION_KEYS, flatten_observation

#: the paper's navigation encoder: (filters, kernel, stride) of each convolution
CNN_LAYERS = ((16, 5, 2), (16, 5, 2))


class Observations(NamedTuple):
    """A batch of RL² observations as tensors with any leading dims (``[B]`` or ``[T, B]``).

    :param vector: float32 ``[..., D]``: the flattened observation, or, with an image
        state, everything but the image.
    :param image: uint8 ``[..., H, W, C]`` image state, or ``None``.
    :param lengths: for whole trials ``[T, B]`` of different lengths, int64 ``[B]``: the
        steps of each column's trial (the rest is padding, which the networks skip);
        ``None`` when every column runs all ``T`` steps.
    """

    vector: torch.Tensor
    image: torch.Tensor | None
    lengths: torch.Tensor | None = None

    def index(self, item: tuple[slice, torch.Tensor]) -> Observations:
        """Columns of a ``[T, B]`` batch: ``item = (time_slice, column_index)``; lengths follow."""
        lengths = self.lengths
        if lengths is not None:
            time, columns = item
            lengths = lengths[columns].clamp_max(len(range(*time.indices(self.vector.shape[0]))))
        return Observations(self.vector[item], None if self.image is None else self.image[item], lengths)


def is_image_space(space: spaces.Space) -> bool:
    """Whether a state space is an image: a uint8 Box of shape ``(H, W, C)``, C in {1, 3, 4}."""
    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[-1] in (1, 3, 4)
    )


def to_observations(observation: dict[str, np.ndarray], image: bool, device: torch.device) -> Observations:
    """Turn a batched RL² observation dict (numpy) into :class:`Observations` on ``device``.

    :param observation: batched parts, each of shape ``(num_envs, ...)``.
    :param image: whether ``obs`` is an image (see :func:`is_image_space`).
    :param device: where the tensors go.
    """
    if not image:
        return Observations(torch.from_numpy(flatten_observation(observation)).to(device), None)
    rest = np.concatenate(
        [np.asarray(observation[key], np.float32) for key in OBSERVATION_KEYS[1:]], axis=-1
    )
    return Observations(
        torch.from_numpy(rest).to(device), torch.from_numpy(np.asarray(observation["obs"])).to(device)
    )


class ObservationEncoder(nn.Module):
    """RL² observation → GRU input (CNN first when the state is an image).

    :param observation_space: one env's RL² ``Dict`` observation space.
    :param embedding_size: width of a linear + tanh embedding; 0 for none (the
        flattened observation goes straight into the GRU). Image states need one.
    :param extra_size: width of further inputs appended to ``Observations.vector`` (a value
        baseline's task features, :meth:`ValueNet.with_task`).
    """

    def __init__(self, observation_space: spaces.Dict, embedding_size: int, extra_size: int = 0) -> None:
        super().__init__()
        state_space = observation_space["obs"]
        side = extra_size + sum(int(np.prod(observation_space[key].shape)) for key in OBSERVATION_KEYS[1:])
        self.image = is_image_space(state_space)
        if self.image:
            if embedding_size < 1:
                raise ValueError(
                    f"an image state {state_space.shape} needs an embedding after the CNN: "
                    f"embedding_size must be >= 1, got {embedding_size}"
                )
            height, width, channels = state_space.shape
            layers: list[nn.Module] = []
            for filters, kernel, stride in CNN_LAYERS:
                # padding keeps small views valid: each layer halves the side, rounded up
                layers += [nn.Conv2d(channels, filters, kernel, stride, padding=kernel // 2), nn.ReLU()]
                channels = filters
            self.cnn = nn.Sequential(*layers, nn.Flatten())
            with torch.no_grad():
                features = self.cnn(torch.zeros(1, state_space.shape[-1], height, width)).shape[1]
            input_size = features + side
        else:
            self.cnn = None
            input_size = int(np.prod(state_space.shape)) + side
        if embedding_size:
            self.embed: nn.Module = nn.Sequential(nn.Linear(input_size, embedding_size), nn.Tanh())
            self.output_size = embedding_size
        else:
            self.embed = nn.Identity()
            self.output_size = input_size

    def forward(self, observations: Observations) -> torch.Tensor:
        """``[..., D]`` (+ image) → ``[..., output_size]``."""
        x = observations.vector
        if self.cnn is not None:
            image = observations.image
            lead = image.shape[:-3]
            pixels = image.reshape(-1, *image.shape[-3:]).permute(0, 3, 1, 2).float().div_(255.0)
            x = torch.cat([self.cnn(pixels).reshape(*lead, -1), x], dim=-1)
        return self.embed(x)


#: the recurrent cores RecurrentNet can use (module docstring)
CELLS = ("gru", "layernorm_gru")

#: On the CPU a whole-trial pass runs over at most this many trials at a time. Each
#: step's gate tensors of a 2,500-trial batch ([2500, 3, 256] floats, 7.7 MB) stream
#: through memory; 512 trials' stay in cache. TRPO iterations at the paper's batch
#: (k=5, n=100, 2,500 trials, one thread, nothing else running): the layer-normalised GRU
#: 8,159 env steps/s in chunks of 500 against 3,848 in one pass, the plain GRU 12,725
#: against 10,834 (``python scripts/studies/column_chunks.py --chunks 2500,512``).
CPU_COLUMN_CHUNK = 512


def column_chunks(num_columns: int, device: torch.device) -> list[slice]:
    """The column slices a whole-trial pass over ``num_columns`` trials on ``device`` runs
    in: on the CPU as few as keep each within :data:`CPU_COLUMN_CHUNK`, of equal widths
    (2,500 trials: 5 × 500; 625: 2 × 313); on an accelerator, whose kernels want the
    widest batch, one."""
    count = -(-num_columns // CPU_COLUMN_CHUNK) if device.type == "cpu" else 1
    width = -(-num_columns // max(count, 1))
    return [slice(start, min(start + width, num_columns)) for start in range(0, num_columns, max(width, 1))]


class LayerNormGRUCell(nn.Module):
    """A GRU cell with per-gate layer normalisation of both projections.

    ``g_x = LN(W_x x)``, ``g_h = LN(W_h h)`` (each normalised over every gate's ``H``
    units separately, with its own gain and bias), then PyTorch's GRU equations with
    gates in its order (reset r, update z, new n):
    ``r = σ(g_x^r + g_h^r)``, ``z = σ(g_x^z + g_h^z)``, ``n = tanh(g_x^n + r ⊙ g_h^n)``,
    ``h' = (1 - z) ⊙ n + z ⊙ h``. A larger ``z`` keeps more of the state.

    The input half does not depend on the state, so :meth:`input_gates` runs a whole
    sequence at once and only :meth:`recur` loops over time.

    :param input_size: width of the input.
    :param hidden_size: units.
    :param update_gate_bias: initial bias of the update gate's input normalisation
        (``σ(1) ≈ 0.73`` of the state kept per step at the start, against 0.5 at 0).
    """

    def __init__(self, input_size: int, hidden_size: int, update_gate_bias: float = 0.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.gain_ih = nn.Parameter(torch.ones(3, hidden_size))
        self.bias_ih = nn.Parameter(torch.zeros(3, hidden_size))
        self.gain_hh = nn.Parameter(torch.ones(3, hidden_size))
        self.bias_hh = nn.Parameter(torch.zeros(3, hidden_size))
        bound = hidden_size**-0.5  # PyTorch's GRU initialisation
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        with torch.no_grad():
            self.bias_ih[1] = update_gate_bias

    @staticmethod
    def _normalise(projection: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        gates = projection.unflatten(-1, gain.shape)
        return torch.addcmul(bias, torch.layer_norm(gates, gates.shape[-1:]), gain)

    def input_gates(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., input_size]`` → the normalised input projection ``[..., 3, H]``."""
        return self._normalise(x @ self.weight_ih.T, self.gain_ih, self.bias_ih)

    def recur(self, input_gates: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """One step from the input gates ``[B, 3, H]`` and the state ``[B, H]``."""
        recurrent = self._normalise(hidden @ self.weight_hh.T, self.gain_hh, self.bias_hh)
        # reset and update gates in one call, n and the interpolation as fused ops: half the
        # kernels of the textbook form (the forward is the GRU's cost per step, which the
        # rollout and the line search pay at every step); split/unbind rather than slices,
        # whose backward fills a zero tensor per slice
        input_reset_update, input_new = input_gates.split([2, 1], dim=-2)
        recurrent_reset_update, recurrent_new = recurrent.split([2, 1], dim=-2)
        reset, update = torch.sigmoid(input_reset_update + recurrent_reset_update).unbind(-2)
        new = torch.tanh(torch.addcmul(input_new.squeeze(-2), reset, recurrent_new.squeeze(-2)))
        return torch.lerp(new, hidden, update)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """One step: ``x [B, input_size]``, ``hidden [B, H]`` → the next state."""
        return self.recur(self.input_gates(x), hidden)


class RecurrentNet(nn.Module):
    """Encoder → recurrent core → linear head; the building block of the policy and the value baseline.

    :param observation_space: one env's RL² ``Dict`` observation space.
    :param output_size: width of the head (number of actions for the policy, 1 for values).
    :param hidden_size: units of the recurrent core.
    :param embedding_size: width of the input embedding (0: none).
    :param head_gain: scale of the head's initial weights (small for the policy, so it
        starts close to uniform).
    :param cell: the recurrent core, one of :data:`CELLS` (module docstring).
    :param update_gate_bias: initial bias of the update gate (0: the cell's own default).
    :param extra_size: width of further inputs appended to the observation vector.
    :param tied_action_head: the head's weights are the core's candidate-gate input weights
        of ``prev_action`` (transposed), times a learnt scale that starts at ``head_gain``,
        plus its own bias: the output embedding of each action is its input embedding
        (weight tying, Press and Wolf 2017): the map from an action's input to its output
        is learnt through one set of weights rather than two (each still per action, and
        the bias too). Needs ``embedding_size=0``, a flat state and ``output_size`` = the
        number of actions.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        output_size: int,
        hidden_size: int,
        embedding_size: int,
        head_gain: float = 1.0,
        cell: str = "gru",
        update_gate_bias: float = 0.0,
        extra_size: int = 0,
        tied_action_head: bool = False,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; known: {', '.join(CELLS)}")
        self.hidden_size = hidden_size
        self.encoder = ObservationEncoder(observation_space, embedding_size, extra_size)
        self.tied_actions: slice | None = None
        if tied_action_head:
            num_actions = int(np.prod(observation_space["prev_action"].shape))
            if embedding_size or self.encoder.image or output_size != num_actions:
                raise ValueError(
                    "tied_action_head reads the core's input weights of prev_action: it needs embedding_size=0 "
                    f"(got {embedding_size}), a flat state (image: {self.encoder.image}) and output_size = the "
                    f"{num_actions} actions (got {output_size})"
                )
            start = int(np.prod(observation_space["obs"].shape))  # flatten_observation's order: obs, prev_action, ...
            self.tied_actions = slice(start, start + num_actions)
        self.gru: nn.GRU | LayerNormGRUCell
        if cell == "gru":
            self.gru = nn.GRU(self.encoder.output_size, hidden_size)
            with torch.no_grad():  # PyTorch's gate order is (r, z, n); both biases add up
                self.gru.bias_ih_l0[hidden_size : 2 * hidden_size] += update_gate_bias
        else:
            self.gru = LayerNormGRUCell(self.encoder.output_size, hidden_size, update_gate_bias)
        if self.tied_actions is None:
            self.head = nn.Linear(hidden_size, output_size)
            nn.init.orthogonal_(self.head.weight, head_gain)
            nn.init.zeros_(self.head.bias)
        else:
            self.head_scale = nn.Parameter(torch.tensor(float(head_gain)))
            self.head_bias = nn.Parameter(torch.zeros(output_size))

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The hidden state every trial starts from: zeros ``[batch_size, hidden_size]``."""
        return next(self.gru.parameters()).new_zeros(batch_size, self.hidden_size)

    def _head(self, features: torch.Tensor) -> torch.Tensor:
        if self.tied_actions is None:
            return self.head(features)
        weight_ih = self.gru.weight_ih if isinstance(self.gru, LayerNormGRUCell) else self.gru.weight_ih_l0
        candidate = weight_ih[2 * self.hidden_size:, self.tied_actions]  # gates in PyTorch's order (r, z, n)
        return self.head_bias + self.head_scale * (features @ candidate)

    def forward(
        self, observations: Observations, hidden: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run whole sequences: observations ``[T, B, ...]`` → outputs ``[T, B, output_size]``.

        :param hidden: ``[B, hidden_size]`` state before the first step (default: zeros,
            i.e. the sequences are trials from their start).
        :return: ``(outputs, final hidden state [B, hidden_size])``. With
            ``observations.lengths``, the steps past a column's length are padding: their
            outputs are not its trial's (the CPU repeats the last state, CUDA gives the
            head's output of zeros) and its final state is the one after its last step.
        """
        if hidden is None:
            hidden = self.initial_state(observations.vector.shape[1])
        chunks = column_chunks(hidden.shape[0], hidden.device)
        if len(chunks) > 1:
            parts = [self.forward(observations.index((slice(None), c)), hidden[c]) for c in chunks]
            return torch.cat([out for out, _ in parts], 1), torch.cat([last for _, last in parts], 0)
        inputs = self.encoder(observations)
        steps = inputs.shape[0]
        lengths = observations.lengths
        if lengths is not None and bool((lengths >= steps).all()):
            lengths = None  # every column runs every step: nothing to skip
        if isinstance(self.gru, LayerNormGRUCell):
            inputs = self.gru.input_gates(inputs)  # the state-free half, all steps at once
            cell = self.gru.recur
        elif inputs.is_cuda:
            features, last = self._gru_pass(inputs, hidden, lengths)
            return self._head(features), last
        else:
            # On the CPU a loop of fused GRU-cell calls beats nn.GRU's kernel: 1.89 s against
            # 2.65 s forward, 5.50 s against 10.49 s forward + backward (GRU(256), 100 steps x
            # 2,500 trials, one thread; benchmark_agents.py --gru-kernels). It also has a
            # double backward (fvp="exact").
            cell = self._cell
        features = []
        for t, x in enumerate(inputs.unbind(0)):
            if lengths is None:
                hidden = cell(x, hidden)
            else:
                # only the trials still running: a padded batch of short trials (mazes)
                # costs its steps, not its longest trial times its width
                alive = (lengths > t).nonzero().squeeze(1)
                hidden = hidden.index_copy(0, alive, cell(x[alive], hidden[alive]))
            features.append(hidden)
        return self._head(torch.stack(features)), hidden

    def _gru_pass(
        self, inputs: torch.Tensor, hidden: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ``nn.GRU`` call over ``[T, B]`` (cuDNN on CUDA); packed when the trials have
        different lengths, so that the padding costs nothing. Outputs past a trial's end are 0."""
        if lengths is None:
            features, last = self.gru(inputs, hidden.unsqueeze(0))
            return features, last.squeeze(0)
        packed = nn.utils.rnn.pack_padded_sequence(inputs, lengths.cpu(), enforce_sorted=False)
        features, last = self.gru(packed, hidden.unsqueeze(0))
        return nn.utils.rnn.pad_packed_sequence(features, total_length=inputs.shape[0])[0], last.squeeze(0)

    def step(self, observations: Observations, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for a batch: observations ``[B, ...]`` → ``(outputs [B, O], hidden [B, H])``."""
        hidden = self._cell(self.encoder(observations), hidden)
        return self._head(hidden), hidden

    def _cell(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        gru = self.gru
        if isinstance(gru, LayerNormGRUCell):
            return gru(x, hidden)
        return torch.gru_cell(x, hidden, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)


class ValueNet(RecurrentNet):
    """The separate GRU value baseline, predicting in normalised units.

    The head predicts ``(V - mean) / std`` for running statistics of the value targets
    (trial returns grow with the trial length: ~50 at the start of a 100-pull bandit
    trial). When the statistics move, the head is rescaled so that its predictions in
    return units do not change (PopArt's "preserving outputs precisely", van Hasselt
    et al. 2016).

    :param observation_space: one env's RL² ``Dict`` observation space.
    :param hidden_size: units of the recurrent core.
    :param embedding_size: width of the input embedding.
    :param cell: the recurrent core, one of :data:`CELLS`.
    :param update_gate_bias: initial bias of its update gate.
    :param task_size: width of the task features it also sees at every step (0: none, the
        paper's baseline; :attr:`agents.rl2.config.RL2Config.value_task_features`).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        hidden_size: int,
        embedding_size: int,
        cell: str = "gru",
        update_gate_bias: float = 0.0,
        task_size: int = 0,
    ) -> None:
        super().__init__(
            observation_space, 1, hidden_size, embedding_size, cell=cell, update_gate_bias=update_gate_bias,
            extra_size=task_size,
        )
        self.task_size = task_size
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def with_task(self, observations: Observations, task_features: torch.Tensor | None) -> Observations:
        """The input of whole trials ``[T, B]``: the observations, and each trial's task
        features ``[B, F]`` repeated at every step when this baseline sees the task.

        :raises ValueError: if the features are missing or of the wrong width for this baseline.
        """
        if self.task_size == 0:
            if task_features is not None:
                raise ValueError("this value baseline does not see the task; pass task_features=None")
            return observations
        if task_features is None or task_features.shape[-1] != self.task_size:
            got = None if task_features is None else tuple(task_features.shape)
            raise ValueError(f"this value baseline needs task features [B, {self.task_size}], got {got}")
        vector = observations.vector
        task = task_features.to(vector.dtype).unsqueeze(0).expand(vector.shape[0], -1, -1)
        return observations._replace(vector=torch.cat([vector, task], dim=-1))

    def values(self, observations: Observations, task_features: torch.Tensor | None = None) -> torch.Tensor:
        """Values of whole trials in return units: ``[T, B]``.

        :param task_features: ``[B, F]``, for a baseline that sees the task (:meth:`with_task`).
        """
        prediction = self.forward(self.with_task(observations, task_features))[0].squeeze(-1)
        return prediction * self.target_std + self.target_mean

    def normalize(self, targets: torch.Tensor) -> torch.Tensor:
        """Targets in the head's units."""
        return (targets - self.target_mean) / self.target_std

    @torch.no_grad()
    def update_statistics(self, targets: torch.Tensor, min_weight: float = 0.1) -> None:
        """Move the running mean/std towards ``targets`` (1-D), keeping predictions unchanged.

        The first batches are averaged with equal weight, later ones with weight
        ``min_weight`` (an exponential moving average).
        """
        self.updates += 1
        weight = max(1.0 / float(self.updates), min_weight)
        old_mean, old_std = self.target_mean.clone(), self.target_std.clone()
        second = (1 - weight) * (old_std**2 + old_mean**2) + weight * targets.pow(2).mean()
        self.target_mean.mul_(1 - weight).add_(weight * targets.mean())
        self.target_std.copy_((second - self.target_mean**2).clamp_min(1e-8).sqrt())
        self.head.weight.mul_(old_std / self.target_std)
        self.head.bias.mul_(old_std).add_(old_mean - self.target_mean).div_(self.target_std)
