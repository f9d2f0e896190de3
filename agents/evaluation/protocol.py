"""The one evaluation protocol shared by every agent and baseline.

An agent is scored on a held-out task set (:func:`meta_envs.held_out_tasks`, drawn from
its own seed stream): one trial per task, the same tasks for every agent. The score is
the mean total trial reward with a 95% confidence interval (normal approximation,
``1.96 * std / sqrt(num_tasks)``), and the mean return of each episode index within the
trial, the picture of "fast learning", with the same 95% half-width over tasks per index.

Trials run batched through the family's native vector env, ``batch_size`` tasks at a
time. The environment's reward noise is drawn from a generator seeded from ``seed`` and
the batch index; the agent's own draws from the seed ``agent.reset`` gets, drawn from
``agent_seed`` (the benchmark's run seed) and the batch index. A result depends on (agent,
env, kwargs, num_tasks, seed, agent_seed, batch_size) and nothing else.

Results files (every one in the project) use this layout::

    {"env_id": str, "env_kwargs": dict, "num_tasks": int, "seed": int,
     "results": {NAME: {"mean": float, "ci95": float, "per_episode": [float, ...],
                        "per_episode_ci95": [float, ...]}}}

``per_episode_ci95`` is missing from files written before it existed (the stored suite
references among them): a reader takes it with ``.get``.

A family with statistics of its own (:data:`FAMILY_METRICS`: the maze's success rates and
episode lengths, :mod:`agents.evaluation.maze_metrics`) adds them to each result as
``"metrics": {name: value}``; the rest of the layout is the same for every family.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

import meta_envs
from agents.evaluation.maze_metrics import MAZE_ENV_IDS, maze_metrics
from meta_envs.task import ArrayTask
from meta_envs.validation import check_int

#: env ID -> ``metrics(env_id, env_kwargs, episode_lengths, final_rewards) -> dict``: the
#: family's own statistics of an evaluation, stored in :attr:`EvaluationResult.metrics`
FAMILY_METRICS: dict[str, Callable[[str, Mapping[str, Any], np.ndarray, np.ndarray], dict[str, Any]]] = {
    env_id: maze_metrics for env_id in MAZE_ENV_IDS
}


@runtime_checkable
class Agent(Protocol):
    """What the evaluation protocol needs from an agent: two methods, both batched.

    :func:`evaluate` runs ``num_envs`` trials side by side through the family's native
    vector env and drives the agent like this::

        agent.reset(num_envs, seed)            # num_envs new trials start together
        agent.set_tasks(tasks)                 # only if the agent defines it (see below)
        observation = first RL² observations   # dict of arrays, each (num_envs, ...)
        while some trial runs:
            actions = agent.act(observation)   # int array (num_envs,), one action per trial
            observation, ... = envs.step(actions)

    ``observation`` is the RL² observation of :mod:`meta_envs.trial` with a leading batch
    axis: ``obs`` (the state), ``prev_action`` (one-hot), ``prev_reward`` and ``prev_done``
    (shape ``(num_envs, 1)``). It carries the previous action, reward and done flag, so an
    agent learns from what :meth:`act` sees; there is no separate update call. A
    recurrent agent keeps its state per trial inside the object: it sets it up in
    :meth:`reset` and carries it across the inner episodes of the trial (``prev_done``
    says where one ended); it starts a fresh state where a trial starts, which is the
    only observation whose ``prev_action`` is all zeros (after :meth:`reset`, and when a
    vector env with autoreset starts a sub-env's next trial). Actions must be valid for
    the env's ``Discrete`` action space; the env rejects anything else with a clear error.

    ``set_tasks(tasks)``: only for *reference* agents that are meant to know the tasks
    (the maze's map-knowing oracle, a ceiling; never a learner or a method under test).
    :func:`evaluate` calls it right after :meth:`reset` with each sub-env's task.

    ``memory``: optional, for agents with an internal state (a recurrent network's hidden
    state, a baseline's counts): a float array ``(num_envs, D)``, the state after the
    last :meth:`act`. The behavioural probe (:mod:`agents.evaluation.probe`) reads it to
    measure what the state remembers; nothing else does.

    :func:`check_agent` says what an object lacks.
    """

    def reset(self, num_envs: int, seed: int) -> None:
        """Forget everything: ``num_envs`` new trials start together (memory, hidden state);
        ``seed`` seeds the agent's own random draws for these trials.

        In a benchmark run (:func:`agents.benchmark.score_suite`) ``seed`` comes from the run
        seed (``--seeds``): two run seeds give different ``seed`` values here, while the
        held-out tasks and the environment's reward noise stay the same. An agent that draws
        its randomness from ``numpy.random.default_rng(seed)`` therefore gives one
        independent run per run seed; one that draws nothing is deterministic, and the
        report says so."""

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Actions (int array of shape ``(num_envs,)``) for a batch of RL² observations."""


def check_agent(agent: object, what: str = "the agent") -> Agent:
    """Return ``agent`` if it satisfies the :class:`Agent` protocol, else raise a clear error.

    :param what: how the message names the object (e.g. ``"what make_agent returned"``).
    :raises TypeError: naming the missing or mis-signed methods.
    """
    problems = []
    for method, arguments in (("reset", (1, 0)), ("act", ({},))):
        bound = getattr(agent, method, None)
        if not callable(bound):
            problems.append(f"no {method}() method")
            continue
        try:
            inspect.signature(bound).bind(*arguments)
        except TypeError:
            problems.append(f"{method}{inspect.signature(bound)} does not take {len(arguments)} positional argument(s)")
        except ValueError:  # no signature (a builtin): nothing to check
            pass
    if problems:
        raise TypeError(
            f"{what} ({type(agent).__name__}) is not an agent: {'; '.join(problems)}. An agent has "
            "reset(num_envs: int, seed: int) -> None and act(observation: dict[str, np.ndarray]) -> np.ndarray "
            "(batched; see agents.evaluation.Agent)"
        )
    return agent  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """One agent's score on one held-out task set.

    :param trial_returns: total reward of each task's trial, in task order.
    :param episode_returns: ``(num_tasks, num_episodes)`` return of each inner episode.
    :param episode_lengths: ``(num_tasks, num_episodes)`` steps of each inner episode.
    :param final_rewards: ``(num_tasks, num_episodes)`` reward of each inner episode's last step.
    :param metrics: the family's own statistics (:data:`FAMILY_METRICS`), name -> value.
    """

    trial_returns: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray | None = None
    final_rewards: np.ndarray | None = None
    metrics: Mapping[str, Any] = dataclasses.field(default_factory=dict)

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

    @property
    def per_episode_ci95(self) -> list[float]:
        """Half-width of the 95% confidence interval of each :attr:`per_episode` value over
        the tasks (``1.96 * std / sqrt(num_tasks)`` of that episode index's returns)."""
        n = len(self.episode_returns)
        if n == 1:
            return [float("nan")] * self.episode_returns.shape[1]
        return (1.96 * self.episode_returns.std(axis=0, ddof=1) / np.sqrt(n)).tolist()

    def summary(self) -> dict[str, Any]:
        """``{"mean", "ci95", "per_episode", "per_episode_ci95"[, "metrics"]}`` as in the results layout."""
        summary = {"mean": self.mean, "ci95": self.ci95, "per_episode": self.per_episode,
                   "per_episode_ci95": self.per_episode_ci95}
        if self.metrics:
            summary["metrics"] = dict(self.metrics)
        return summary


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a batch of trials, as :func:`evaluate` shows it to an observer.

    :param rows: task index of each trial that took this step (its held-out index in
        :func:`evaluate`), ``(m,)``.
    :param local: the same trials' positions in the batch (index the other fields and the
        agent's ``memory`` with it), ``(m,)``.
    :param observation: the batch's RL² observation the actions were chosen from.
    :param actions: the batch's actions, ``(batch,)``.
    :param rewards: the batch's rewards for them, ``(batch,)``.
    :param agent: the agent, right after it chose ``actions``.
    :param next_observation: the batch's RL² observation after the step (where a trial
        just ended, its last observation).
    :param terminated: ``(batch,)`` whether the step ended the trial.
    """

    rows: np.ndarray
    local: np.ndarray
    observation: Mapping[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    agent: Agent
    next_observation: Mapping[str, np.ndarray]
    terminated: np.ndarray


def evaluate(
    agent: Agent,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    num_tasks: int = 1000,
    seed: int = 0,
    batch_size: int = 1000,
    agent_seed: int | None = None,
    observer: Callable[[Step], None] | None = None,
) -> EvaluationResult:
    """Run one trial per held-out task and score the agent.

    :param agent: anything with the :class:`Agent` methods.
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the family's keyword arguments.
    :param num_tasks: size of the held-out task set.
    :param seed: seed of the held-out task set (and of the env's reward noise).
    :param batch_size: trials run at once through the native vector env.
    :param agent_seed: the agent's own seed: each batch's ``agent.reset(num_envs, seed)``
        gets a seed drawn from it and the batch index, so two agent seeds give an agent
        different draws on the same tasks and reward noise. ``None``: the batch's
        environment seed (a function of ``seed`` alone, as for the stored references).
    :param observer: called with every :class:`Step` of the scored trials (e.g. the
        behavioural probe's recorder); it must not change the agent.
    :return: the per-task trial returns, per-episode returns and lengths, and the
        family's statistics.
    """
    env_kwargs = dict(env_kwargs or {})
    check_int("num_tasks", num_tasks, 1)
    check_int("batch_size", batch_size, 1)
    check_agent(agent)
    if agent_seed is not None:
        check_int("agent_seed", agent_seed, 0)
    tasks = meta_envs.held_out_tasks(env_id, num_tasks, seed, **env_kwargs)
    noise = np.random.SeedSequence(seed, spawn_key=(meta_envs.task_sets.HELD_OUT_SPAWN_KEY, 1))
    num_batches = -(-num_tasks // batch_size)
    batch_seeds = noise.generate_state(num_batches, np.uint32)
    agent_seeds = (batch_seeds if agent_seed is None
                   else np.random.SeedSequence(agent_seed).generate_state(num_batches, np.uint32))
    chunks = []
    for b, start in enumerate(range(0, num_tasks, batch_size)):
        chunk = tasks[start : start + batch_size]
        chunks.append(run_trials(agent, env_id, env_kwargs, chunk, int(batch_seeds[b]), int(agent_seeds[b]),
                                 start, observer))
    episode_returns, episode_lengths, final_rewards = (np.concatenate(part) for part in zip(*chunks))
    metrics = FAMILY_METRICS.get(env_id)
    return EvaluationResult(
        episode_returns.sum(axis=1),
        episode_returns,
        episode_lengths,
        final_rewards,
        {} if metrics is None else metrics(env_id, env_kwargs, episode_lengths, final_rewards),
    )


def run_trials(
    agent: Agent, env_id: str, env_kwargs: Mapping[str, Any], tasks: Sequence[ArrayTask], seed: int, agent_seed: int,
    first_row: int = 0, observer: Callable[[Step], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One trial per task, all at once, through the family's native vector env: the loop
    :func:`evaluate` scores agents with, for callers that bring their own tasks (the
    learning-history datasets of :mod:`agents.in_context` record it with an observer).

    :param agent: anything with the :class:`Agent` methods.
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the family's keyword arguments.
    :param tasks: one task per trial.
    :param seed: the environments' seed (reward noise).
    :param agent_seed: what ``agent.reset`` gets.
    :param first_row: the first task's index in :attr:`Step.rows` (its held-out index).
    :param observer: called with every :class:`Step` (see :func:`evaluate`).
    :return: ``(returns, lengths, final_rewards)`` of every inner episode, each of shape
        ``(len(tasks), num_episodes)``.
    """
    envs = gym.make_vec(env_id, num_envs=len(tasks), vectorization_mode="vector_entry_point", **env_kwargs)
    observation, info = envs.reset(seed=seed, options={"tasks": tasks})
    agent.reset(len(tasks), agent_seed)
    set_tasks = getattr(agent, "set_tasks", None)
    if set_tasks is not None:
        set_tasks(tasks)
    shape = (len(tasks), envs.unwrapped.num_episodes)
    returns, lengths, final_rewards = np.zeros(shape), np.zeros(shape, np.int64), np.zeros(shape)
    finished = np.zeros(len(tasks), bool)
    while not finished.all():
        # the episode each running trial's next action belongs to
        running = np.flatnonzero(~finished)
        episode = info["episode_index"][running]
        actions = agent.act(observation)
        acted_on = observation
        observation, rewards, terminated, _, info = envs.step(actions)
        if observer is not None:
            observer(Step(first_row + running, running, acted_on, actions, rewards, agent, observation, terminated))
        lengths[running, episode] += 1
        final_rewards[running, episode] = rewards[running]
        # NEXT_STEP autoreset: a finished sub-env starts another trial next step; its
        # first trial is the one scored, later ones are ignored.
        newly = terminated & ~finished
        if newly.any():
            returns[newly] = info["episode_returns"][newly]
            finished |= newly
    envs.close()
    return returns, lengths, final_rewards


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
    """A plain-text table of a results document: name, mean, CI, first and last episode; then
    the metrics and the behavioural statistics where the document has them."""
    lines = [f"{document['env_id']} {document['env_kwargs']}  ({document['num_tasks']} tasks, seed {document['seed']})"]
    lines.append(f"{'agent':<18} {'mean':>10} {'ci95':>8} {'episode 1':>10} {'last episode':>13}")
    ranked = sorted(document["results"].items(), key=lambda kv: -kv[1]["mean"])
    for name, r in ranked:
        lines.append(
            f"{name:<18} {r['mean']:>10.3f} {r['ci95']:>8.3f} {r['per_episode'][0]:>10.3f} {r['per_episode'][-1]:>13.3f}"
        )
    with_metrics = [(name, r["metrics"]) for name, r in ranked if r.get("metrics")]
    if with_metrics:
        lines.append("metrics (lists: one value per episode index):")
        for name, metrics in with_metrics:
            values = "  ".join(f"{key} {_format_value(value)}" for key, value in metrics.items())
            lines.append(f"{name:<18} {values}")
    if document.get("behaviour"):
        lines.append("behaviour (agents.evaluation.probe):")
        for name, statistics in document["behaviour"].items():
            values = "  ".join(f"{key} {_format_value(value)}" for key, value in statistics.items())
            lines.append(f"{name:<18} {values}")
    return "\n".join(lines)


def _format_value(value: Any) -> str:
    """A metric for the table: numbers to 3 decimals, lists space-separated, None as '-'."""
    if isinstance(value, list):
        return " ".join(_format_value(item) for item in value)
    return "-" if value is None else f"{value:.3f}"
