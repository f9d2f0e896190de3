"""The maze family's settings and the RL² paper's maze statistics (its Table 3).

The paper judges maze agents by more than the trial return: per episode index, the
share of trials that reach the goal (*success rate*) and the mean number of steps of
the episodes that do (*successful length*), and the share of mazes where the agent's
episode 2 is no longer than its episode 1. :func:`maze_metrics` computes them from what
:func:`agents.evaluation.evaluate` records for every agent (each inner episode's length
and the reward of its last step), so every agent evaluated on a maze, a baseline or a
trained RL² agent, gets them in its results entry under ``"metrics"``.

Definitions (what a reader needs to compare with the paper)
    * An episode *succeeds* when its last step reaches the goal. That step, and only
      that step, earns ``goal_reward - step_cost``; every other step earns ``-step_cost``
      or ``-step_cost - wall_cost``. With ``goal_reward > 0`` the last step's reward thus
      tells success exactly, also for an episode that reaches the goal on its very last
      allowed step. (With ``goal_reward = 0`` success cannot be told from rewards, and no
      maze statistics are reported.)
    * ``success_rate``: per episode index, the share of trials whose episode succeeds.
    * ``successful_length``: per episode index, the mean number of steps (actions,
      turns included) of the successful episodes (``None`` where none succeeds).
    * ``episode2_no_longer``: the share of trials whose episode 2 reaches the goal in no
      more steps than episode 1 took (a timed-out episode 1 counts with its full
      horizon; a timed-out episode 2 never counts, so an agent that never finds the goal
      scores 0, not 1). Reported when ``num_episodes >= 2``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

import meta_envs  # noqa: F401  (registers the IDs)
from meta_envs.maze import MetaMazeVectorEnv
from meta_envs.settings import env_setting

#: the maze IDs whose evaluations get these statistics
MAZE_ENV_IDS = ("MetaMaze-v0", "MetaMazeLarge-v0")


@dataclasses.dataclass(frozen=True)
class MazeSetting:
    """Every keyword argument of a maze env, defaults filled in (see :mod:`meta_envs.maze.env`)."""

    size: int
    num_episodes: int
    horizon: int
    obs_mode: str
    view_size: int
    goal_reward: float
    step_cost: float
    wall_cost: float


def maze_setting(env_id: str, env_kwargs: Mapping[str, Any]) -> MazeSetting:
    """The full setting of a maze ID with these kwargs (kwargs checked by building the env).

    :param env_id: a maze ID, e.g. ``"MetaMaze-v0"``.
    :param env_kwargs: its keyword arguments.
    :raises ValueError: if ``env_id`` is not a maze env; the env's own errors for bad kwargs.
    """
    envs = gym.make_vec(env_id, num_envs=1, vectorization_mode="vector_entry_point", **env_kwargs)
    is_maze = isinstance(envs.unwrapped, MetaMazeVectorEnv)
    envs.close()
    if not is_maze:
        raise ValueError(f"{env_id!r} is not a maze env; maze IDs: {list(MAZE_ENV_IDS)}")
    values = env_setting(env_id, env_kwargs)
    return MazeSetting(**{field.name: values[field.name] for field in dataclasses.fields(MazeSetting)})


def maze_metrics(
    env_id: str, env_kwargs: Mapping[str, Any], episode_lengths: np.ndarray, final_rewards: np.ndarray
) -> dict[str, Any]:
    """The paper's maze statistics of one evaluation (see the module docstring).

    :param env_id: the maze ID evaluated.
    :param env_kwargs: its keyword arguments.
    :param episode_lengths: ``(num_tasks, num_episodes)`` steps of each inner episode.
    :param final_rewards: ``(num_tasks, num_episodes)`` reward of each inner episode's last step.
    :return: ``{"success_rate", "successful_length"[, "episode2_no_longer"]}``; empty where
        ``goal_reward`` is 0.
    """
    setting = maze_setting(env_id, env_kwargs)
    if setting.goal_reward <= 0:
        return {}
    success = final_rewards > -setting.step_cost
    counts = success.sum(axis=0)
    lengths = np.where(success, episode_lengths, 0).sum(axis=0)
    metrics: dict[str, Any] = {
        "success_rate": success.mean(axis=0).tolist(),
        "successful_length": [float(total / n) if n else None for total, n in zip(lengths, counts)],
    }
    if episode_lengths.shape[1] >= 2:
        no_longer = success[:, 1] & (episode_lengths[:, 1] <= episode_lengths[:, 0])
        metrics["episode2_no_longer"] = float(no_longer.mean())
    return metrics
