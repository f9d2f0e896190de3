"""Hyperparameters of the RL² learners, with the RL² paper's values as defaults.

:class:`RL2Config` holds what every update rule shares (networks, discount, GAE, value
baseline, batch); :class:`TRPOConfig` adds the paper's TRPO step and :class:`PPOConfig`
a clipped-surrogate step on the same engine.

Sources: the paper's appendix (Duan et al. 2016, arXiv 1611.02779) fixes the GRU size, γ,
GAE λ, the mean-KL bound and the batch size; the paper ran TRPO from rllab, so the
conjugate-gradient and line-search settings it does not state are rllab's
``ConjugateGradientOptimizer`` defaults. Every field says where its default comes from.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import gymnasium as gym

from agents.rl2.policy import CELLS, is_image_space
from meta_envs.validation import check_int, check_number

#: Fisher-vector-product routes (see :mod:`agents.rl2.trpo`)
FVP_ROUTES = ("jacobian", "kl_grad_diff", "exact")


def value_core(cell: str, value_cell: str) -> str:
    """The value baseline's recurrent core: ``value_cell``, or the policy's ``cell`` where it is ``same``."""
    return cell if value_cell == "same" else value_cell


@dataclasses.dataclass(frozen=True)
class RL2Config:
    """What shapes an RL² run under any update rule, except the environment, seed and device."""

    hidden_size: int = 256
    """Units of the policy's recurrent core (paper: a GRU of 256)."""

    embedding_size: int = 0
    """Width of a linear + tanh embedding in front of each GRU; 0 feeds the
    flattened observation (one-hot s, one-hot a, r, d) straight into the GRU. The
    paper embeds its input without giving a width or nonlinearity; a linear
    embedding is what the GRU's input weights already compute, so none is the
    default (and the cheapest). Image states need one after the CNN."""

    tied_action_head: bool = False
    """Tie the policy head to the GRU's input weights of the previous action
    (:class:`agents.rl2.policy.RecurrentNet`): each action's output embedding is its input
    embedding (still one per action, with a bias per action). The paper's head is untied.
    On MetaBandit k=50, n=100 the untied agent learnt to stay on a winning arm for only the
    5 arms it pulled most (P(stay | win) 0.98 on those, 0.03 on the other 45); tied, from
    scratch, it fell into the same trap (0.84 against 0.01 at 4.85M steps,
    docs/rl2_ablation.md). Needs ``embedding_size=0`` and a flat state."""

    value_hidden_size: int = 128
    """Units of the value baseline's own GRU (paper: a separate GRU network for
    bandits and MDPs, size not given). 128 costs a quarter of the policy GRU per
    step; on MetaBandit (k=5, n=10, 100 iterations of 10,000 steps) it reached the
    same return as 256 units (6.66 vs 6.68, ±0.14)."""

    cell: Literal["gru", "layernorm_gru"] = "gru"
    """Recurrent core of the policy and the value baseline: ``gru`` (the paper's) or
    ``layernorm_gru`` (per-gate layer normalisation, :class:`agents.rl2.policy.LayerNormGRUCell`)."""

    value_cell: Literal["same", "gru", "layernorm_gru"] = "same"
    """Recurrent core of the value baseline: ``same`` as the policy's (``cell``), or one of
    the cores. A plain ``gru`` baseline under a layer-normalised policy runs on PyTorch's
    fused cell (docs/rl2_ablation.md measures what it costs the learner)."""

    value_task_features: bool = False
    """Let the value baseline also see the current task's parameters (the env's
    ``task_features()``: a bandit's arm probabilities, a tabular MDP's reward means and
    transitions), concatenated to its input at every step; the policy never sees them, and
    an agent plays without the baseline. The pair (history, task) is a Markov state of the
    trial, so the baseline stays a valid one (the policy gradient's expectation does not
    change) and can separate the luck of the task from the worth of an action
    (an asymmetric actor-critic, Pinto et al. 2017). Off: the paper's baseline."""

    update_gate_bias: float = 0.0
    """Initial bias of the update gate, in [-10, 10] (positive: keep more of the state per
    step at the start); 0 is PyTorch's GRU initialisation."""

    gamma: float = 0.99
    """Discount across the whole trial (paper: 0.99)."""

    gae_lambda: float = 0.3
    """GAE λ (paper: 0.3 for bandits and MDPs, 0.99 for navigation)."""

    normalize_advantages: bool = True
    """Scale the batch's advantages to mean 0, std 1 before the policy step."""

    entropy_coef: float = 0.0
    """Weight of the policy's mean entropy added to the surrogate (0: TRPO as the paper ran
    it). A small bonus keeps a meta-policy from turning deterministic before it has
    learned to explore (the public PPO reproduction of RL², lucaslingle/pytorch_rl2,
    uses 0.01)."""

    steps_per_iteration: int = 250_000
    """Environment steps collected per iteration, rounded up to whole trials
    (paper: 250,000 for bandits and MDPs, 50,000 for navigation)."""

    value_targets: Literal["returns", "lambda_returns"] = "returns"
    """What the value baseline is fitted to: ``returns``, the discounted returns of the
    rest of the trial (Monte Carlo; what rllab's baselines, which the paper used, are
    fitted to), or ``lambda_returns``, GAE's ``A + V``, which lean on the baseline itself
    (with λ = 0.3 mostly on its next prediction)."""

    value_lr: float = 1e-3
    """Adam learning rate of the value baseline."""

    value_epochs: int = 2
    """Passes over the iteration's trials when fitting the value baseline."""

    value_minibatches: int = 4
    """Minibatches (groups of whole trials) per value epoch."""

    def __post_init__(self) -> None:
        check_int("embedding_size", self.embedding_size, 0)
        for name in ("hidden_size", "value_hidden_size", "steps_per_iteration", "value_epochs", "value_minibatches"):
            check_int(name, getattr(self, name), 1)
        check_number("gamma", self.gamma, 0.0, 1.0)
        check_number("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_number("value_lr", self.value_lr, 1e-12, float("inf"))
        check_number("entropy_coef", self.entropy_coef, 0.0, float("inf"))
        check_number("update_gate_bias", self.update_gate_bias, -10.0, 10.0)  # σ(±10): a gate stuck at 0 or 1
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {list(CELLS)}, got {self.cell!r}")
        if self.value_cell not in ("same", *CELLS):
            raise ValueError(f"value_cell must be one of {['same', *CELLS]}, got {self.value_cell!r}")
        for name in ("normalize_advantages", "value_task_features", "tied_action_head"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.value_targets not in ("returns", "lambda_returns"):
            raise ValueError(f"value_targets must be 'returns' or 'lambda_returns', got {self.value_targets!r}")


@dataclasses.dataclass(frozen=True)
class TRPOConfig(RL2Config):
    """The paper's learner: :class:`RL2Config` and a TRPO step (:mod:`agents.rl2.trpo`)."""

    max_kl: float = 0.01
    """Bound on the mean KL(old ‖ new) of one policy update (paper: 0.01)."""

    cg_iterations: int = 10
    """Conjugate-gradient iterations for the natural-gradient direction (rllab: 10)."""

    cg_damping: float = 1e-3
    """λ in (F + λI)x = g: keeps the finite-difference Fisher well conditioned
    (rllab's reg_coeff is 1e-5 with an exact product; a finite-difference
    product is noisier, so a larger value)."""

    line_search_steps: int = 15
    """Most backtracking steps before the update is rolled back (rllab: 15)."""

    line_search_backtrack: float = 0.8
    """Step shrink factor per backtrack (rllab: 0.8)."""

    fvp: Literal["jacobian", "kl_grad_diff", "exact"] = "jacobian"
    """How the Fisher-vector product is computed: ``jacobian`` (Jᵀ M J v with the
    categorical head's Fisher M and Jv by central finite differences of the logits;
    works under cuDNN), ``kl_grad_diff`` (central finite differences of the KL
    gradient; works under cuDNN) or ``exact`` (double backward, CPU only: CUDA's GRU
    kernels have no double backward)."""

    fvp_subsample: float = 0.05
    """Fraction of the iteration's trials the Fisher-vector products are computed on
    (whole trials; rllab's default is 1.0); the line search also screens its candidate
    steps on them. On the paper's bandit batch (2,500 trials of 100 pulls) the step from
    5% of the trials points the same way as the step from all of them (cosine 0.998,
    norm 0.94 of it) in 4.6 s instead of 124 s (``python scripts/studies/fvp_subsample.py``,
    2-core CPU, one thread); the bound itself is always checked on the whole batch.
    What counts is the number of trials, not the fraction: at 500 trials 5% is 25, and on a
    sharp k=50 policy (entropy 0.06) that step has cosine 0.46 to the whole batch's and a
    third of the updates roll back (``docs/rl2_ablation.md``, "a Fisher matrix from 25
    trials"); keep 125 or more, e.g. ``--fvp-subsample 0.25`` at 500 trials."""

    fvp_fd_eps: float = 1e-3
    """Finite-difference step of the ``jacobian`` and ``kl_grad_diff`` routes,
    relative: the parameters move by ``fvp_fd_eps * (1 + ‖θ‖)`` along v."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("cg_iterations", self.cg_iterations, 1)
        check_int("line_search_steps", self.line_search_steps, 1)
        check_number("max_kl", self.max_kl, 1e-12, float("inf"))
        check_number("cg_damping", self.cg_damping, 0.0, float("inf"))
        check_number("line_search_backtrack", self.line_search_backtrack, 1e-6, 1.0 - 1e-6)
        check_number("fvp_subsample", self.fvp_subsample, 1e-6, 1.0)
        check_number("fvp_fd_eps", self.fvp_fd_eps, 1e-12, 1.0)
        if self.fvp not in FVP_ROUTES:
            raise ValueError(f"fvp must be one of {list(FVP_ROUTES)}, got {self.fvp!r}")


@dataclasses.dataclass(frozen=True)
class PPOConfig(RL2Config):
    """:class:`RL2Config` and a PPO-clip step (:mod:`agents.rl2.ppo`): several epochs of
    Adam on minibatches of whole trials, each trial run from its start (backpropagation
    through the whole trial)."""

    learning_rate: float = 3e-4
    """Adam learning rate of the policy."""

    epochs: int = 4
    """Passes over the iteration's trials per policy update."""

    minibatches: int = 5
    """Minibatches (groups of whole trials) per epoch."""

    clip_range: float = 0.1
    """ε of the clipped surrogate ``min(ρA, clip(ρ, 1-ε, 1+ε)A)`` (the public RL² PPO
    reproduction, lucaslingle/pytorch_rl2, uses 0.1)."""

    max_grad_norm: float = 0.5
    """Clip the policy gradient's global norm to this before each Adam step."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("epochs", self.epochs, 1)
        check_int("minibatches", self.minibatches, 1)
        check_number("learning_rate", self.learning_rate, 1e-12, float("inf"))
        check_number("clip_range", self.clip_range, 1e-6, 1.0)
        check_number("max_grad_norm", self.max_grad_norm, 1e-12, float("inf"))


def paper_defaults(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters the paper sets per family, where they differ from :class:`TRPOConfig`'s.

    Navigation (the maze family, ``MetaMaze*``): GAE λ 0.99 and 50,000 steps per
    iteration. Image states (e.g. the maze's pixel mode) get a 256-wide embedding after
    the CNN, since the GRU needs one there.

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the family's keyword arguments.
    """
    defaults: dict[str, Any] = {}
    if env_id.startswith("MetaMaze"):
        defaults.update(gae_lambda=0.99, steps_per_iteration=50_000)
    env = gym.make(env_id, **env_kwargs)
    if is_image_space(env.observation_space["obs"]):
        defaults["embedding_size"] = 256
    env.close()
    return defaults
