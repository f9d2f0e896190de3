"""Held-out task sets: a reproducible list of tasks drawn from a seed.

Evaluation tasks come from their own seed stream (the seed's ``SeedSequence``
with a fixed spawn key), so they never coincide with the tasks a training env
seeded with the same integer draws.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from meta_envs.task import ArrayTask
from meta_envs.validation import check_int

#: spawn key that separates held-out task streams from training seeds
HELD_OUT_SPAWN_KEY = 0x4E1D


def held_out_rng(seed: int) -> np.random.Generator:
    """The generator a held-out task set with this ``seed`` is drawn from."""
    check_int("seed", seed, 0)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(HELD_OUT_SPAWN_KEY,)))


def held_out_tasks(env_id: str, num_tasks: int, seed: int, **env_kwargs: Any) -> list[ArrayTask]:
    """Draw ``num_tasks`` tasks of ``env_id``'s task distribution from ``seed``.

    The same arguments always give the same tasks. Run one trial per task with
    ``env.reset(options={"task": task})`` (or ``options={"tasks": tasks}`` on a vector env).

    :param env_id: a registered meta_envs ID, e.g. ``"MetaBandit-v0"``.
    :param num_tasks: how many tasks (>= 1).
    :param seed: the held-out seed (>= 0).
    :param env_kwargs: the family's keyword arguments (e.g. ``num_arms=10``).
    :return: the tasks, in draw order.
    """
    check_int("num_tasks", num_tasks, 1)
    envs = gym.make_vec(env_id, num_envs=num_tasks, vectorization_mode="vector_entry_point", **env_kwargs)
    return envs.unwrapped.draw_tasks(held_out_rng(seed))
