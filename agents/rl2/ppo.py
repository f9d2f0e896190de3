"""The PPO-clip update rule on whole trials (Schulman et al. 2017).

The batch and its advantages come from :mod:`agents.rl2.trials`; only the policy step
differs from TRPO's (:mod:`agents.rl2.trpo`). Each of ``PPOConfig.epochs`` passes
splits the iteration's trials into ``PPOConfig.minibatches`` random groups of whole
trials; each group runs through the policy from the trial's start (the GRU state is
rebuilt, and the gradient flows back through the whole trial) and takes one Adam step on

    ``-mean(min(ρ A, clip(ρ, 1 - ε, 1 + ε) A)) - entropy_coef · mean(H(π))``,

with ``ρ = π(a|h) / π_old(a|h)`` against the policy that collected the batch. Outside
the clip range, on the side the advantage pushes towards, a step's term is constant:
its gradient is zero, which is what keeps each update near the old policy.
"""

from __future__ import annotations

import time

import torch

from agents.rl2.config import PPOConfig
from agents.rl2.policy import RecurrentNet
from agents.rl2.trials import TrialData, masked_mean
from agents.rl2.trpo import categorical_kl


def clipped_surrogate(
    logits: torch.Tensor,
    actions: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped objective (to maximise) and the share of steps where the clip is active.

    :param logits: ``[L, M, K]`` of the current policy.
    :param actions: ``[L, M]`` actions taken.
    :param old_log_prob: ``[L, M]`` log-probabilities of those actions under the old policy.
    :param advantages: ``[L, M]``.
    :param mask: ``[L, M]``, 1 on the trials' steps.
    :param clip_range: ε.
    :return: ``(objective, clip_fraction)``.
    """
    log_prob = torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    ratio = torch.exp(log_prob - old_log_prob)
    clipped = ratio.clamp(1 - clip_range, 1 + clip_range)
    objective = masked_mean(torch.minimum(ratio * advantages, clipped * advantages), mask)
    clip_fraction = masked_mean(((ratio - 1).abs() > clip_range).float(), mask)
    return objective, clip_fraction


class PPORule:
    """Updates a policy by PPO-clip; holds the Adam state between iterations.

    :param policy: the policy network (updated in place).
    :param config: learning rate, epochs, minibatches, clip range, entropy bonus.
    """

    METRICS = {
        "kl": "mean KL(old ‖ new) over the batch after the update",
        "entropy": "mean entropy of the policy before the update",
        "policy_objective": "clipped surrogate of the last epoch's minibatches (mean)",
        "clip_fraction": "share of steps with |ρ - 1| > clip_range in the last epoch",
        "grad_norm": "global norm of the policy gradient before clipping (last epoch, mean)",
        "policy_update_s": "seconds for the policy's epochs of minibatch steps",
    }

    def __init__(self, policy: RecurrentNet, config: PPOConfig) -> None:
        self.policy, self.config = policy, config
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)

    def update(self, data: TrialData, advantages: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        """One PPO update on the iteration's trials; returns the :attr:`METRICS`.

        :param data: the trials, as the current policy collected them.
        :param advantages: ``[L, M]`` (already normalised if wanted; 0 on padding).
        :param generator: draws the minibatches.
        """
        cfg = self.config
        start = time.perf_counter()
        with torch.no_grad():
            old_logits = self.policy(data.observations)[0]
        old_log_p = torch.log_softmax(old_logits, -1)
        old_log_prob = old_log_p.gather(-1, data.actions.unsqueeze(-1)).squeeze(-1)
        entropy = masked_mean(-(old_log_p.exp() * old_log_p).sum(-1), data.mask).item()
        trials = data.num_trials
        batches = min(cfg.minibatches, trials)
        for _ in range(cfg.epochs):
            order = torch.randperm(trials, generator=generator, device=generator.device).to(data.actions.device)
            objectives, clip_fractions, grad_norms = [], [], []
            for chunk in order.chunk(batches):
                batch = data.columns(chunk)
                length = batch.mask.shape[0]
                batch_old_log_prob, batch_advantages = old_log_prob[:length, chunk], advantages[:length, chunk]
                self.optimizer.zero_grad(set_to_none=True)
                objective = clip_fraction = torch.zeros((), device=data.mask.device)
                for columns, part, share in batch.chunks():
                    logits = self.policy(part.observations)[0]
                    part_objective, part_clip_fraction = clipped_surrogate(
                        logits, part.actions, batch_old_log_prob[:, columns], batch_advantages[:, columns],
                        part.mask, cfg.clip_range,
                    )
                    log_p = torch.log_softmax(logits, -1)
                    part_entropy = masked_mean(-(log_p.exp() * log_p).sum(-1), part.mask)
                    (-share * (part_objective + cfg.entropy_coef * part_entropy)).backward()
                    objective = objective + share * part_objective.detach()
                    clip_fraction = clip_fraction + share * part_clip_fraction
                grad_norms.append(torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm).item())
                self.optimizer.step()
                objectives.append(objective.item())
                clip_fractions.append(clip_fraction.item())
        with torch.no_grad():
            kl = masked_mean(categorical_kl(old_logits, self.policy(data.observations)[0]), data.mask).item()
        return {
            "kl": kl,
            "entropy": entropy,
            "policy_objective": sum(objectives) / len(objectives),
            "clip_fraction": sum(clip_fractions) / len(clip_fractions),
            "grad_norm": sum(grad_norms) / len(grad_norms),
            "policy_update_s": time.perf_counter() - start,
        }

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
