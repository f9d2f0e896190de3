"""The random policy: every action uniformly at random, on any family."""

from __future__ import annotations

import numpy as np

from meta_envs.validation import check_int


class RandomAgent:
    """Uniformly random actions; the floor every learner must beat.

    :param num_actions: size of the env's discrete action space.
    """

    name = "random"

    def __init__(self, num_actions: int) -> None:
        self.num_actions = check_int("num_actions", num_actions, 1)
        self._rng = np.random.default_rng(0)
        self._num_envs = 0

    def reset(self, num_envs: int, seed: int) -> None:
        self._num_envs = check_int("num_envs", num_envs, 1)
        self._rng = np.random.default_rng(seed)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return self._rng.integers(0, self.num_actions, self._num_envs)


class DirichletRandomAgent:
    """Random play with a lean that differs per trial: each trial draws its own action
    distribution and samples every action from it, independently of what it saw. The
    roll-in policy of DPT's bandit datasets (Lee et al. 2023): the distribution is
    ``(1 - w) * Dirichlet(1, ..., 1) + w * one_hot(j)`` with ``w`` uniform on
    ``{0, 0.1, ..., 1}`` and ``j`` a uniform action, so its trials cover every balance of
    pulls, from even to all on one arm, where uniform play gives about equal counts only.

    An in-context learner trained on such trials has seen histories shaped like its own
    (most pulls on a few arms); one trained on uniform play has not.

    :param num_actions: size of the env's discrete action space.
    """

    name = "random_dirichlet"

    def __init__(self, num_actions: int) -> None:
        self.num_actions = check_int("num_actions", num_actions, 1)
        self._rng = np.random.default_rng(0)
        self._cumulative = np.ones((0, self.num_actions))

    def reset(self, num_envs: int, seed: int) -> None:
        """Start ``num_envs`` trials, each with its own action distribution."""
        check_int("num_envs", num_envs, 1)
        self._rng = np.random.default_rng(seed)
        lean = self._rng.integers(0, 11, num_envs) / 10
        probabilities = (1 - lean)[:, None] * self._rng.dirichlet(np.ones(self.num_actions), num_envs)
        probabilities[np.arange(num_envs), self._rng.integers(0, self.num_actions, num_envs)] += lean
        self._cumulative = probabilities.cumsum(axis=1)
        self._cumulative /= self._cumulative[:, -1:]  # exactly 1 at the end, so a draw always lands on an action

    @property
    def probabilities(self) -> np.ndarray:
        """``(num_envs, num_actions)``: each trial's action distribution."""
        return np.diff(self._cumulative, axis=1, prepend=0.0)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        draws = self._rng.random(len(self._cumulative))
        return (draws[:, None] >= self._cumulative).sum(axis=1)
