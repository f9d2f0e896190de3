"""The one evaluation protocol shared by every agent and baseline.

An agent is scored on a held-out task set (:func:`meta_envs.held_out_tasks`, drawn from
its own seed stream): one trial per task, the same tasks for every agent. The score is
the mean total trial reward with a 95% confidence interval (normal approximation,
``1.96 * std / sqrt(num_tasks)``), and the mean return of each episode index within the
trial, the picture of "fast learning".

Trials run batched through the family's native vector env, ``batch_size`` tasks at a
time. The environment's reward noise is drawn from a generator seeded from ``seed`` and
the batch index, so a result depends on (agent, env, kwargs, num_tasks, seed,
batch_size) and nothing else.

Results files (every one in the project) use this layout::

    {"env_id": str, "env_kwargs": dict, "num_tasks": int, "seed": int,
     "results": {NAME: {"mean": float, "ci95": float, "per_episode": [float, ...]}}}
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

import meta_envs
from meta_envs.validation import check_int


@runtime_checkable
class Agent(Protocol):
    """What the evaluation protocol needs from an agent.

    The RL² observation already carries the previous action, reward and done flag, so
    an agent learns from what :meth:`act` sees; it needs no separate update call.
    """

    def reset(self, num_envs: int, seed: int) -> None:
        """Forget everything: ``num_envs`` new trials start together (memory, hidden state)."""

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Actions (int array of shape ``(num_envs,)``) for a batch of RL² observations."""


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """One agent's score on one held-out task set.

    :param trial_returns: total reward of each task's trial, in task order.
    :param episode_returns: ``(num_tasks, num_episodes)`` return of each inner episode.
    """

    trial_returns: np.ndarray
    episode_returns: np.ndarray

    @property
    def mean(self) -> float:
        """Mean total trial reward."""
        return float(self.trial_returns.mean())

    @property
    def ci95(self) -> float:
        """Half-width of the 95% confidence interval of :attr:`mean`."""
        n = len(self.trial_returns)
        return float(1.96 * self.trial_returns.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")

    @property
    def per_episode(self) -> list[float]:
        """Mean return of each episode index within the trial."""
        return self.episode_returns.mean(axis=0).tolist()

    def summary(self) -> dict[str, Any]:
        """``{"mean", "ci95", "per_episode"}`` as in the results layout."""
        return {"mean": self.mean, "ci95": self.ci95, "per_episode": self.per_episode}


def evaluate(
    agent: Agent,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    num_tasks: int = 1000,
    seed: int = 0,
    batch_size: int = 1000,
) -> EvaluationResult:
    """Run one trial per held-out task and score the agent.

    :param agent: anything with the :class:`Agent` methods.
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the family's keyword arguments.
    :param num_tasks: size of the held-out task set.
    :param seed: seed of the held-out task set (and of the env's reward noise).
    :param batch_size: trials run at once through the native vector env.
    :return: the per-task trial returns and per-episode returns.
    """
    env_kwargs = dict(env_kwargs or {})
    check_int("num_tasks", num_tasks, 1)
    check_int("batch_size", batch_size, 1)
    if not isinstance(agent, Agent):
        raise TypeError(f"agent must have reset(num_envs, seed) and act(observation); got {type(agent).__name__}")
    tasks = meta_envs.held_out_tasks(env_id, num_tasks, seed, **env_kwargs)
    noise = np.random.SeedSequence(seed, spawn_key=(meta_envs.task_sets.HELD_OUT_SPAWN_KEY, 1))
    batch_seeds = noise.generate_state(-(-num_tasks // batch_size), np.uint32)
    chunks = []
    for b, start in enumerate(range(0, num_tasks, batch_size)):
        chunk = tasks[start : start + batch_size]
        chunks.append(_run_trials(agent, env_id, env_kwargs, chunk, int(batch_seeds[b])))
    episode_returns = np.concatenate(chunks)
    return EvaluationResult(episode_returns.sum(axis=1), episode_returns)


def _run_trials(agent: Agent, env_id: str, env_kwargs: dict, tasks: list, seed: int) -> np.ndarray:
    """One trial per task, all at once; returns ``(len(tasks), num_episodes)`` episode returns."""
    envs = gym.make_vec(env_id, num_envs=len(tasks), vectorization_mode="vector_entry_point", **env_kwargs)
    observation, _ = envs.reset(seed=seed, options={"tasks": tasks})
    agent.reset(len(tasks), seed)
    returns = np.zeros((len(tasks), envs.unwrapped.num_episodes))
    finished = np.zeros(len(tasks), bool)
    while not finished.all():
        observation, _, terminated, _, info = envs.step(agent.act(observation))
        # NEXT_STEP autoreset: a finished sub-env starts another trial next step; its
        # first trial is the one scored, later ones are ignored.
        newly = terminated & ~finished
        if newly.any():
            returns[newly] = info["episode_returns"][newly]
            finished |= newly
    envs.close()
    return returns


def results_document(
    env_id: str,
    env_kwargs: Mapping[str, Any],
    num_tasks: int,
    seed: int,
    results: Mapping[str, EvaluationResult],
) -> dict[str, Any]:
    """The project's results layout for a set of agents evaluated on one task set."""
    return {
        "env_id": env_id,
        "env_kwargs": dict(env_kwargs),
        "num_tasks": num_tasks,
        "seed": seed,
        "results": {name: result.summary() for name, result in results.items()},
    }


def write_results(path: str | Path, document: Mapping[str, Any]) -> None:
    """Write a results document as indented JSON."""
    Path(path).write_text(json.dumps(document, indent=1) + "\n")


def format_table(document: Mapping[str, Any]) -> str:
    """A plain-text table of a results document: name, mean, CI, first and last episode."""
    lines = [f"{document['env_id']} {document['env_kwargs']}  ({document['num_tasks']} tasks, seed {document['seed']})"]
    lines.append(f"{'agent':<18} {'mean':>10} {'ci95':>8} {'episode 1':>10} {'last episode':>13}")
    for name, r in sorted(document["results"].items(), key=lambda kv: -kv[1]["mean"]):
        lines.append(
            f"{name:<18} {r['mean']:>10.3f} {r['ci95']:>8.3f} {r['per_episode'][0]:>10.3f} {r['per_episode'][-1]:>13.3f}"
        )
    return "\n".join(lines)
