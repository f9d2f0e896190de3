"""MetaBandit-v0: Bernoulli multi-armed bandits, the RL² paper's first experiment (section 4.1).

Task
    ``num_arms`` Bernoulli arms; each arm's success probability is drawn i.i.d.
    from U[0, 1] per task (:class:`BanditTask`, :class:`BanditTaskDistribution`).

Episode
    One pull: the agent picks an arm and the episode ends.

Trial
    ``num_episodes`` pulls on the same task; the RL² objective is their sum.
    The paper's grid: ``num_arms`` in {5, 10, 50} x ``num_episodes`` in {10, 100, 500}.

Action
    ``Discrete(num_arms)``: the arm to pull.

Observation
    The shared RL² observation (:mod:`meta_envs.trial`); a bandit has a single
    state, so ``obs`` is the constant one-hot ``[1.0]``.

Reward
    1 with the pulled arm's probability, else 0.

Starting state and trial end
    ``reset()`` draws a new task (or takes ``options={"task": BanditTask(...)}``);
    ``terminated`` becomes True after ``num_episodes`` pulls. There is no truncation.

Rendering
    ``render_mode="ansi"``: per arm, the pulls so far, the empirical mean and the
    true probability.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from meta_envs.task import ArrayTask
from meta_envs.trial import RL2Env, RL2VectorEnv, TaskDynamics
from meta_envs.validation import check_int


@dataclasses.dataclass(frozen=True, eq=False)
class BanditTask(ArrayTask):
    """One bandit: the success probability of each arm.

    :param arm_probs: probabilities in [0, 1], one per arm (at least 2 arms).
    """

    arm_probs: np.ndarray
    array_fields = {"arm_probs": np.float64}

    def validate(self) -> None:
        probs = self.arm_probs
        if probs.ndim != 1 or probs.size < 2:
            raise ValueError(f"arm_probs must be a 1-D array of >= 2 probabilities, got shape {probs.shape}")
        if not np.all((probs >= 0.0) & (probs <= 1.0)):
            raise ValueError(f"arm_probs must lie in [0, 1], got {probs.tolist()}")

    @property
    def num_arms(self) -> int:
        """Number of arms."""
        return int(self.arm_probs.size)


@dataclasses.dataclass(frozen=True)
class BanditTaskDistribution:
    """Arm probabilities i.i.d. U[0, 1].

    :param num_arms: number of arms (>= 2).
    """

    num_arms: int = 5

    def __post_init__(self) -> None:
        check_int("num_arms", self.num_arms, 2)

    def sample(self, rng: np.random.Generator) -> BanditTask:
        """Draw one task."""
        return BanditTask(rng.random(self.num_arms))


class BanditDynamics(TaskDynamics):
    """Batched bandit dynamics: one gather and one uniform draw per step for all sub-envs.

    :param num_envs: number of sub-environments.
    :param num_arms: number of arms (>= 2).
    """

    task_type = BanditTask
    reward_bounds = (0.0, 1.0)

    def __init__(self, num_envs: int, num_arms: int) -> None:
        super().__init__(num_envs)
        self.distribution = BanditTaskDistribution(num_arms)
        self.num_actions = self.distribution.num_arms
        self.state_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.arm_probs = np.zeros((self.num_envs, self.num_actions))
        self._row_offsets = np.arange(self.num_envs, dtype=np.int64) * self.num_actions
        # Every pull ends its episode; the trial layer only reads this array.
        self._episode_end = np.ones(self.num_envs, bool)
        self._episode_end.flags.writeable = False

    def sample_tasks(self, env_ids: np.ndarray, rng: np.random.Generator) -> None:
        self.arm_probs[env_ids] = rng.random((len(env_ids), self.num_actions))

    def set_tasks(self, env_ids: np.ndarray, tasks: Sequence[BanditTask]) -> None:
        for task in tasks:
            if task.num_arms != self.num_actions:
                raise ValueError(
                    f"task has {task.num_arms} arms but the env has num_arms={self.num_actions}"
                )
        self.arm_probs[env_ids] = np.stack([task.arm_probs for task in tasks])

    def task(self, env_id: int) -> BanditTask:
        return BanditTask(self.arm_probs[env_id].copy())

    def start_episodes(self, env_ids: np.ndarray, rng: np.random.Generator) -> None:
        """A bandit has one state: nothing to restart."""

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        probs = self.arm_probs.reshape(-1).take(self._row_offsets + actions)
        rewards = (rng.random(self.num_envs) < probs).astype(np.float64)
        return rewards, self._episode_end

    def state_obs(self) -> np.ndarray:
        return np.ones((self.num_envs, 1), np.float32)

    def task_features(self) -> np.ndarray:
        """The arms' success probabilities, ``(num_envs, num_arms)``."""
        return self.arm_probs.astype(np.float32)

    def render_text(self, env_id: int, history: Sequence[tuple[int, float, bool]]) -> str:
        pulls, wins = np.zeros(self.num_actions, int), np.zeros(self.num_actions)
        for action, reward, _ in history:
            pulls[action] += 1
            wins[action] += reward
        probs = self.arm_probs[env_id]
        lines = ["arm  pulls  mean   p"]
        for arm in range(self.num_actions):
            mean = f"{wins[arm] / pulls[arm]:.2f}" if pulls[arm] else "  -  "
            lines.append(f"{arm:>3}  {pulls[arm]:>5}  {mean:>5}  {probs[arm]:.2f}")
        if history:
            action, reward, _ = history[-1]
            lines.append(f"last: arm {action} -> {reward:g}")
        return "\n".join(lines)


class MetaBanditEnv(RL2Env):
    """One bandit trial per Gymnasium episode (see the module docstring).

    :param num_arms: arms per task (>= 2; paper: 5, 10, 50).
    :param num_episodes: pulls per trial (>= 1; paper: 10, 100, 500).
    :param render_mode: ``None`` or ``"ansi"``.
    """

    def __init__(self, num_arms: int = 5, num_episodes: int = 10, render_mode: str | None = None) -> None:
        super().__init__(BanditDynamics(1, num_arms), num_episodes, render_mode)



class MetaBanditVectorEnv(RL2VectorEnv):
    """``num_envs`` bandit trials stepped with batched numpy (see :class:`RL2VectorEnv`).

    :param num_envs: number of sub-environments.
    :param num_arms: arms per task (>= 2).
    :param num_episodes: pulls per trial (>= 1).
    :param autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default) or ``SAME_STEP``.
    :param render_mode: ``None`` or ``"ansi"`` (``render()``: one text per sub-env).
    """

    def __init__(
        self,
        num_envs: int,
        num_arms: int = 5,
        num_episodes: int = 10,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(BanditDynamics(num_envs, num_arms), num_episodes, autoreset_mode, render_mode)
