"""Batched maze dynamics: every sub-env's maze, agent and egocentric view in flat numpy arrays.

Memory layout (why a step is a handful of numpy calls)
------------------------------------------------------
Every sub-env's wall grid is padded with ``view_size - 2`` wall squares on each side (the
agent never stands on the walled border, so its view window never leaves the padded
grid), and all grids live in one uint8 array of shape ``(num_envs, P, P)``, one byte per
square, so that thousands of mazes stay in the CPU caches. Agent, start and goal positions
are flat indices into that array. The egocentric view of every sub-env is then one gather
(``take``) of ``view_size**2`` squares per sub-env at precomputed offsets from the
agent's square (the wall channel), and one comparison of the same indices with the goal's
(the goal channel).

Task draws (why reset does not dominate)
----------------------------------------
Generating one maze at a time costs tens of numpy calls, which would dominate a vector
env that resets a few sub-envs per step. Mazes are therefore generated ahead, in
batches of at least :data:`TASK_CHUNK` (:func:`~meta_envs.maze.generation.generate_mazes`,
vectorised), from the generator that draws them, and handed out in order. Every task is
still an exact, independent draw from the task distribution (this is not a pool: no
maze is reused); only the order in which the generator's numbers are consumed changes.
The look-ahead is dropped whenever tasks are drawn with a different generator object
(a reseeded env gets a new one), so the tasks after ``reset(seed=s)`` depend only on
``s`` and the calls made since.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from gymnasium import spaces

from meta_envs.maze.generation import (
    FORWARD,
    HEADING_STEPS,
    NEXT_HEADING,
    NUM_ACTIONS,
    MazeBatch,
    generate_mazes,
)
from meta_envs.maze.rendering import VIEW_TILE, egocentric_pixels
from meta_envs.maze.task import MazeTask, MazeTaskDistribution
from meta_envs.trial import TaskDynamics
from meta_envs.validation import check_int, check_number

#: observation modes: a symbolic local view (default) or its pixel rendering
OBS_MODES = ("symbolic", "rgb")
#: mazes generated at once when the look-ahead runs out
TASK_CHUNK = 1024


def _check_finite(name: str, value: float) -> float:
    """A reward or cost: a finite real number >= 0."""
    value = check_number(name, value, 0.0, math.inf)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class _Drawn(NamedTuple):
    """Tasks in the dynamics' padded layout (positions are flat indices into one padded grid)."""

    walls: np.ndarray
    start: np.ndarray
    start_heading: np.ndarray
    goal: np.ndarray
    shortest_path_length: np.ndarray
    optimal_episode_length: np.ndarray

    def rows(self, begin: int, end: int) -> _Drawn:
        return _Drawn(*(column[begin:end] for column in self))


class MazeDynamics(TaskDynamics):
    """Mazes for ``num_envs`` sub-envs, stepped together (see the module docstring).

    :param num_envs: number of sub-environments.
    :param size: cells per maze side (>= 2).
    :param horizon: steps after which an inner episode times out (>= 1).
    :param obs_mode: ``"symbolic"`` or ``"rgb"``.
    :param view_size: side of the square egocentric view, in squares (odd, >= 3).
    :param goal_reward: reward for reaching the goal (>= 0).
    :param step_cost: cost of every step (>= 0).
    :param wall_cost: extra cost of a forward move into a wall (>= 0).
    """

    task_type = MazeTask
    num_actions = NUM_ACTIONS

    def __init__(
        self,
        num_envs: int,
        size: int = 5,
        horizon: int = 250,
        obs_mode: str = "symbolic",
        view_size: int = 5,
        goal_reward: float = 1.0,
        step_cost: float = 0.04,
        wall_cost: float = 0.001,
    ) -> None:
        super().__init__(num_envs)
        self.distribution = MazeTaskDistribution(size)
        self.horizon = check_int("horizon", horizon, 1)
        if obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {list(OBS_MODES)}, got {obs_mode!r}")
        self.obs_mode = obs_mode
        self.view_size = check_int("view_size", view_size, 3)
        if self.view_size % 2 == 0:
            raise ValueError(f"view_size must be odd (the agent sits in the middle column), got {view_size}")
        goal_reward = _check_finite("goal_reward", goal_reward)
        step_cost = _check_finite("step_cost", step_cost)
        wall_cost = _check_finite("wall_cost", wall_cost)
        # Indexed by outcome = bumped + 2 * at_goal. Outcome 3 only happens to a sub-env whose
        # trial is over (it still stands on the goal) when the vector env steps it once more
        # before its autoreset; that reward is discarded.
        self._rewards = np.array(
            [-step_cost, -step_cost - wall_cost, goal_reward - step_cost, goal_reward - step_cost - wall_cost]
        )
        self.reward_bounds = (float(self._rewards[1]), float(self._rewards[2]))

        v = self.view_size
        if obs_mode == "symbolic":
            self.state_space = spaces.Box(0, 1, (v * v * 2,), np.uint8)
        else:
            self.state_space = spaces.Box(0, 255, (v * VIEW_TILE, v * VIEW_TILE, 3), np.uint8)

        self.grid_size = self.distribution.grid_size
        self._pad = v - 2
        self._side = self.grid_size + 2 * self._pad
        n, side = self.num_envs, self._side
        self._walls = np.zeros((n, side, side), np.uint8)
        self._squares = self._walls.reshape(-1)
        self._base = np.arange(n, dtype=np.int64) * side * side
        self.pos = np.zeros(n, np.int64)
        self.heading = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.start = np.zeros(n, np.int64)
        self.start_heading = np.zeros(n, np.int64)
        self.goal = np.zeros(n, np.int64)
        self.shortest_path_length = np.zeros(n, np.int64)
        self.optimal_episode_length = np.zeros(n, np.int64)

        # Tables indexed by action * 4 + heading: the position change and the new heading.
        moves = HEADING_STEPS[:, 0] * side + HEADING_STEPS[:, 1]
        self._moves = np.zeros((NUM_ACTIONS, 4), np.int64)
        self._moves[FORWARD] = moves
        self._moves = self._moves.reshape(-1)
        self._next_heading = NEXT_HEADING.reshape(-1).copy()
        # Offsets of the view window's squares from the agent, per heading: row 0 is the
        # farthest row ahead, the last row is the agent's own, columns run left to right.
        ahead = (v - 1 - np.arange(v))[:, None].repeat(v, 1).reshape(-1)
        right = (np.arange(v) - v // 2)[None, :].repeat(v, 0).reshape(-1)
        self._view_offsets = np.stack([ahead * moves[h] + right * moves[(h + 1) % 4] for h in range(4)])

        self._stream_rng: np.random.Generator | None = None
        self._stream: _Drawn | None = None
        self._cursor = 0

    # -- tasks ---------------------------------------------------------------------------

    def _to_layout(self, batch: MazeBatch) -> _Drawn:
        """Pad the wall grids and turn (row, column) squares into flat padded indices."""
        k, pad, side = len(batch.walls), self._pad, self._side
        walls = np.ones((k, side, side), np.uint8)
        walls[:, pad : pad + self.grid_size, pad : pad + self.grid_size] = batch.walls
        start = (batch.start[:, 0] + pad) * side + batch.start[:, 1] + pad
        goal = (batch.goal[:, 0] + pad) * side + batch.goal[:, 1] + pad
        return _Drawn(
            walls, start, batch.start_heading, goal, batch.shortest_path_length, batch.optimal_episode_length
        )

    def _draw(self, count: int, rng: np.random.Generator) -> _Drawn:
        """The next ``count`` tasks of ``rng``'s stream (see the module docstring)."""
        if rng is not self._stream_rng:
            self._stream_rng, self._stream, self._cursor = rng, None, 0
        have = 0 if self._stream is None else len(self._stream.walls) - self._cursor
        if have < count:
            batch = generate_mazes(max(count - have, TASK_CHUNK), self.distribution.size, rng)
            fresh = self._to_layout(batch)
            if have:
                left = self._stream.rows(self._cursor, len(self._stream.walls))
                fresh = _Drawn(*(np.concatenate(pair) for pair in zip(left, fresh)))
            self._stream, self._cursor = fresh, 0
        self._cursor += count
        return self._stream.rows(self._cursor - count, self._cursor)

    def _install(self, env_ids: np.ndarray, drawn: _Drawn) -> None:
        base = self._base[env_ids]
        self._walls[env_ids] = drawn.walls
        self.start[env_ids] = base + drawn.start
        self.start_heading[env_ids] = drawn.start_heading
        self.goal[env_ids] = base + drawn.goal
        self.shortest_path_length[env_ids] = drawn.shortest_path_length
        self.optimal_episode_length[env_ids] = drawn.optimal_episode_length

    def sample_tasks(self, env_ids: np.ndarray, rng: np.random.Generator) -> None:
        self._install(env_ids, self._draw(len(env_ids), rng))

    def set_tasks(self, env_ids: np.ndarray, tasks: Sequence[MazeTask]) -> None:
        shape = (self.grid_size, self.grid_size)
        for task in tasks:
            if task.walls.shape != shape:
                raise ValueError(
                    f"task walls have shape {task.walls.shape} but the env has size="
                    f"{self.distribution.size} (walls of shape {shape})"
                )
        batch = MazeBatch(
            walls=np.stack([task.walls for task in tasks]),
            start=np.stack([task.start for task in tasks]),
            start_heading=np.array([task.start_heading for task in tasks], np.int64),
            goal=np.stack([task.goal for task in tasks]),
            shortest_path_length=np.array([task.shortest_path_length for task in tasks], np.int64),
            optimal_episode_length=np.array([len(task.shortest_path_actions()) for task in tasks], np.int64),
        )
        self._install(env_ids, self._to_layout(batch))

    def _square(self, env_id: int, flat: int) -> tuple[int, int]:
        """(row, column) in the unpadded grid of a flat padded index of ``env_id``."""
        row, col = divmod(int(flat - self._base[env_id]), self._side)
        return row - self._pad, col - self._pad

    def task(self, env_id: int) -> MazeTask:
        pad, end = self._pad, self._pad + self.grid_size
        return MazeTask(
            self._walls[env_id, pad:end, pad:end].astype(bool),
            self._square(env_id, self.start[env_id]),
            self._square(env_id, self.goal[env_id]),
            int(self.start_heading[env_id]),
        )

    # -- dynamics ------------------------------------------------------------------------

    def start_episodes(self, env_ids: np.ndarray, rng: np.random.Generator) -> None:
        """Put the agents back on their start square, facing their start heading."""
        self.pos[env_ids] = self.start[env_ids]
        self.heading[env_ids] = self.start_heading[env_ids]
        self.steps[env_ids] = 0

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        key = actions * 4
        key += self.heading
        target = self._moves.take(key)
        target += self.pos
        self.heading = self._next_heading.take(key)
        blocked = self._squares.take(target).view(bool)
        np.copyto(target, self.pos, where=blocked)
        self.pos = target
        at_goal = target == self.goal
        outcome = at_goal.astype(np.intp)
        outcome <<= 1
        outcome |= blocked
        self.steps += 1
        episode_end = self.steps >= self.horizon
        episode_end |= at_goal
        return self._rewards.take(outcome), episode_end

    def task_info(self) -> dict[str, np.ndarray]:
        """The optimum to compare episode lengths with: fewest moves and fewest actions."""
        return {
            "shortest_path_length": self.shortest_path_length,
            "optimal_episode_length": self.optimal_episode_length,
        }

    def state_obs(self) -> np.ndarray:
        index = self._view_offsets.take(self.heading, axis=0)
        index += self.pos[:, None]
        walls = self._squares.take(index)
        goal = index == self.goal[:, None]
        if self.obs_mode == "symbolic":
            return np.concatenate([walls, goal.view(np.uint8)], axis=1)
        walls += goal.view(np.uint8) << 1  # the square codes 0 free, 1 wall, 2 goal
        return egocentric_pixels(walls, self.view_size)

    # -- for rendering -------------------------------------------------------------------

    def agent_state(self, env_id: int) -> tuple[int, int, int]:
        """``(row, column, heading)`` of ``env_id``'s agent."""
        return (*self._square(env_id, self.pos[env_id]), int(self.heading[env_id]))

    def poses(self) -> np.ndarray:
        """``(num_envs, 3)`` int64: every agent's ``(row, column, heading)`` at once (the batched
        :meth:`agent_state`, for code that follows many agents, such as the optimal-action
        labels of :mod:`agents.in_context`)."""
        row, col = np.divmod(self.pos - self._base, self._side)
        return np.stack([row - self._pad, col - self._pad, self.heading], axis=1)

    def view_squares(self, env_id: int) -> list[tuple[int, int]]:
        """The grid squares in ``env_id``'s view window (those inside the grid)."""
        window = self.pos[env_id] + self._view_offsets[self.heading[env_id]]
        squares = [self._square(env_id, s) for s in window]
        return [(r, c) for r, c in squares if 0 <= r < self.grid_size and 0 <= c < self.grid_size]
