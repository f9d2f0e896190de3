"""The recurrent actor-critic policy RecurrentPPO trains here: sb3-contrib's, with a GRU option.

:class:`RL2RecurrentPolicy` subclasses sb3-contrib's ``RecurrentActorCriticPolicy`` (no
patching of the library) and changes two things:

* ``rnn="gru"`` replaces the actor's (and the critic's) ``nn.LSTM`` by
  :class:`GRUWithCellState`, so the comparison with TRPO-GRU is like for like. sb3-contrib
  treats the recurrent state as an LSTM's ``(h, c)`` pair everywhere (the rollout buffer
  stores ``hidden_states_*`` and ``cell_states_*``; ``_process_sequence`` masks both at
  episode starts and calls ``lstm(x, (h, c))``; ``RecurrentPPO`` reads ``lstm.num_layers``,
  ``lstm.hidden_size`` and ``lstm.input_size``). :class:`GRUWithCellState` is an ``nn.GRU``
  with that interface: it takes ``(h, c)``, runs the GRU on ``h`` and hands ``c`` back
  unchanged. ``c`` starts at zeros and stays zeros, a dummy that costs one extra state
  copy per step and nothing else; the GRU's own math is untouched.
* A faster ``_process_sequence``. The library runs its RNN one step at a time in Python
  whenever any step of a minibatch starts an episode, and every training sequence starts
  one (the buffer cuts sequences at episode starts), so with one trial per sequence
  training always took the slow loop. Episode starts can only be the *first* step of a
  sequence there (and the only step during rollouts), so masking the state once and
  running the RNN over the whole sequence in one call computes the same thing; the
  library's loop is kept for any input with a start later in a sequence.

Episode starts are trial starts: one trial is one Gymnasium episode, so the state is
carried across the inner episodes of a trial (``prev_done`` tells the policy where they
end) and zeroed only when a new trial (task) begins.
"""

from __future__ import annotations

from typing import Any, Literal

import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

RNN_TYPES = ("lstm", "gru")


class GRUWithCellState(nn.GRU):
    """An ``nn.GRU`` with ``nn.LSTM``'s call signature: ``(x, (h, c)) -> (out, (h', c))``.

    ``c`` is passed through untouched (see the module docstring); only ``h`` is the GRU's state.
    """

    def forward(  # type: ignore[override]
        self, input: th.Tensor, states: tuple[th.Tensor, th.Tensor]
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor]]:
        hidden, cell = states
        output, hidden = super().forward(input, hidden)
        return output, (hidden, cell)


class RL2RecurrentPolicy(RecurrentActorCriticPolicy):
    """sb3-contrib's recurrent actor-critic with a choice of LSTM or GRU (module docstring).

    Observations are the RL² ``Dict``; the default features extractor is SB3's
    ``CombinedExtractor`` (image keys through a NatureCNN, the rest flattened).

    :param rnn: ``"lstm"`` (sb3-contrib's) or ``"gru"`` (:class:`GRUWithCellState`).
    :param args: ``RecurrentActorCriticPolicy``'s positional arguments.
    :param kwargs: its keyword arguments (``lstm_hidden_size``, ``n_lstm_layers``,
        ``shared_lstm``, ``enable_critic_lstm``, ``lstm_kwargs``, ``net_arch``, ...).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        rnn: Literal["lstm", "gru"] = "lstm",
        features_extractor_class: type = CombinedExtractor,
        **kwargs: Any,
    ) -> None:
        if rnn not in RNN_TYPES:
            raise ValueError(f"rnn must be one of {list(RNN_TYPES)}, got {rnn!r}")
        super().__init__(
            observation_space, action_space, lr_schedule, *args, features_extractor_class=features_extractor_class, **kwargs
        )
        self.rnn = rnn
        if rnn == "gru":
            # Built by the parent as nn.LSTM; replaced in place (same attribute, same
            # position among the modules), then the optimizer is rebuilt over the new
            # parameters exactly as the parent built it.
            layers = self.lstm_actor.num_layers
            self.lstm_actor = GRUWithCellState(self.features_dim, self.lstm_output_dim, layers, **self.lstm_kwargs)
            if self.lstm_critic is not None:
                self.lstm_critic = GRUWithCellState(self.features_dim, self.lstm_output_dim, layers, **self.lstm_kwargs)
            self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    @staticmethod
    def _process_sequence(
        features: th.Tensor,
        lstm_states: tuple[th.Tensor, th.Tensor],
        episode_starts: th.Tensor,
        lstm: nn.Module,
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """Run the RNN over ``n_seq`` padded sequences; the state is zeroed at episode starts."""
        n_seq = lstm_states[0].shape[1]
        starts = episode_starts.reshape((n_seq, -1))
        if starts[:, 1:].any():  # a start inside a sequence: the library's step-by-step loop
            return RecurrentActorCriticPolicy._process_sequence(features, lstm_states, episode_starts, lstm)
        keep = (1.0 - starts[:, 0]).view(1, n_seq, 1)
        sequence = features.reshape((n_seq, -1, lstm.input_size)).swapaxes(0, 1)
        output, states = lstm(sequence, (keep * lstm_states[0], keep * lstm_states[1]))
        return th.flatten(output.transpose(0, 1), start_dim=0, end_dim=1), states
