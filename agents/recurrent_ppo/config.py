"""Hyperparameters of RL² with sb3-contrib's RecurrentPPO, and the per-family values that learn.

The dataclass defaults are sb3-contrib's ``RecurrentPPO`` defaults except where a field
says otherwise; :func:`family_defaults` then sets, per env, the rollout length (whole
trials, see below) and the values found by tuning runs (listed, with their numbers, in
its docstring).

Rollouts, trials and truncated backprop
---------------------------------------
RecurrentPPO collects ``n_steps`` steps from each of ``num_envs`` sub-envs per iteration
and trains on sequences cut from those rows: a sequence starts at an episode start (a
*trial* start: one trial is one Gymnasium episode) or at the row's first step.
:func:`family_defaults` sets ``n_steps`` to a whole number of the longest trials
(``num_episodes x horizon``):

* fixed-length trials (bandits, tabular MDPs): every sub-env starts a trial at reset and
  all trials have that length, so each rollout row is a run of whole trials, each one a
  training sequence: backpropagation through time runs over the whole trial;
* trials shorter than ``n_steps`` (a maze trial ends when the last episode reaches the
  goal) or ``n_steps`` set below the trial length: a trial then runs over a rollout
  boundary. sb3-contrib carries the recurrent state across it (``RecurrentPPO.collect_rollouts``
  starts each rollout from ``deepcopy(self._last_lstm_states)`` and stores the state
  before every step in the buffer), so acting is unaffected; but training sequences
  start at a row's first step too (``create_sequencers``: episode starts or
  ``env_change``), from the state stored there (``_get_samples``): the trial's later part
  is trained without gradient into its earlier part (truncated BPTT), from a state the
  policy before the update computed. (Read in sb3-contrib 2.9's ``ppo_recurrent.py`` and
  ``common/recurrent/buffers.py``.)

Minibatches (``n_minibatches``) cut the rollout, flattened sub-env by sub-env, into
contiguous chunks of ``n_steps x num_envs / n_minibatches`` steps, starting at a random
offset (sb3-contrib's ``RecurrentRolloutBuffer.get``): the trials within a chunk are
whole sequences, and the (at most ``n_minibatches``) trials crossing a chunk boundary
are split the same way, with the stored state at the cut.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from meta_envs.settings import max_trial_length
from meta_envs.validation import check_int, check_number


@dataclasses.dataclass(frozen=True)
class RecurrentPPOConfig:
    """Everything that shapes a RecurrentPPO run except the environment, seed and device."""

    policy: Literal["lstm", "gru"] = "lstm"
    """Recurrent cell: sb3-contrib's LSTM, or a GRU (like TRPO-GRU; see agents.recurrent_ppo.policy)."""

    hidden_size: int = 256
    """Units of the recurrent layer (sb3-contrib: 256, also the RL² paper's GRU width)."""

    critic: Literal["separate", "shared", "mlp"] = "separate"
    """Value function: its own recurrent layer (sb3-contrib's default), the actor's
    (shared; only the policy loss trains it) or a feed-forward net on the features."""

    mlp_width: int = 64
    """Units of each hidden layer between the recurrent output and the policy and value
    heads (sb3: 64)."""

    mlp_depth: int = 2
    """Hidden layers there (sb3: 2; 0 puts the heads straight on the recurrent output)."""

    cnn_features: int = 256
    """Output width of the NatureCNN that image observations go through (SB3: 256)."""

    learning_rate: float = 3e-4
    """Adam learning rate (sb3-contrib: 3e-4)."""

    n_steps: int = 128
    """Steps per sub-env per rollout (sb3-contrib: 128; family_defaults: one whole trial)."""

    n_minibatches: int = 1
    """Minibatches per epoch, cut from the rollout of n_steps x num_envs steps
    (sb3-contrib's batch_size = n_steps x num_envs / n_minibatches)."""

    n_epochs: int = 10
    """Passes over each rollout (sb3-contrib: 10)."""

    gamma: float = 0.99
    """Discount across the whole trial (sb3-contrib and the RL² paper: 0.99)."""

    gae_lambda: float = 0.95
    """GAE λ (sb3-contrib: 0.95)."""

    clip_range: float = 0.2
    """PPO's ratio clip (sb3-contrib: 0.2)."""

    ent_coef: float = 0.0
    """Entropy bonus coefficient (sb3-contrib: 0)."""

    vf_coef: float = 0.5
    """Value loss coefficient (sb3-contrib: 0.5)."""

    max_grad_norm: float = 0.5
    """Gradient norm clip (sb3-contrib: 0.5)."""

    target_kl: float = 0.0
    """Stop an update's epochs once the approximate KL exceeds 1.5 x this; 0 = no limit
    (sb3-contrib: no limit)."""

    normalize_advantage: bool = True
    """Scale each minibatch's advantages to mean 0, std 1 (sb3-contrib: on)."""

    def __post_init__(self) -> None:
        for name in ("hidden_size", "mlp_width", "cnn_features", "n_steps", "n_minibatches", "n_epochs"):
            check_int(name, getattr(self, name), 1)
        check_int("mlp_depth", self.mlp_depth, 0)
        check_number("learning_rate", self.learning_rate, 1e-12, float("inf"))
        check_number("gamma", self.gamma, 0.0, 1.0)
        check_number("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_number("clip_range", self.clip_range, 1e-12, float("inf"))
        for name in ("ent_coef", "vf_coef", "target_kl"):
            check_number(name, getattr(self, name), 0.0, float("inf"))
        check_number("max_grad_norm", self.max_grad_norm, 1e-12, float("inf"))
        if not isinstance(self.normalize_advantage, bool):
            raise TypeError(f"normalize_advantage must be a bool, got {self.normalize_advantage!r}")
        if self.policy not in ("lstm", "gru"):
            raise ValueError(f"policy must be 'lstm' or 'gru', got {self.policy!r}")
        if self.critic not in ("separate", "shared", "mlp"):
            raise ValueError(f"critic must be 'separate', 'shared' or 'mlp', got {self.critic!r}")

    def policy_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :class:`~agents.recurrent_ppo.policy.RL2RecurrentPolicy`."""
        return {
            "rnn": self.policy,
            "lstm_hidden_size": self.hidden_size,
            "shared_lstm": self.critic == "shared",
            "enable_critic_lstm": self.critic == "separate",
            "net_arch": [self.mlp_width] * self.mlp_depth,
            "features_extractor_kwargs": {"cnn_output_dim": self.cnn_features},
        }


#: per family (env ID prefix): steps per sub-env per rollout that ``n_steps`` is rounded up
#: from to whole trials, and the tuned hyperparameters (see :func:`family_defaults`)
FAMILY_DEFAULTS: dict[str, tuple[int, dict[str, Any]]] = {
    "MetaBandit": (40, {"learning_rate": 1e-3, "n_minibatches": 8}),
    "MetaTabularMDP": (400, {"learning_rate": 1e-3, "n_minibatches": 8, "gae_lambda": 0.3}),
    "MetaMaze": (1, {"learning_rate": 1e-3, "n_minibatches": 8}),
}


def family_defaults(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters for ``env_id`` that differ from :class:`RecurrentPPOConfig`'s defaults.

    ``n_steps`` is a whole number of the longest trials (:func:`max_trial_length`), at
    least the family's rollout length per sub-env in :data:`FAMILY_DEFAULTS`, so every
    rollout row holds whole trials where trials have a fixed length (module docstring).

    Where the values come from: short runs on this project's 2-core CPU, LSTM 256 with a
    separate critic LSTM and 10 epochs (sb3-contrib's defaults) unless said otherwise,
    each scored on held-out tasks (seed 0) against the random policy.

    * Bandit (``MetaBandit-v0``, k=5, n=10; random 5.00, Gittins 6.73), 250,000 steps,
      256 sub-envs x one 10-pull trial, 2000 tasks: lr 1e-3 with 1/4/8 minibatches
      6.01 ± 0.23 (200,000 steps, 500 tasks) / 6.00 ± 0.11 / **6.24 ± 0.10**; 8 minibatches
      with lr 3e-4 6.04 ± 0.11; 4 minibatches and 4 epochs 5.93 ± 0.11; one minibatch with
      lr 3e-3 6.09 ± 0.22, GAE λ 0.3 5.85 ± 0.22, no MLP layers 5.78 ± 0.22 (200,000 steps,
      500 tasks). sb3-contrib's defaults (lr 3e-4, 128-step minibatches) were at
      5.09 ± 0.18 after 64,000 steps. The chosen values through ``scripts/train.py
      --algo recurrent_ppo`` (64 sub-envs x 40 steps, 250,000 steps, 1000 tasks):
      LSTM 6.29 ± 0.15 (226 s of training), ``--policy gru`` 6.31 ± 0.14 (227 s).
    * Tabular MDP (``MetaTabularMDP-v0``, n=10; random 99.4 ± 1.3, greedy 134.9), 1000
      tasks: lr 1e-3, 8 minibatches, one 100-step trial per rollout row: 100.3 ± 1.3 after
      160,000 steps (GAE λ 0.95), 99.6 ± 1.4 after 200,000 (λ 0.3); four trials per row
      (32 trials per minibatch) and λ 0.3 (the paper's value for MDPs): **103.5 ± 1.6**
      after 1,000,000 steps (1072 s; per-episode return rising from 9.96 to 10.34 within
      the trial). This family learns slowly: the RL² paper trained for far longer.
    * Maze (``MetaMaze-v0``; random −17.6 ± 0.3, goal reached in 19% / 18% of episodes
      1 / 2), 1000 tasks: lr 1e-3, 8 minibatches, one 500-step trial per row:
      **−13.2 ± 0.5**, 45% / 45% after 320,000 steps (910 s); not yet faster in episode 2.

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the family's keyword arguments.
    """
    trial = max_trial_length(env_id, env_kwargs)
    family = next((prefix for prefix in FAMILY_DEFAULTS if env_id.startswith(prefix)), None)
    if family is None:
        return {"n_steps": trial}
    steps, tuned = FAMILY_DEFAULTS[family]
    return {"n_steps": trial * -(-steps // trial), **tuned}
