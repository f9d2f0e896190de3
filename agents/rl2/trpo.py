"""The TRPO update rule on whole trials: conjugate gradient, Fisher-vector products, line search.

The batch and its advantages come from :mod:`agents.rl2.trials`.

Policy step
    The natural gradient ``s = F⁻¹ g`` comes from conjugate gradient on Fisher-vector
    products, scaled to the trust region ``½ sᵀFs = max_kl``; a backtracking line search
    accepts the first step whose mean KL(old ‖ new) on the *whole* batch is at most
    ``max_kl`` and whose surrogate improves; if none does, the parameters are rolled back.
    The Fisher-vector products run on a random subsample of whole trials
    (``TRPOConfig.fvp_subsample``), and the line search first screens each candidate by
    its mean KL on that subsample, so that it pays for a forward pass over the whole
    batch only for a step that is likely to be accepted.

Fisher-vector products (``TRPOConfig.fvp``)
    F is the Hessian of the mean KL at the old parameters. For a categorical policy it
    equals ``Jᵀ M J`` with ``J = ∂logits/∂θ`` and ``M = diag(p) - p pᵀ`` per step.

    * ``jacobian``: ``Jv`` by central finite differences of the logits (two forward
      passes of a probe copy of the network at ``θ ± εv``), then ``M``, then ``Jᵀ(·)``
      by one backward pass through a graph kept from ``θ``. Only forward and first-order
      backward passes, so it runs on cuDNN, whose GRU refuses double backward.
    * ``kl_grad_diff``: central finite differences of the KL gradient,
      ``(∇KL(θ+εv) - ∇KL(θ-εv)) / 2ε``; also first-order only.
    * ``exact``: the Hessian-vector product by double backward (CPU only); the
      reference the others are tested against.

    Under CUDA the update runs with IEEE float32 (no TF32) so that the finite
    differences are not swamped by TF32's 10-bit mantissa.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from collections.abc import Callable, Iterator

import torch
from torch import nn

from agents.rl2.config import TRPOConfig
from agents.rl2.policy import RecurrentNet
from agents.rl2.trials import TrialData, masked_mean


@dataclasses.dataclass
class UpdateStats:
    """What one TRPO policy step did (all logged)."""

    kl: float
    """Mean KL(old ‖ new) on the whole batch after the step (0 if rolled back)."""
    entropy: float
    """Mean entropy of the old policy per step."""
    surrogate_gain: float
    """Surrogate objective after minus before the step."""
    expected_gain: float
    """The linear model's prediction ``g·Δθ`` for the accepted (or full) step."""
    line_search_steps: int
    """Backtracks before acceptance (``line_search_steps`` of the config if rolled back)."""
    accepted: bool
    """False when the line search failed and the parameters were rolled back."""
    line_search_forwards: int
    """Forward passes over the whole batch the line search paid for."""
    gradient_s: float
    """Seconds for the policy forward + backward pass of the surrogate gradient."""
    natural_gradient_s: float
    """Seconds for conjugate gradient on Fisher-vector products (and the step's curvature)."""
    line_search_s: float
    """Seconds for the line search."""


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iterations: int,
    residual_tol: float = 1e-10,
) -> torch.Tensor:
    """Approximately solve ``A x = b`` for a symmetric positive-definite ``A``.

    :param matvec: ``v ↦ A v``.
    :param b: right-hand side.
    :param iterations: at most this many iterations (exact after ``len(b)`` in exact arithmetic).
    :param residual_tol: stop when the squared residual norm falls below this.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r.dot(r)
    for _ in range(iterations):
        if rr.item() < residual_tol:
            break
        ap = matvec(p)
        alpha = rr / p.dot(ap)
        x += alpha * p
        r -= alpha * ap
        rr_new = r.dot(r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def flat_parameters(module: nn.Module) -> torch.Tensor:
    """All parameters of ``module`` as one detached vector."""
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


@torch.no_grad()
def assign_flat_parameters_(module: nn.Module, flat: torch.Tensor) -> None:
    """Copy ``flat`` into the parameters in place (keeps cuDNN's flat weight buffer valid)."""
    offset = 0
    for p in module.parameters():
        p.copy_(flat[offset : offset + p.numel()].view_as(p))
        offset += p.numel()


def flat_gradient(grads: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Per-parameter gradients as one vector (the layout of :func:`flat_parameters`)."""
    return torch.cat([g.reshape(-1) for g in grads])


def categorical_kl(old_logits: torch.Tensor, new_logits: torch.Tensor) -> torch.Tensor:
    """KL(old ‖ new) per step of two categorical distributions given by logits ``[..., K]``."""
    old_log_p = torch.log_softmax(old_logits, -1)
    return (old_log_p.exp() * (old_log_p - torch.log_softmax(new_logits, -1))).sum(-1)


@contextlib.contextmanager
def ieee_float32() -> Iterator[None]:
    """Run CUDA float32 matmuls, convolutions and cuDNN RNNs without TF32 (no-op on CPU)."""
    settings = (torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn)
    saved = [s.fp32_precision for s in settings]
    for s in settings:
        s.fp32_precision = "ieee"
    try:
        yield
    finally:
        for s, value in zip(settings, saved):
            s.fp32_precision = value


class FisherVectorProduct:
    """``v ↦ (F + damping·I) v`` at the policy's current parameters on a batch of trials.

    :param policy: the policy network (its parameters are θ; never modified).
    :param data: the trials the Fisher matrix is averaged over.
    :param route: ``"jacobian"``, ``"kl_grad_diff"`` or ``"exact"`` (module docstring).
    :param damping: added multiple of the identity.
    :param fd_eps: relative finite-difference step: ``ε‖v‖ = fd_eps (1 + ‖θ‖)``.
    """

    def __init__(
        self,
        policy: RecurrentNet,
        data: TrialData,
        route: str,
        damping: float,
        fd_eps: float = 1e-3,
    ) -> None:
        self.policy, self.mask, self.damping, self.route = policy, data.mask, damping, route
        self.observations = data.observations
        self.params = list(policy.parameters())
        self.theta = flat_parameters(policy)
        self.step_size = fd_eps * (1.0 + self.theta.norm())
        if route == "exact":
            if self.theta.is_cuda:
                raise ValueError(
                    "fvp='exact' needs double backward through the GRU, which CUDA's GRU kernels "
                    "(cuDNN and the fused cell) do not support; use 'jacobian' or 'kl_grad_diff'"
                )
            logits = policy(self.observations)[0]
            kl = masked_mean(categorical_kl(logits.detach(), logits), self.mask)
            self._kl_grad = flat_gradient(torch.autograd.grad(kl, self.params, create_graph=True))
        elif route in ("jacobian", "kl_grad_diff"):
            # The probe is a copy of the network whose parameters are moved to θ ± εv;
            # the policy itself (and any graph built from it) is left untouched.
            self.probe = copy.deepcopy(policy)
            if isinstance(self.probe.gru, nn.GRU):
                self.probe.gru.flatten_parameters()
            if route == "jacobian":
                self._logits = policy(self.observations)[0]
                self._probs = torch.softmax(self._logits.detach(), -1)
                self._weight = (self.mask / self.mask.sum()).unsqueeze(-1)
            else:
                with torch.no_grad():
                    self._old_logits = policy(self.observations)[0]
        else:
            raise ValueError(f"unknown fvp route {route!r}; known: jacobian, kl_grad_diff, exact")

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return getattr(self, "_" + self.route)(v) + self.damping * v

    def _exact(self, v: torch.Tensor) -> torch.Tensor:
        return flat_gradient(torch.autograd.grad(self._kl_grad.dot(v), self.params, retain_graph=True))

    def _epsilon(self, v: torch.Tensor) -> torch.Tensor:
        return self.step_size / v.norm().clamp_min(1e-30)

    def _jacobian(self, v: torch.Tensor) -> torch.Tensor:
        eps = self._epsilon(v)
        with torch.no_grad():
            assign_flat_parameters_(self.probe, self.theta + eps * v)
            plus = self.probe(self.observations)[0]
            assign_flat_parameters_(self.probe, self.theta - eps * v)
            jv = (plus - self.probe(self.observations)[0]) / (2 * eps)
            p = self._probs
            m_jv = p * jv - p * (p * jv).sum(-1, keepdim=True)
        return flat_gradient(
            torch.autograd.grad(self._logits, self.params, m_jv * self._weight, retain_graph=True)
        )

    def _kl_gradient_at(self, theta: torch.Tensor) -> torch.Tensor:
        assign_flat_parameters_(self.probe, theta)
        kl = masked_mean(categorical_kl(self._old_logits, self.probe(self.observations)[0]), self.mask)
        return flat_gradient(torch.autograd.grad(kl, list(self.probe.parameters())))

    def _kl_grad_diff(self, v: torch.Tensor) -> torch.Tensor:
        eps = self._epsilon(v)
        return (self._kl_gradient_at(self.theta + eps * v) - self._kl_gradient_at(self.theta - eps * v)) / (2 * eps)


def surrogate(
    logits: torch.Tensor,
    data: TrialData,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    entropy_coef: float = 0.0,
) -> torch.Tensor:
    """Importance-weighted advantage ``mean(π(a|h)/π_old(a|h) · A)`` over the trials' steps,
    plus ``entropy_coef`` times the policy's mean entropy (0: TRPO's own surrogate)."""
    log_p = torch.log_softmax(logits, -1)
    log_prob = log_p.gather(-1, data.actions.unsqueeze(-1)).squeeze(-1)
    value = masked_mean(torch.exp(log_prob - old_log_prob) * advantages, data.mask)
    if entropy_coef:
        value = value + entropy_coef * masked_mean(-(log_p.exp() * log_p).sum(-1), data.mask)
    return value


def surrogate_gradient(
    policy: RecurrentNet, data: TrialData, advantages: torch.Tensor, entropy_coef: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """The surrogate's gradient at the current parameters (one forward + backward pass).

    The pass runs chunk by chunk of trials (:meth:`TrialData.chunks`), each chunk's backward
    right after its forward; the chunks' gradients add up to the batch's.

    :return: ``(gradient, old_logits, old_log_prob, surrogate)``: the flat gradient, the
        policy's logits ``[L, M, K]`` and log-probability of the taken actions ``[L, M]``
        (the "old" policy of the step), and the surrogate's value there.
    """
    params = list(policy.parameters())
    gradient, loss = torch.zeros_like(flat_parameters(policy)), torch.zeros(())
    logits_parts, log_prob_parts = [], []
    for columns, part, share in data.chunks():
        logits = policy(part.observations)[0]
        old_log_prob = torch.log_softmax(logits.detach(), -1).gather(-1, part.actions.unsqueeze(-1)).squeeze(-1)
        chunk_loss = share * surrogate(logits, part, old_log_prob, advantages[:, columns], entropy_coef)
        gradient += flat_gradient(torch.autograd.grad(chunk_loss, params))
        loss = loss + chunk_loss.detach().cpu()
        logits_parts.append(logits.detach())
        log_prob_parts.append(old_log_prob)
    return gradient, torch.cat(logits_parts, 1), torch.cat(log_prob_parts, 1), loss.item()


def natural_gradient_step(
    policy: RecurrentNet, fisher_data: TrialData, gradient: torch.Tensor, config: TRPOConfig
) -> torch.Tensor:
    """The full TRPO step: ``s ∝ F⁻¹ g`` by conjugate gradient, scaled to ``½ sᵀFs = max_kl``.

    :param fisher_data: the trials F is averaged over (the batch's subsample).
    :param gradient: the surrogate's flat gradient ``g``.
    :param config: FVP route, damping, finite-difference step, CG iterations, max KL.
    """
    fvp = FisherVectorProduct(policy, fisher_data, config.fvp, config.cg_damping, config.fvp_fd_eps)
    direction = conjugate_gradient(fvp, gradient, config.cg_iterations)
    curvature = direction.dot(fvp(direction)).clamp_min(1e-30)
    return torch.sqrt(2 * config.max_kl / curvature) * direction


def trpo_step(
    policy: RecurrentNet,
    data: TrialData,
    advantages: torch.Tensor,
    config: TRPOConfig,
    generator: torch.Generator,
) -> UpdateStats:
    """One TRPO policy update on a batch of whole trials (module docstring).

    :param policy: the policy; updated in place (or left as it was on rollback).
    :param data: the iteration's trials.
    :param advantages: ``[L, M]`` (already normalised if wanted; 0 on padding).
    :param config: max KL, CG, FVP and line-search settings.
    :param generator: draws the trials the Fisher-vector product is computed on.
    """
    clock = [time.perf_counter()]

    def lap() -> float:  # each phase ends in a .item(), which also waits for CUDA
        clock.append(time.perf_counter())
        return clock[-1] - clock[-2]

    with ieee_float32():
        gradient, old_logits, old_log_prob, loss_before = surrogate_gradient(
            policy, data, advantages, config.entropy_coef
        )
        old_log_p = torch.log_softmax(old_logits, -1)
        entropy = masked_mean(-(old_log_p.exp() * old_log_p).sum(-1), data.mask).item()
        gradient_s = lap()

        count = max(1, math.ceil(config.fvp_subsample * data.num_trials))
        chosen = torch.randperm(data.num_trials, generator=generator, device=generator.device)[:count]
        chosen = chosen.to(data.actions.device)
        subsample = data.columns(chosen)
        full_step = natural_gradient_step(policy, subsample, gradient, config)
        expected_full = gradient.dot(full_step).item()
        natural_gradient_s = lap()

        # The full step often overshoots the KL bound several times over (the KL of a
        # GRU over a whole trial is far from quadratic): reject those on the subsample.
        screen = (subsample, old_logits[: subsample.mask.shape[0], chosen]) if count < data.num_trials else None
        backtracks, kl, gain, forwards = line_search(
            policy, data, full_step, old_logits, old_log_prob, advantages, loss_before, config, screen
        )
        if backtracks is not None:
            return UpdateStats(
                kl, entropy, gain, config.line_search_backtrack**backtracks * expected_full, backtracks, True,
                forwards, gradient_s, natural_gradient_s, lap(),
            )
    return UpdateStats(
        0.0, entropy, 0.0, expected_full, config.line_search_steps, False,
        forwards, gradient_s, natural_gradient_s, lap(),
    )


def line_search(
    policy: RecurrentNet,
    data: TrialData,
    full_step: torch.Tensor,
    old_logits: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    loss_before: float,
    config: TRPOConfig,
    screen: tuple[TrialData, torch.Tensor] | None = None,
) -> tuple[int | None, float, float, int]:
    """Backtrack along ``full_step`` from the policy's parameters to the first fraction
    ``line_search_backtrack ** b`` whose mean KL on the whole batch is within ``max_kl`` and
    whose surrogate improves on ``loss_before``.

    :param screen: ``(subsample, its old logits)``: a candidate whose mean KL on the
        subsample exceeds the bound is rejected without a pass over the whole batch.
    :return: ``(backtracks, kl, gain, forwards)``: the accepted step's backtracks, KL and
        gain (the policy is left there), or ``None`` and the last whole-batch candidate's
        KL and gain (NaN if none was tried) when every candidate is rejected (the policy is
        left as it was); ``forwards`` counts the passes over the whole batch.
    """
    theta = flat_parameters(policy)
    kl = gain = float("nan")
    forwards = 0
    with torch.no_grad():
        for backtracks in range(config.line_search_steps):
            assign_flat_parameters_(policy, theta + config.line_search_backtrack**backtracks * full_step)
            if screen is not None:
                subsample, sub_old_logits = screen
                sub_logits = policy(subsample.observations)[0]
                if masked_mean(categorical_kl(sub_old_logits, sub_logits), subsample.mask).item() > config.max_kl:
                    continue
            new_logits = policy(data.observations)[0]
            forwards += 1
            kl = masked_mean(categorical_kl(old_logits, new_logits), data.mask).item()
            gain = surrogate(new_logits, data, old_log_prob, advantages, config.entropy_coef).item() - loss_before
            if kl <= config.max_kl and gain > 0:
                return backtracks, kl, gain, forwards
        assign_flat_parameters_(policy, theta)
    return None, kl, gain, forwards


class TRPORule:
    """Updates a policy by :func:`trpo_step`; stateless between iterations.

    :param policy: the policy network (updated in place).
    :param config: max KL, CG, FVP and line-search settings.
    """

    METRICS = {
        "kl": "mean KL(old ‖ new) of the policy step (0 when rolled back)",
        "entropy": "mean entropy of the policy before the step",
        "surrogate_gain": "surrogate objective after minus before the step",
        "expected_gain": "first-order prediction of that gain",
        "line_search_steps": "backtracks of the line search",
        "line_search_forwards": "forward passes over the whole batch in the line search",
        "accepted": "1 if the line search accepted a step, 0 if it rolled back",
        "gradient_s": "seconds for the policy's forward + backward pass (surrogate gradient)",
        "natural_gradient_s": "seconds for conjugate gradient on Fisher-vector products",
        "line_search_s": "seconds for the line search",
    }

    def __init__(self, policy: RecurrentNet, config: TRPOConfig) -> None:
        self.policy, self.config = policy, config

    def update(self, data: TrialData, advantages: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        """One TRPO step on the iteration's trials; returns the :attr:`METRICS`.

        :param data: the trials.
        :param advantages: ``[L, M]`` (already normalised if wanted; 0 on padding).
        :param generator: draws the Fisher-vector product's subsample.
        """
        stats = trpo_step(self.policy, data, advantages, self.config, generator)
        return {name: float(getattr(stats, name)) for name in self.METRICS}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
