"""MetaTabularMDP-v0: random tabular MDPs, the RL² paper's second experiment (section 4.2).

Task
    A finite MDP with ``num_states`` states and ``num_actions`` actions
    (:class:`TabularMDPTask`): a transition tensor ``P[s, a, s']``, a mean
    reward ``mu[s, a]`` and an initial-state distribution. Per task, every row
    ``P[s, a, :]`` is drawn from the flat Dirichlet(1, ..., 1) and every
    ``mu[s, a]`` from Normal(1, 1) (:class:`TabularMDPTaskDistribution`).

Episode
    ``horizon`` steps from an initial state (no other termination).

Trial
    ``num_episodes`` episodes on the same task; the RL² objective is their total reward.
    The paper: 10 states, 5 actions, horizon 10, ``num_episodes`` in {10, 25, 50, 75, 100}.

Action
    ``Discrete(num_actions)``.

Observation
    The shared RL² observation (:mod:`meta_envs.trial`); ``obs`` is the one-hot
    current state, a float32 vector of length ``num_states``.

Reward
    Normal(mu[s, a], 1) for taking action ``a`` in state ``s``; the next state is
    drawn from ``P[s, a, :]``.

Starting state and trial end
    Every episode starts from the task's initial-state distribution, set by the
    ``initial_state`` keyword: an integer ``i`` (every episode starts in state
    ``i``; the paper's rule is ``0``) or ``"uniform"`` (a uniformly random state at
    each episode start). ``reset()`` draws a new task (or takes
    ``options={"task": TabularMDPTask(...)}``); ``terminated`` becomes True after
    ``num_episodes * horizon`` steps. There is no truncation.

Randomness
    All draws come from the env's generator, in this order: per new task (batched over
    the sub-envs being reset), ``num_states`` standard exponentials per state-action
    pair (normalised into the Dirichlet rows), then one standard normal per
    state-action pair (the means); per episode start, one uniform per sub-env whose
    initial-state distribution is not a single state; per step, one standard normal
    per sub-env (the reward noise) then one uniform per sub-env (the next state, by
    inverse CDF: the number of cumulative row entries ``<= u``, last entry excluded).

Rendering
    ``render_mode="ansi"``: the current state and the last action and reward
    (after the trial's episode and step).

Planning (optimal and any policy's expected return of a task) is in :mod:`meta_envs.planning`.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from meta_envs.task import ArrayTask
from meta_envs.trial import RL2Env, RL2VectorEnv, TaskDynamics
from meta_envs.validation import check_int

#: how far a probability row's sum may be from 1 (float rounding of user-built tasks)
PROBABILITY_TOLERANCE = 1e-6
#: elements per block of :func:`inverse_cdf_table` (2.6 MB of float64: fits in cache)
_BLOCK_ELEMENTS = 1 << 18


def check_probabilities(name: str, probs: np.ndarray) -> None:
    """Raise :class:`ValueError` unless every row (last axis) of ``probs`` is a distribution.

    :param name: the array's name, used in the message.
    :param probs: array whose last axis holds probabilities.
    """
    if not np.all(np.isfinite(probs)):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    if np.any(probs < 0.0):
        index = tuple(int(i) for i in np.argwhere(probs < 0.0)[0])
        raise ValueError(f"{name} must be non-negative, got {float(probs[index])} at index {index}")
    error = np.abs(probs.sum(axis=-1) - 1.0)
    if np.any(error > PROBABILITY_TOLERANCE):
        index = tuple(int(i) for i in np.argwhere(error > PROBABILITY_TOLERANCE)[0])
        raise ValueError(
            f"{name} rows must sum to 1 (within {PROBABILITY_TOLERANCE}); "
            f"the row at index {index} sums to {float(probs[index].sum())}"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class TabularMDPTask(ArrayTask):
    """One tabular MDP.

    :param transitions: ``P[s, a, s']``, shape ``(num_states, num_actions, num_states)``;
        every row ``P[s, a, :]`` non-negative and summing to 1.
    :param reward_means: ``mu[s, a]``, shape ``(num_states, num_actions)``, finite; the
        reward of ``(s, a)`` is Normal(mu[s, a], 1).
    :param initial_state_probs: the distribution of each episode's first state, shape
        ``(num_states,)``.
    """

    transitions: np.ndarray
    reward_means: np.ndarray
    initial_state_probs: np.ndarray
    array_fields: ClassVar[dict[str, type]] = {
        "transitions": np.float64,
        "reward_means": np.float64,
        "initial_state_probs": np.float64,
    }

    def validate(self) -> None:
        p, mu, init = self.transitions, self.reward_means, self.initial_state_probs
        if p.ndim != 3 or p.shape[0] != p.shape[2] or 0 in p.shape:
            raise ValueError(
                "transitions must have shape (num_states, num_actions, num_states) with "
                f"num_states, num_actions >= 1, got {p.shape}"
            )
        if mu.shape != p.shape[:2]:
            raise ValueError(
                f"reward_means must have shape (num_states, num_actions) = {p.shape[:2]}, got {mu.shape}"
            )
        if init.shape != p.shape[:1]:
            raise ValueError(
                f"initial_state_probs must have shape (num_states,) = {p.shape[:1]}, got {init.shape}"
            )
        if not np.all(np.isfinite(mu)):
            raise ValueError("reward_means must be finite, got NaN or inf")
        check_probabilities("transitions", p)
        check_probabilities("initial_state_probs", init)

    @property
    def num_states(self) -> int:
        """Number of states."""
        return int(self.transitions.shape[0])

    @property
    def num_actions(self) -> int:
        """Number of actions."""
        return int(self.transitions.shape[1])


def initial_state_probs(num_states: int, initial_state: int | str) -> np.ndarray:
    """The initial-state distribution of the ``initial_state`` rule (see the module docstring).

    :param num_states: number of states (>= 1).
    :param initial_state: a state index in ``[0, num_states)`` or ``"uniform"``.
    :return: float64 probabilities of shape ``(num_states,)``.
    """
    allowed = f"a state index in [0, {num_states}) or 'uniform'"
    if isinstance(initial_state, str):
        if initial_state != "uniform":
            raise ValueError(f"initial_state must be {allowed}, got {initial_state!r}")
        return np.full(num_states, 1.0 / num_states)
    if isinstance(initial_state, (bool, np.bool_)) or not isinstance(initial_state, numbers.Integral):
        raise TypeError(
            f"initial_state must be {allowed}, got {initial_state!r} ({type(initial_state).__name__})"
        )
    index = check_int("initial_state", initial_state, 0, num_states - 1)
    probs = np.zeros(num_states)
    probs[index] = 1.0
    return probs


def draw_transitions(rng: np.random.Generator, out: np.ndarray) -> None:
    """Fill ``out`` with flat-Dirichlet distributions along its FIRST axis (next state first).

    ``out[:, j]`` is one row ``P[s, a, :]``; a flat Dirichlet is a vector of i.i.d.
    Exp(1) draws divided by their sum. The next-state-first layout makes every
    operation a contiguous vector operation over all rows at once.

    :param rng: the generator (draws ``out.size`` standard exponentials).
    :param out: a C-contiguous float64 array of shape ``(num_states, ...)``.
    """
    rng.standard_exponential(out=out)
    total = out[0].copy()
    for row in out[1:]:
        total += row
    out /= total


def inverse_cdf_table(transitions: np.ndarray, out: np.ndarray) -> None:
    """The thresholds that turn one uniform into a next state, for many rows at once.

    For each row ``p`` (``transitions[:, j]``, next state first, as
    :func:`draw_transitions` makes them), ``out[j]`` holds ``cumsum(p)[:-1] / sum(p)``;
    the next state for a uniform ``u`` in [0, 1) is the number of entries ``<= u``
    (always in ``[0, num_states)``; a state of probability 0 is never drawn). Every
    environment computes its table from the task's probabilities with this function,
    so equal tasks step identically.

    :param transitions: float64 array of shape ``(num_states, num_rows)``.
    :param out: float64 array of shape ``(num_rows, num_states - 1)``.
    """
    num_states, num_rows = transitions.shape
    # Blocks of rows, so that the running sums stay in cache between the passes.
    block = max(1, _BLOCK_ELEMENTS // num_states)
    work = np.empty((num_states, min(block, num_rows)))
    for start in range(0, num_rows, block):
        p = transitions[:, start : start + block]
        cumulative = work[:, : p.shape[1]]
        np.copyto(cumulative[0], p[0])
        for k in range(1, num_states):
            np.add(cumulative[k - 1], p[k], out=cumulative[k])
        np.divide(cumulative[:-1].T, cumulative[-1][:, None], out=out[start : start + block])


@dataclasses.dataclass(frozen=True)
class TabularMDPTaskDistribution:
    """The RL² paper's MDP distribution: Dirichlet(1) transition rows, Normal(1, 1) means.

    :param num_states: number of states (>= 1).
    :param num_actions: number of actions (>= 1).
    :param initial_state: the initial-state rule (a state index or ``"uniform"``).
    """

    num_states: int = 10
    num_actions: int = 5
    initial_state: int | str = 0

    def __post_init__(self) -> None:
        check_int("num_states", self.num_states, 1)
        check_int("num_actions", self.num_actions, 1)
        initial_state_probs(self.num_states, self.initial_state)

    def draw(self, rng: np.random.Generator, transitions: np.ndarray, reward_means: np.ndarray) -> None:
        """Draw a batch of tasks into preallocated arrays (the batched form of :meth:`sample`).

        :param rng: the generator.
        :param transitions: C-contiguous float64 output of shape
            ``(num_states, num_tasks, num_states, num_actions)``: ``transitions[s2, i, s, a]``
            is ``P[s, a, s2]`` of task ``i``.
        :param reward_means: C-contiguous float64 output of shape ``(num_tasks, num_states, num_actions)``.
        """
        draw_transitions(rng, transitions)
        rng.standard_normal(out=reward_means)
        reward_means += 1.0

    def sample(self, rng: np.random.Generator) -> TabularMDPTask:
        """Draw one task."""
        s, a = self.num_states, self.num_actions
        transitions, reward_means = np.empty((s, 1, s, a)), np.empty((1, s, a))
        self.draw(rng, transitions, reward_means)
        return TabularMDPTask(
            transitions[:, 0].transpose(1, 2, 0),
            reward_means[0],
            initial_state_probs(s, self.initial_state),
        )


class TabularMDPDynamics(TaskDynamics):
    """Batched tabular-MDP dynamics: per step, for all sub-envs at once, one gather of
    the reward means, one normal draw, one gather of inverse-CDF rows and one uniform draw.

    :param num_envs: number of sub-environments.
    :param num_states: states per task (>= 1).
    :param num_actions: actions per task (>= 1).
    :param horizon: steps per episode (>= 1).
    :param initial_state: the initial-state rule of drawn tasks (a state index or ``"uniform"``).
    """

    task_type = TabularMDPTask

    def __init__(
        self, num_envs: int, num_states: int, num_actions: int, horizon: int, initial_state: int | str
    ) -> None:
        super().__init__(num_envs)
        self.distribution = TabularMDPTaskDistribution(num_states, num_actions, initial_state)
        self.horizon = check_int("horizon", horizon, 1)
        n, s, a = self.num_envs, num_states, num_actions
        self.num_states, self.num_actions = s, a
        self.state_space = spaces.Box(0.0, 1.0, (s,), np.float32)
        # The tasks. Transitions are stored next state first (the layout draw_transitions
        # fills); the step reads the reward means and the inverse-CDF table at the flat
        # row index (env, s, a), with one `take` each.
        self._transitions = np.zeros((s, n, s, a))
        self._reward_means = np.zeros((n * s * a,))
        self._thresholds = np.zeros((n * s * a, s - 1))
        self._initial_probs = np.zeros((n, s))
        self._initial_thresholds = np.zeros((n, s - 1))
        self._initial_fixed = np.zeros(n, np.int64)  # the start state, or -1 if it is random
        #: the current state of every sub-env
        self.states = np.zeros(n, np.int64)
        self._steps = np.zeros(n, np.int64)  # steps taken in the current episode
        self._row_base = np.arange(n, dtype=np.int64) * (s * a)
        self._below = np.empty((n, s - 1), np.float32)
        self._ones = np.ones(s - 1, np.float32)
        self._one_hot_table = np.eye(s, dtype=np.float32)

    def sample_tasks(self, env_ids: np.ndarray, rng: np.random.Generator) -> None:
        s, a, k = self.num_states, self.num_actions, len(env_ids)
        if k == self.num_envs and np.array_equal(env_ids, np.arange(k)):
            # All sub-envs: draw straight into the task arrays (no scatter copies).
            self.distribution.draw(rng, self._transitions, self._reward_means.reshape(k, s, a))
            inverse_cdf_table(self._transitions.reshape(s, -1), self._thresholds)
        else:
            transitions, reward_means = np.empty((s, k, s, a)), np.empty((k, s, a))
            self.distribution.draw(rng, transitions, reward_means)
            self._install(env_ids, transitions, reward_means)
        probs = initial_state_probs(s, self.distribution.initial_state)
        self._set_initial(env_ids, np.broadcast_to(probs, (k, s)))

    def set_tasks(self, env_ids: np.ndarray, tasks: Sequence[TabularMDPTask]) -> None:
        for task in tasks:
            if (task.num_states, task.num_actions) != (self.num_states, self.num_actions):
                raise ValueError(
                    f"task has num_states={task.num_states}, num_actions={task.num_actions} but the env "
                    f"has num_states={self.num_states}, num_actions={self.num_actions}"
                )
        transitions = np.stack([task.transitions for task in tasks], axis=1).transpose(3, 1, 0, 2)
        reward_means = np.stack([task.reward_means for task in tasks])
        self._install(env_ids, np.ascontiguousarray(transitions), reward_means)
        self._set_initial(env_ids, np.stack([task.initial_state_probs for task in tasks]))

    def _install(self, env_ids: np.ndarray, transitions: np.ndarray, reward_means: np.ndarray) -> None:
        s, a, k = self.num_states, self.num_actions, len(env_ids)
        self._transitions[:, env_ids] = transitions
        self._reward_means.reshape(-1, s * a)[env_ids] = reward_means.reshape(k, s * a)
        thresholds = np.empty((k * s * a, s - 1))
        inverse_cdf_table(transitions.reshape(s, -1), thresholds)
        self._thresholds.reshape(self.num_envs, -1)[env_ids] = thresholds.reshape(k, -1)

    def _set_initial(self, env_ids: np.ndarray, probs: np.ndarray) -> None:
        self._initial_probs[env_ids] = probs
        thresholds = np.empty((len(env_ids), self.num_states - 1))
        inverse_cdf_table(np.ascontiguousarray(probs.T), thresholds)
        self._initial_thresholds[env_ids] = thresholds
        fixed = probs.max(axis=1) == 1.0
        self._initial_fixed[env_ids] = np.where(fixed, probs.argmax(axis=1), -1)

    def task(self, env_id: int) -> TabularMDPTask:
        s, a = self.num_states, self.num_actions
        return TabularMDPTask(
            self._transitions[:, env_id].transpose(1, 2, 0),
            self._reward_means.reshape(-1, s, a)[env_id],
            self._initial_probs[env_id],
        )

    def start_episodes(self, env_ids: np.ndarray, rng: np.random.Generator) -> None:
        states = self._initial_fixed[env_ids]
        random = states < 0
        if random.any():
            ids = env_ids[random]
            u = rng.random(len(ids))
            states[random] = (self._initial_thresholds[ids] <= u[:, None]).sum(axis=1)
        self.states[env_ids] = states
        self._steps[env_ids] = 0

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        rows = self.states * self.num_actions
        rows += actions
        rows += self._row_base
        rewards = self._reward_means.take(rows)
        rewards += rng.standard_normal(self.num_envs)
        u = rng.random(self.num_envs)
        # Inverse CDF: count the thresholds <= u; as float32 0/1 the count is one
        # matrix-vector product (exact for these small integers), far cheaper than a
        # sum over the short last axis.
        np.less_equal(self._thresholds.take(rows, axis=0), u[:, None], out=self._below, casting="unsafe")
        self.states = (self._below @ self._ones).astype(np.int64)
        self._steps += 1
        return rewards, self._steps == self.horizon

    def state_obs(self) -> np.ndarray:
        return self._one_hot_table.take(self.states, axis=0)

    def task_features(self) -> np.ndarray:
        """The reward means ``μ[s, a]`` then the transition probabilities ``P[s, a, s']``,
        flattened: ``(num_envs, S·A + S·A·S)``. The initial-state distribution is left out:
        the tasks an env draws share its ``initial_state`` rule."""
        n, s, a = self.num_envs, self.num_states, self.num_actions
        transitions = self._transitions.transpose(1, 2, 3, 0).reshape(n, s * a * s)  # stored next state first
        return np.concatenate([self._reward_means.reshape(n, s * a), transitions], axis=1).astype(np.float32)

    def render_text(self, env_id: int, history: Sequence[tuple[int, float, bool]]) -> str:
        line = f"state {self.states[env_id]}"
        if history:
            action, reward, episode_done = history[-1]
            line += f"; last: action {action} -> reward {reward:.3f}"
            if episode_done:
                line += " (episode ended; state is the next episode's start)"
        return line


class MetaTabularMDPEnv(RL2Env):
    """One tabular-MDP trial per Gymnasium episode (see the module docstring).

    :param num_states: states per task (>= 1; paper: 10).
    :param num_actions: actions per task (>= 1; paper: 5).
    :param horizon: steps per episode (>= 1; paper: 10).
    :param num_episodes: episodes per trial (>= 1; paper: 10, 25, 50, 75, 100).
    :param initial_state: where every episode starts: a state index (paper: 0) or ``"uniform"``.
    :param render_mode: ``None`` or ``"ansi"``.
    """

    def __init__(
        self,
        num_states: int = 10,
        num_actions: int = 5,
        horizon: int = 10,
        num_episodes: int = 10,
        initial_state: int | str = 0,
        render_mode: str | None = None,
    ) -> None:
        dynamics = TabularMDPDynamics(1, num_states, num_actions, horizon, initial_state)
        super().__init__(dynamics, num_episodes, render_mode)



class MetaTabularMDPVectorEnv(RL2VectorEnv):
    """``num_envs`` tabular-MDP trials stepped with batched numpy (see :class:`RL2VectorEnv`).

    :param num_envs: number of sub-environments.
    :param num_states: states per task (>= 1).
    :param num_actions: actions per task (>= 1).
    :param horizon: steps per episode (>= 1).
    :param num_episodes: episodes per trial (>= 1).
    :param initial_state: a state index or ``"uniform"``.
    :param autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default) or ``SAME_STEP``.
    :param render_mode: ``None`` or ``"ansi"`` (``render()``: one text per sub-env).
    """

    def __init__(
        self,
        num_envs: int,
        num_states: int = 10,
        num_actions: int = 5,
        horizon: int = 10,
        num_episodes: int = 10,
        initial_state: int | str = 0,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
    ) -> None:
        dynamics = TabularMDPDynamics(num_envs, num_states, num_actions, horizon, initial_state)
        super().__init__(dynamics, num_episodes, autoreset_mode, render_mode)
