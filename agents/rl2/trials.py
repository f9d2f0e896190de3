"""Batches of whole trials and their advantages: what every RL² update rule consumes.

Data layout
    A batch is whole trials side by side: tensors ``[L, M]`` (time, trial) with a
    ``mask`` that is 1 on the steps of each trial (trials may have different lengths;
    padding follows the last step). Every column starts at the beginning of its trial,
    so the networks run the batch from a zero state in one pass over time.

Advantages
    GAE over the whole trial: the RL² objective is the trial's total reward, so an
    inner-episode boundary is just another step; only the trial's end stops the sum
    (there the next value is 0: the trial is over, nothing follows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from agents.rl2.policy import Observations, column_chunks


@dataclasses.dataclass
class TrialData:
    """Whole trials for one update (module docstring).

    :param observations: ``[L, M, ...]``.
    :param actions: int64 ``[L, M]``.
    :param rewards: float ``[L, M]`` (0 on padding).
    :param mask: float ``[L, M]``: 1 on the steps of a trial, 0 on padding.
    :param task_features: float ``[M, F]``: each trial's task (the env's
        ``task_features()``), for a value baseline that sees it; ``None`` otherwise.
    """

    observations: Observations
    actions: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    task_features: torch.Tensor | None = None

    @property
    def num_trials(self) -> int:
        return self.actions.shape[1]

    def chunks(self) -> Iterator[tuple[slice, TrialData, torch.Tensor]]:
        """The trials in the chunks a pass with a backward runs in (:func:`column_chunks`:
        cache-sized on the CPU, all at once on an accelerator), each with its share of the
        batch's steps: a masked mean over the batch is the share-weighted sum of the
        chunks' means. Backpropagating each chunk right after its forward keeps its graph
        in cache (``docs/trpo_profile.md``).

        :return: ``(columns, trials, share)`` per chunk, the trials keeping all ``L`` rows.
        """
        steps = self.mask.sum()
        for columns in column_chunks(self.num_trials, self.mask.device):
            part = TrialData(
                self.observations.index((slice(None), columns)),
                self.actions[:, columns],
                self.rewards[:, columns],
                self.mask[:, columns],
                None if self.task_features is None else self.task_features[columns],
            )
            yield columns, part, part.mask.sum() / steps

    def columns(self, index: torch.Tensor) -> TrialData:
        """The trials ``index`` (a 1-D index tensor), trimmed to their longest length."""
        mask = self.mask[:, index]
        length = int(mask.sum(0).max().item())
        return TrialData(
            self.observations.index((slice(0, length), index)),
            self.actions[:length, index],
            self.rewards[:length, index],
            mask[:length],
            None if self.task_features is None else self.task_features[index],
        )


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the steps where ``mask`` is 1."""
    return (x * mask).sum() / mask.sum()


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """Generalised advantage estimates of whole trials.

    ``δ_t = r_t + γ V_{t+1} m_{t+1} - V_t`` and ``A_t = δ_t + γλ m_{t+1} A_{t+1}``, where
    ``m`` is the mask: the sum runs through inner-episode boundaries and stops only
    after the trial's last step.

    :param rewards: ``[L, M]``.
    :param values: ``[L, M]`` baseline values.
    :param mask: ``[L, M]``, 1 on the steps of each trial.
    :return: advantages ``[L, M]`` (0 on padding).
    """
    length = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[0])
    next_advantage = torch.zeros_like(rewards[0])
    next_mask = torch.zeros_like(rewards[0])
    for t in reversed(range(length)):
        delta = rewards[t] + gamma * next_value * next_mask - values[t]
        next_advantage = (delta + gamma * lam * next_mask * next_advantage) * mask[t]
        advantages[t] = next_advantage
        next_value, next_mask = values[t], mask[t]
    return advantages
