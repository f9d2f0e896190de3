"""Behavioural probes: what an agent's actions (and state) say about its memory.

A trial's score says *how well* an agent did; the probe says *why*. It runs the agent
through the one evaluation protocol (:func:`agents.evaluation.evaluate`, the same held-out
tasks and noise), records every step, and computes statistics whose values for a
memoryless rule and for a counting learner are known in advance:

Bandits (``MetaBandit-v0``; the empirically best arm is the one with the highest
posterior mean ``(successes + 1) / (pulls + 2)`` given the pulls before, ties all count):

* ``p_stay_after_win`` / ``p_stay_after_loss``: how often the next pull repeats the arm
  just pulled, after a success and after a failure. Win-stay/lose-shift to a random arm
  gives 1 and 1/k; uniform random play 1/k and 1/k; a counting agent stays after most
  losses early on (a loss rarely makes a good arm's estimate the worst).
* ``arms_tried``: distinct arms pulled in a trial.
* ``late_best``: share of the second half's pulls that go to the empirically best arm
  (greedy: 1 by construction; Gittins ~0.96; win-stay/lose-shift ~0.7).
* ``regret_per_pull`` (a curve): the mean of ``max_i p_i - p_{a_t}`` at every pull index.

Two more, kept beside the table's columns (:data:`PROBE_COLUMNS`): ``p_switch_to_new``, the
share of switches that go to an arm not yet pulled in the trial (uniform random switching
at k arms: about (k - arms tried) / k; the m-run rule, :class:`~agents.baselines.bandit.MRunAgent`:
1 until every arm has failed), and the curve ``p_stay_after_loss_by_successes``: the
chance of staying after a loss given the arm's successes so far, 0 to 14 and 15 or more
(m-run: 0 below m, 1 from m; a counting agent: rising with the count, since a loss lowers a
much-paid arm's estimate less). Many arms and few pulls reward an agent that leaves
mediocre arms for new ones; these two show whether it does.

Tabular MDPs (``MetaTabularMDP-v0``):

* ``per_episode`` (a curve): the mean return of each episode index;
* ``model_optimal``: share of the actions of episodes 2, 3, ... that are optimal for the
  agent's own empirical model of the task: the maximum-likelihood model
  (:func:`agents.baselines.tabular_model.empirical_model`: transition frequencies, mean
  rewards, 0 for an untried pair) built from every step of the earlier episodes, planned
  over the horizon (ties all count). The ``greedy`` baseline acts exactly so and scores 1;
  an agent that counts transitions and rewards scores high, uniform play about 1/A.

Memory (both families), for agents that expose their state as ``memory`` (see
:class:`agents.evaluation.Agent`): a ridge-regression read-out of the state is fitted on
half the trials to the sufficient statistics of the history seen so far (bandits: per-arm
pulls and successes; MDPs: per state-action visit counts) and scored by R² on the other
half (``memory_r2``: the mean over the statistics; 1 = the state holds the counts
linearly, 0 = no better than their mean). ``None`` for an agent without ``memory``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import meta_envs
from agents.baselines.tabular_model import TabularStatistics, empirical_model
from agents.evaluation.protocol import Agent, EvaluationResult, Step, evaluate
from meta_envs.planning import value_iteration
from meta_envs.settings import env_setting, max_trial_length
from meta_envs.validation import check_int

#: env IDs the probe knows the statistics of
PROBE_ENV_IDS = ("MetaBandit-v0", "MetaTabularMDP-v0")

#: the scalar statistics of each family, in the order tables show them
PROBE_COLUMNS: dict[str, tuple[str, ...]] = {
    "MetaBandit-v0": ("trial_return", "p_stay_after_win", "p_stay_after_loss", "arms_tried", "late_best", "memory_r2"),
    "MetaTabularMDP-v0": ("trial_return", "model_optimal", "memory_r2"),
}

#: the agents each family's probe table compares an agent with, by default
PROBE_REFERENCES: dict[str, tuple[str, ...]] = {
    "MetaBandit-v0": ("random", "win_stay_lose_shift", "greedy", "gittins", "ucb1"),
    "MetaTabularMDP-v0": ("random", "greedy", "psrl"),
}

#: ``p_stay_after_loss_by_successes`` has one entry per count 0, 1, ..., and a last for this many minus one or more
_SUCCESS_BINS = 16

#: relative tolerance under which two action values count as tied
_TIE_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class Trajectories:
    """Every step of a set of fixed-length trials, as the probe recorded them.

    :param states: ``(num_tasks, T)`` state index each action was taken in (0 for bandits).
    :param actions: ``(num_tasks, T)`` the actions.
    :param rewards: ``(num_tasks, T)`` their rewards.
    :param memory_steps: the step indices at which the agent's state was kept, ``(m,)``.
    :param memory: ``(num_tasks, m, D)`` the agent's ``memory`` after acting at those
        steps (it has seen the history *before* the step), or ``None``.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    memory_steps: np.ndarray
    memory: np.ndarray | None


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """An agent's score and behavioural statistics on one held-out task set.

    :param env_id: the env probed.
    :param env_kwargs: its full setting (defaults filled in).
    :param evaluation: the protocol's result for the same trials.
    :param statistics: name -> value, the family's :data:`PROBE_COLUMNS` (``memory_r2``
        ``None`` for an agent without ``memory``) plus ``memory_r2_<group>`` per statistic group
        (and, for bandits, ``p_switch_to_new``).
    :param curves: name -> per-index values (bandits: ``regret_per_pull`` and
        ``p_stay_after_loss_by_successes``; MDPs: ``per_episode``).
    :param trajectories: every step the statistics were computed from (not in :meth:`to_dict`).
    """

    env_id: str
    env_kwargs: Mapping[str, Any]
    evaluation: EvaluationResult
    statistics: Mapping[str, float | None]
    curves: Mapping[str, list[float]]
    trajectories: Trajectories | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"statistics": ..., "curves": ...}`` (the protocol's summary beside)."""
        return {"statistics": dict(self.statistics), "curves": {k: list(v) for k, v in self.curves.items()},
                "evaluation": self.evaluation.summary()}


class _Recorder:
    """Fills :class:`Trajectories` from the protocol's steps (fixed-length trials only)."""

    def __init__(self, num_tasks: int, length: int, memory_steps: np.ndarray) -> None:
        self.states = np.zeros((num_tasks, length), np.int64)
        self.actions = np.zeros((num_tasks, length), np.int64)
        self.rewards = np.zeros((num_tasks, length))
        self.t = np.zeros(num_tasks, np.int64)
        self.memory_steps = memory_steps
        self.slot = np.full(length, -1)
        self.slot[memory_steps] = np.arange(len(memory_steps))
        self.memory: np.ndarray | None = None
        self.has_memory: bool | None = None

    def __call__(self, step: Step) -> None:
        rows, t = step.rows, self.t[step.rows]
        self.states[rows, t] = np.asarray(step.observation["obs"])[step.local].argmax(axis=1)
        self.actions[rows, t] = step.actions[step.local]
        self.rewards[rows, t] = step.rewards[step.local]
        if self.has_memory is None:
            self.has_memory = getattr(step.agent, "memory", None) is not None
        slots = self.slot[t]
        keep = slots >= 0
        if self.has_memory and keep.any():
            state = np.asarray(step.agent.memory, np.float32)[step.local[keep]]
            if self.memory is None:
                self.memory = np.zeros((len(self.t), len(self.memory_steps), state.shape[1]), np.float32)
            self.memory[rows[keep], slots[keep]] = state
        self.t[rows] += 1

    def trajectories(self) -> Trajectories:
        return Trajectories(self.states, self.actions, self.rewards, self.memory_steps, self.memory)


def make_agent(spec: str, env_id: str, env_kwargs: Mapping[str, Any] | None = None, seed: int = 0) -> Agent:
    """An agent by name: ``rl2`` (the shipped RL² agent of the setting, :func:`agents.load_pretrained`),
    a baseline's result name (:mod:`agents.baselines.registry`), ``win_stay_lose_shift`` or
    ``m_run`` (bandits; :class:`~agents.baselines.bandit.MRunAgent` with Berry et al.'s
    ``m = round(sqrt(n))``), ``random_dirichlet`` (DPT's roll-in policy,
    :class:`~agents.baselines.random_policy.DirichletRandomAgent`; any family), a run folder of ``scripts/train.py`` (its latest checkpoint; it must have been
    trained on ``env_id``), or an agent factory ``pkg.mod:make_agent`` called as
    ``(env_id, env_kwargs, seed)``.

    :raises ValueError: for a name that is none of these, saying which are, or a run folder
        trained on another env.
    """
    from agents.baselines.bandit import MRunAgent, WinStayLoseShiftAgent
    from agents.baselines.random_policy import DirichletRandomAgent
    from agents.baselines.registry import FAMILIES
    from agents.benchmark.scoring import load_factory

    env_kwargs = dict(env_kwargs or {})
    if spec == "rl2":
        from agents.pretrained import load_pretrained

        return load_pretrained(env_id, **env_kwargs)
    if Path(spec, "config.json").is_file():
        from agents.training.algorithms import load_run_agent

        agent, run = load_run_agent(spec)
        if run.env_id != env_id or env_setting(run.env_id, run.env_kwargs) != env_setting(env_id, env_kwargs):
            raise ValueError(f"the run {spec} was trained on {run.env_id} {run.env_kwargs}, not {env_id} {env_kwargs}")
        return agent
    if ":" in spec:
        return load_factory(spec)(env_id, env_kwargs, seed)
    if spec == "random_dirichlet":
        return DirichletRandomAgent(int(gym.make(env_id, **env_kwargs).action_space.n))
    bandit_rules = {}
    if env_id == "MetaBandit-v0":
        setting = env_setting(env_id, env_kwargs)
        num_arms = int(setting["num_arms"])
        bandit_rules = {"win_stay_lose_shift": lambda: WinStayLoseShiftAgent(num_arms),
                        "m_run": lambda: MRunAgent(num_arms, round(np.sqrt(setting["num_episodes"])))}
    if spec in bandit_rules:
        return bandit_rules[spec]()
    family = FAMILIES.get(env_id)
    if family is None or spec not in family.names:
        known = ["rl2", "random_dirichlet", *(family.names if family else ()), *bandit_rules]
        raise ValueError(
            f"unknown agent {spec!r} for {env_id}; give one of {known}, a run folder or a factory 'pkg.mod:make_agent'"
        )
    return family.make(spec, env_kwargs)


def probe(
    agent: Agent,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    num_tasks: int = 1000,
    seed: int = 0,
    memory_samples: int = 20,
    agent_seed: int | None = None,
) -> ProbeResult:
    """Run ``agent`` on the held-out tasks of the protocol and compute its behavioural statistics.

    :param agent: any :class:`agents.evaluation.Agent`; one with ``memory`` also gets the memory probe.
    :param env_id: one of :data:`PROBE_ENV_IDS`.
    :param env_kwargs: the family's keyword arguments.
    :param num_tasks: size of the held-out task set (>= 2: the memory read-out is fitted
        on one half and scored on the other).
    :param seed: seed of the held-out task set, as in :func:`agents.evaluation.evaluate`.
    :param memory_samples: steps per trial, evenly spaced, at which the state is read.
    :param agent_seed: the agent's own seed, as in :func:`agents.evaluation.evaluate`.
    :raises ValueError: for an env the probe has no statistics for, or bad sizes.
    """
    if env_id not in PROBE_ENV_IDS:
        raise ValueError(f"the behavioural probe knows {list(PROBE_ENV_IDS)}, not {env_id!r}")
    check_int("num_tasks", num_tasks, 2)
    check_int("memory_samples", memory_samples, 1)
    setting = env_setting(env_id, env_kwargs)
    length = max_trial_length(env_id, env_kwargs)
    memory_steps = np.unique(np.linspace(0, length - 1, min(memory_samples, length)).round().astype(np.int64))
    recorder = _Recorder(num_tasks, length, memory_steps)
    evaluation = evaluate(agent, env_id, env_kwargs, num_tasks=num_tasks, seed=seed, agent_seed=agent_seed,
                          observer=recorder)
    if (recorder.t != length).any():
        raise RuntimeError(f"the probe expects trials of {length} steps; some ran {sorted(set(recorder.t.tolist()))}")
    tasks = meta_envs.held_out_tasks(env_id, num_tasks, seed, **dict(env_kwargs or {}))
    trajectories = recorder.trajectories()
    if env_id == "MetaBandit-v0":
        statistics, curves, targets = _bandit_statistics(trajectories, tasks, int(setting["num_arms"]))
    else:
        statistics, curves, targets = _mdp_statistics(trajectories, setting)
    statistics = {"trial_return": evaluation.mean, **statistics}
    statistics.update(_memory_statistics(trajectories, targets))
    return ProbeResult(env_id, setting, evaluation, statistics, curves, trajectories)


def _bandit_statistics(
    trajectories: Trajectories, tasks: list, num_arms: int
) -> tuple[dict[str, float], dict[str, list[float]], dict[str, np.ndarray]]:
    actions, rewards = trajectories.actions, trajectories.rewards
    num_tasks, n = actions.shape
    stayed = actions[:, 1:] == actions[:, :-1]
    won = rewards[:, :-1] > 0.5
    # counts before each pull: pulls[i, t, a], successes[i, t, a] over pulls 0..t-1
    one_hot = np.zeros((num_tasks, n, num_arms), np.int32)
    one_hot[np.arange(num_tasks)[:, None], np.arange(n)[None, :], actions] = 1
    pulls = np.cumsum(one_hot, axis=1) - one_hot
    successes = np.cumsum(one_hot * (rewards[..., None] > 0.5), axis=1) - one_hot * (rewards[..., None] > 0.5)
    posterior_mean = (successes + 1.0) / (pulls + 2.0)
    chosen = np.take_along_axis(posterior_mean, actions[..., None], axis=2)[..., 0]
    on_best = chosen >= posterior_mean.max(axis=2) * (1 - _TIE_TOLERANCE)
    probabilities = np.stack([task.arm_probs for task in tasks])
    regret = probabilities.max(axis=1, keepdims=True) - np.take_along_axis(probabilities, actions, axis=1)
    switched = ~stayed
    untried = np.take_along_axis(pulls[:, 1:], actions[:, 1:, None], axis=2)[..., 0] == 0
    # the arm's successes before the loss (its successes after it: a loss adds none)
    lost_arm_successes = np.take_along_axis(successes[:, :-1], actions[:, :-1, None], axis=2)[..., 0]
    by_successes = np.minimum(lost_arm_successes, _SUCCESS_BINS - 1)
    statistics = {
        "p_stay_after_win": _share(stayed, won),
        "p_stay_after_loss": _share(stayed, ~won),
        "arms_tried": float((pulls[:, -1] + one_hot[:, -1] > 0).sum(axis=1).mean()),
        "late_best": float(on_best[:, n // 2:].mean()),
        "p_switch_to_new": _share(untried, switched),
    }
    curves = {
        "regret_per_pull": regret.mean(axis=0).tolist(),
        "p_stay_after_loss_by_successes": [_share(stayed, ~won & (by_successes == s)) for s in range(_SUCCESS_BINS)],
    }
    steps = trajectories.memory_steps
    targets = {"pulls": pulls[:, steps].astype(np.float64), "successes": successes[:, steps].astype(np.float64)}
    return statistics, curves, targets


def _mdp_statistics(
    trajectories: Trajectories, setting: Mapping[str, Any]
) -> tuple[dict[str, float], dict[str, list[float]], dict[str, np.ndarray]]:
    states, actions, rewards = trajectories.states, trajectories.actions, trajectories.rewards
    num_tasks = states.shape[0]
    num_states, num_actions, horizon = int(setting["num_states"]), int(setting["num_actions"]), int(setting["horizon"])
    num_episodes = int(setting["num_episodes"])
    everyone = np.arange(num_tasks)
    stats = TabularStatistics(num_tasks, num_states, num_actions)
    optimal = np.zeros((num_tasks, num_episodes - 1, horizon), bool)
    for episode in range(num_episodes):
        first = episode * horizon
        if episode > 0:
            q, _ = value_iteration(*empirical_model(stats, everyone), horizon)
            for h in range(horizon):
                values = q[everyone, h, states[:, first + h]]  # (num_tasks, A)
                best = values.max(axis=1)
                taken = values[everyone, actions[:, first + h]]
                optimal[:, episode - 1, h] = taken >= best - _TIE_TOLERANCE * (1 + np.abs(best))
        for h in range(horizon):
            t = first + h
            following = states[:, t + 1] if h + 1 < horizon else np.full(num_tasks, -1)
            stats.record(everyone, states[:, t], actions[:, t], rewards[:, t], following)
    per_episode = rewards.reshape(num_tasks, num_episodes, horizon).sum(axis=2).mean(axis=0)
    statistics = {"model_optimal": float(optimal.mean()) if num_episodes > 1 else float("nan")}
    # visit counts before each kept step
    pair = states * num_actions + actions
    visits = np.stack([
        np.bincount((everyone[:, None] * num_states * num_actions + pair[:, :t]).ravel(),
                    minlength=num_tasks * num_states * num_actions).reshape(num_tasks, -1)
        for t in trajectories.memory_steps
    ], axis=1).astype(np.float64)
    return statistics, {"per_episode": per_episode.tolist()}, {"visits": visits}


def _memory_statistics(trajectories: Trajectories, targets: dict[str, np.ndarray]) -> dict[str, float | None]:
    """R² of a ridge read-out of the agent's state, fitted on the first half of the trials."""
    if trajectories.memory is None:
        return {"memory_r2": None, **{f"memory_r2_{name}": None for name in targets}}
    memory = trajectories.memory.astype(np.float64)
    num_tasks = memory.shape[0]
    split = num_tasks // 2
    features = memory.reshape(num_tasks * memory.shape[1], -1)
    train = np.zeros(num_tasks, bool)
    train[:split] = True
    train = np.repeat(train, memory.shape[1])
    scores = {}
    for name, values in targets.items():
        y = values.reshape(num_tasks * values.shape[1], -1)
        scores[f"memory_r2_{name}"] = ridge_r2(features[train], y[train], features[~train], y[~train])
    valid = [score for score in scores.values() if score is not None]
    return {"memory_r2": float(np.mean(valid)) if valid else None, **scores}


def ridge_r2(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, alpha: float = 1e-3
) -> float | None:
    """Mean held-out R² of a ridge regression from ``x`` to each column of ``y``.

    Features are standardised on the training rows; ``alpha`` is the ridge penalty per
    training row. Columns of ``y`` that do not vary on the test rows (R² undefined) or on
    the training rows (nothing to learn a read-out from, e.g. a state-action pair the
    training trials never visited) are left out; ``None`` if no column is left.

    :param x_train: ``(n, D)`` features.
    :param y_train: ``(n, K)`` targets.
    :param x_test: ``(m, D)`` features.
    :param y_test: ``(m, K)`` targets.
    """
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0)
    scale[scale == 0] = 1.0
    a = np.hstack([(x_train - mean) / scale, np.ones((len(x_train), 1))])
    b = np.hstack([(x_test - mean) / scale, np.ones((len(x_test), 1))])
    penalty = alpha * len(a) * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    weights = np.linalg.solve(a.T @ a + penalty, a.T @ y_train)
    residual = ((y_test - b @ weights) ** 2).sum(axis=0)
    total = ((y_test - y_test.mean(axis=0)) ** 2).sum(axis=0)
    varies = (total > 0) & (y_train.std(axis=0) > 0)
    if not varies.any():
        return None
    return float((1.0 - residual[varies] / total[varies]).mean())


def _share(event: np.ndarray, given: np.ndarray) -> float:
    """P(event | given) over all entries; NaN where ``given`` never happens."""
    count = given.sum()
    return float((event & given).sum() / count) if count else float("nan")
