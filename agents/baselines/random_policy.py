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
