"""Held-out and training task sets: reproducible lists of tasks drawn from a seed.

Evaluation tasks come from their own seed stream (the seed's ``SeedSequence``
with a fixed spawn key), so they never coincide with the tasks a training env
seeded with the same integer draws. Tasks meant for training data (the learning-history
datasets of :mod:`agents.in_context`) come from a third stream
(:data:`TRAINING_SPAWN_KEY`, :func:`training_tasks`), which also leaves out any task of
the held-out sets it is told to avoid: in a family with few distinct tasks (a small
maze) two streams can draw the same task by chance.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import gymnasium as gym
import numpy as np

from meta_envs.task import ArrayTask
from meta_envs.validation import check_int

#: spawn key that separates held-out task streams from training seeds
HELD_OUT_SPAWN_KEY = 0x4E1D
#: spawn key of the training-task stream (:func:`training_tasks`), distinct from the held-out one
TRAINING_SPAWN_KEY = 0xDA7A
#: draws :func:`training_tasks` makes per task asked for before it gives up on finding
#: enough tasks outside the excluded ones
_MAX_DRAWS_PER_TASK = 10


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


def training_tasks(
    env_id: str, num_tasks: int, seed: int, exclude: Collection[ArrayTask] = (), **env_kwargs: Any
) -> list[ArrayTask]:
    """Draw ``num_tasks`` training tasks of ``env_id``'s distribution from ``seed``'s training stream.

    The stream is the seed's ``SeedSequence`` under :data:`TRAINING_SPAWN_KEY`, independent
    of every held-out stream; drawn tasks equal to one of ``exclude`` are skipped (and the
    next draws taken instead), so the result never contains them. The same arguments
    always give the same tasks.

    :param env_id: a registered meta_envs ID.
    :param num_tasks: how many tasks (>= 1).
    :param seed: the training seed (>= 0).
    :param exclude: tasks that must not be drawn (e.g. the benchmark's held-out tasks).
    :param env_kwargs: the family's keyword arguments.
    :return: the tasks, in draw order.
    :raises ValueError: if ``10 * num_tasks`` draws do not yield ``num_tasks`` tasks outside
        ``exclude`` (a task distribution too small for the excluded set).
    """
    check_int("num_tasks", num_tasks, 1)
    check_int("seed", seed, 0)
    excluded = set(exclude)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TRAINING_SPAWN_KEY,)))
    envs = gym.make_vec(env_id, num_envs=num_tasks, vectorization_mode="vector_entry_point", **env_kwargs)
    tasks: list[ArrayTask] = []
    draws = 0
    while len(tasks) < num_tasks:
        if draws >= _MAX_DRAWS_PER_TASK * num_tasks:
            raise ValueError(
                f"only {len(tasks)} of {num_tasks} tasks of {env_id} {env_kwargs} drawn in {draws} draws fall outside "
                f"the {len(excluded)} excluded tasks: the task distribution is too small for them; ask for fewer tasks"
            )
        batch = envs.unwrapped.draw_tasks(rng)
        draws += len(batch)
        tasks.extend(task for task in batch if task not in excluded)
    envs.close()
    return tasks[:num_tasks]
