"""Rollouts of whole trials through a family's native vector env.

An iteration asks for ``steps_per_iteration`` env steps. The ``num_envs`` sub-envs of
``gymnasium.make_vec(..., autoreset_mode=SAME_STEP)`` all start a new trial, and each
runs trials back to back until it has taken ``ceil(steps_per_iteration / num_envs)``
steps; the trial it is in at that point is played to its end, then the sub-env idles
(its further steps are discarded) until every sub-env is done. So every trial in the
batch is whole, and the batch holds at least ``steps_per_iteration`` steps.

* Fixed-length trials (bandits, tabular MDPs; length T) with ``num_envs * T ==
  steps_per_iteration``: an iteration is a reset and T steps, nothing discarded.
* Variable-length trials (mazes: episodes end at the goal): trials end at different
  times; the autoreset starts the next trial in the same step and the GRU state of
  that sub-env is zeroed. Afterwards the trials are gathered into columns ``[L, M]``
  with a mask (:class:`~agents.rl2.trpo.TrialData`) by one indexing operation.

The policy acts with one GRU-cell step for all sub-envs at once; actions are sampled
from a seeded :class:`torch.Generator`. A truncated trial (no family truncates trials)
would be treated like a finished one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from agents.rl2.policy import Observations, RecurrentNet, is_image_space, to_observations
from agents.rl2.trials import TrialData
from meta_envs.validation import check_int


def sample_actions(logits: torch.Tensor, generator: torch.Generator, greedy: bool = False) -> torch.Tensor:
    """One action per row of ``logits [B, K]``: sampled with ``generator`` (or the argmax)."""
    if greedy:
        return logits.argmax(-1)
    cdf = torch.softmax(logits, -1).cumsum(-1)
    u = torch.rand(logits.shape[0], 1, generator=generator, device=logits.device)
    # inverse CDF; the clamp guards against cdf[-1] rounding below u
    return (u > cdf).sum(-1).clamp_max(logits.shape[-1] - 1)


@dataclasses.dataclass
class Rollout:
    """One iteration's trials and what the logs need.

    :param data: the trials as columns ``[L, M]``.
    :param trial_returns: total reward of each trial (numpy ``[M]``).
    :param env_steps: steps of the trials (their total length).
    :param simulated_steps: env steps taken, including discarded idle steps.
    """

    data: TrialData
    trial_returns: np.ndarray
    env_steps: int
    simulated_steps: int


class TrialCollector:
    """Collects batches of whole trials from ``num_envs`` parallel sub-envs.

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the family's keyword arguments.
    :param num_envs: sub-envs stepped together.
    :param seed: seeds the vector env's generator (tasks and env noise).
    :param device: where the tensors of the batch live.
    :param task_features: also record each trial's task (``TrialData.task_features``).
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        num_envs: int,
        seed: int,
        device: torch.device,
        task_features: bool = False,
    ) -> None:
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.envs = gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode="vector_entry_point",
            autoreset_mode=AutoresetMode.SAME_STEP,
            **env_kwargs,
        )
        self.image = is_image_space(self.envs.single_observation_space["obs"])
        self.device = device
        self.task_features = task_features
        self._seed: int | None = seed

    @property
    def np_random_state(self) -> dict:
        """The vector env's generator state (saved in checkpoints)."""
        return self.envs.unwrapped.np_random.bit_generator.state

    @np_random_state.setter
    def np_random_state(self, state: dict) -> None:
        if self._seed is not None:  # the first reset would reseed: do it now, then overwrite
            self.envs.reset(seed=self._seed)
            self._seed = None
        self.envs.unwrapped.np_random.bit_generator.state = state

    @torch.no_grad()
    def collect(self, policy: RecurrentNet, steps_per_iteration: int, generator: torch.Generator) -> Rollout:
        """Run whole trials until ``steps_per_iteration`` steps are in (module docstring)."""
        n = self.num_envs
        steps_per_env = math.ceil(steps_per_iteration / n)
        observation, _ = self.envs.reset(seed=self._seed)
        self._seed = None
        hidden = policy.initial_state(n)
        active = np.ones(n, bool)
        trial_start = np.zeros(n, np.int64)
        vectors, images, actions, rewards = [], [], [], []
        ended_env, ended_start, ended_length, ended_task = [], [], [], []
        task = self.envs.unwrapped.task_features() if self.task_features else None
        t = 0
        while active.any():
            x = to_observations(observation, self.image, self.device)
            logits, hidden = policy.step(x, hidden)
            action = sample_actions(logits, generator)
            observation, reward, terminated, truncated, _ = self.envs.step(action.cpu().numpy())
            vectors.append(x.vector)
            images.append(x.image)
            actions.append(action)
            rewards.append(reward.astype(np.float32))
            t += 1
            done = terminated | truncated
            if done.any():
                ended = np.flatnonzero(done & active)
                ended_env.append(ended)
                ended_start.append(trial_start[ended])
                ended_length.append(t - trial_start[ended])
                if task is not None:
                    ended_task.append(task[ended])
                    task[done] = self.envs.unwrapped.task_features()[done]  # the new trials' tasks
                trial_start[done] = t
                active[ended] = t < steps_per_env
                # SAME_STEP autoreset: these sub-envs already show a new trial's first observation
                hidden[torch.from_numpy(done).to(self.device)] = 0.0
        env = np.concatenate(ended_env)
        start = np.concatenate(ended_start)
        length = np.concatenate(ended_length)
        data = self._as_columns(vectors, images, actions, np.stack(rewards), env, start, length)
        if task is not None:
            data.task_features = torch.from_numpy(np.concatenate(ended_task)).to(self.device)
        return Rollout(
            data,
            trial_returns=data.rewards.sum(0).cpu().numpy().astype(np.float64),
            env_steps=int(length.sum()),
            simulated_steps=t * n,
        )

    def _as_columns(self, vectors, images, actions, reward_table, env, start, length) -> TrialData:
        """Gather every trial into a column starting at its first step; pad with a 0 mask."""
        steps = len(vectors)
        offsets = np.arange(int(length.max()))[:, None]
        time = np.minimum(start[None, :] + offsets, steps - 1)
        mask = offsets < length[None, :]
        cols = np.broadcast_to(env[None, :], time.shape)
        t_index = torch.from_numpy(time).to(self.device)
        e_index = torch.from_numpy(np.ascontiguousarray(cols)).to(self.device)
        image = None if images[0] is None else torch.stack(images)[t_index, e_index]
        mask_t = torch.from_numpy(mask.astype(np.float32)).to(self.device)
        return TrialData(
            Observations(torch.stack(vectors)[t_index, e_index], image, torch.from_numpy(length).to(self.device)),
            torch.stack(actions)[t_index, e_index],
            torch.from_numpy(reward_table[time, cols]).to(self.device) * mask_t,
            mask_t,
        )

    def close(self) -> None:
        self.envs.close()

