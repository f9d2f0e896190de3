"""The maze family's baselines: random, a map-building explorer, and the map-knowing oracle.

Result names (:data:`MAZE_BASELINES`):

============  ==========================================================================
``random``    :class:`~agents.baselines.random_policy.RandomAgent`: the floor.
``explorer``  :class:`ExplorerAgent`: what a good RL² agent should learn. It acts through
              the RL² observation only (view, previous action and done flag): it builds
              a map of what it has seen, explores to the nearest unseen squares until it
              has seen the goal and a way to it, walks there, and in every later episode
              of the trial walks the shortest path in its map.
``oracle``    :class:`OracleAgent`: knows the maze and walks the fewest-action path in
              every episode: the ceiling, which no agent that must first find the goal
              reaches. Its trial return on a task is exactly ``num_episodes *
              (goal_reward - step_cost * optimal_episode_length)`` (the goal step pays
              ``goal_reward - step_cost``; no step bumps a wall), unless that path is
              longer than the horizon.
============  ==========================================================================

Why the oracle is an agent and not a number beside the table: it then runs through the
same evaluation (same tasks, the env's own reward accounting, the same per-episode
returns, confidence interval and maze statistics as every other row). It is given the
maps through the evaluation's ``set_tasks`` hook for reference agents
(:class:`agents.evaluation.Agent`), which no learner uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from agents.baselines import BaselineUnavailable
from agents.baselines.random_policy import RandomAgent
from agents.evaluation import Agent
from agents.evaluation.maze_metrics import maze_setting
from meta_envs.maze import MazeTask, distance_map, shortest_path_actions
from meta_envs.maze.generation import (
    FORWARD,
    HEADING_STEPS,
    NEXT_HEADING,
    NUM_ACTIONS,
    TURN_LEFT,
    TURN_RIGHT,
)
from meta_envs.validation import check_int

#: result names of the maze baselines, in table order
MAZE_BASELINES = ("random", "explorer", "oracle")

# map codes of the explorer's squares
_UNSEEN, _FREE, _WALL = 0, 1, 2


def _trial_starts(observation: dict[str, np.ndarray]) -> np.ndarray:
    """Sub-envs whose observation is the first of a trial (no previous action yet)."""
    return ~observation["prev_action"].any(axis=1)


class ExplorerAgent:
    """Explores with a map built from its own views, then walks the shortest known path.

    Everything it knows comes from the RL² observation (see :mod:`meta_envs.maze.env`):

    * **Pose by dead reckoning.** The map is kept in the agent's own frame: the start
      square in the middle, "north" the start heading (the env restarts every episode
      there, which ``prev_done`` announces). Its own turns change its heading; it moves
      forward only onto squares its map shows free, so a forward move always succeeds
      and never bumps a wall.
    * **Map from views.** Each step writes the egocentric window (walls and goal) into
      the map at the current pose.
    * **Exploration** (frontier-based): until it knows a way to the goal, it takes the
      fewest actions (moves and turns, over squares its map shows free) to the nearest
      pose whose view window holds unseen squares that can lie inside the maze (the
      maze's free squares span at most ``2 * size - 1`` rows and columns, so squares
      farther than that from a known free square cannot), and replans when that window
      has been seen on the way or the plan is used up.
    * **Exploitation**: as soon as its map joins the goal to where it stands
      (:func:`~meta_envs.maze.generation.distance_map` from the goal), it takes the
      fewest-action path in its map
      (:func:`~meta_envs.maze.generation.shortest_path_actions`), and so it starts every
      later episode. In a perfect maze the way it found is the only one, so from
      episode 2 on it walks exactly the map-knowing oracle's path.

    Maps are numpy arrays updated for all sub-envs at once; planning is a Python
    breadth-first search per sub-env, run only when a plan is used up or stale.

    :param size: cells per maze side (the env's ``size``), which bounds how far from the
        start anything can be.
    :param view_size: the env's ``view_size`` (odd, >= 3).
    """

    name = "explorer"

    def __init__(self, size: int, view_size: int = 5) -> None:
        self.size = check_int("size", size, 2)
        self.view_size = check_int("view_size", view_size, 3)
        if self.view_size % 2 == 0:
            raise ValueError(f"view_size must be odd, got {view_size}")
        v, grid = self.view_size, 2 * self.size + 1
        # The agent stands on free squares, at most grid - 3 squares from the start per
        # axis, and sees up to v - 1 squares ahead; the frame holds all of that.
        reach = grid - 3 + v - 1
        self._side = 2 * reach + 1
        self._start = reach * self._side + reach
        moves = HEADING_STEPS[:, 0] * self._side + HEADING_STEPS[:, 1]
        # forward move of each heading; index by action * 4 + heading as the dynamics do
        self._moves = np.zeros((NUM_ACTIONS, 4), np.int64)
        self._moves[FORWARD] = moves
        self._moves = self._moves.reshape(-1)
        self._next_heading = NEXT_HEADING.reshape(-1)
        self._forward_moves = moves.tolist()
        # view window squares relative to the agent, per heading: (4, v * v) row and
        # column offsets, row 0 of the window farthest ahead, columns left to right
        ahead = np.repeat(v - 1 - np.arange(v), v)
        right = np.tile(np.arange(v) - v // 2, v)
        ahead_steps, right_steps = HEADING_STEPS[:, None, :], HEADING_STEPS[(np.arange(4) + 1) % 4, None, :]
        offsets = ahead[None, :, None] * ahead_steps + right[None, :, None] * right_steps
        rows, cols = offsets[..., 0], offsets[..., 1]
        self._view_offsets = rows * self._side + cols
        # Each window is a v x v box. Where, in the flattened box counts of
        # _informative_poses (indexed by the box's top-left corner), each pose's box is:
        row, col = np.divmod(np.arange(self._side * self._side), self._side)
        corner_row, corner_col = rows.min(axis=1)[:, None] + v, cols.min(axis=1)[:, None] + v
        self._box_index = (row + corner_row) * (self._side + v + 1) + col + corner_col
        self._num_envs = 0

    def reset(self, num_envs: int, seed: int) -> None:
        n = self._num_envs = check_int("num_envs", num_envs, 1)
        self._maps = np.zeros((n, self._side * self._side), np.uint8)
        self._pos = np.full(n, self._start, np.int64)
        self._heading = np.zeros(n, np.int64)
        self._goal = np.full(n, -1, np.int64)  # flat square once seen
        self._last_action = np.full(n, -1, np.int64)
        self._plans: list[list[int]] = [[] for _ in range(n)]
        self._heading_for_goal = np.zeros(n, bool)  # the plan ends at the goal
        # the pose whose window the exploring plan is walking to see
        self._target_pos = np.zeros(n, np.int64)
        self._target_heading = np.zeros(n, np.int64)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        self._track_pose(observation)
        self._see(observation["obs"])
        replan = np.flatnonzero(self._needs_plan())
        if replan.size:
            informative = self._informative_poses(replan)
            for i, poses in zip(replan, informative):
                self._plan(int(i), poses)
        actions = np.empty(self._num_envs, np.int64)
        for i, plan in enumerate(self._plans):
            # an empty plan: nothing left to see and no known way to the goal (a
            # disconnected map cannot happen in a valid task); turning is harmless
            actions[i] = plan.pop() if plan else TURN_LEFT
        self._last_action = actions
        return actions.copy()

    # -- pose and map ----------------------------------------------------------------------

    def _track_pose(self, observation: dict[str, np.ndarray]) -> None:
        new_trial = _trial_starts(observation)
        new_episode = observation["prev_done"][:, 0] > 0
        moved = ~(new_trial | new_episode)
        key = self._last_action[moved] * 4 + self._heading[moved]
        self._pos[moved] += self._moves[key]
        self._heading[moved] = self._next_heading[key]
        restart = np.flatnonzero(~moved)
        self._pos[restart] = self._start
        self._heading[restart] = 0
        for i in restart:
            self._plans[i] = []
        self._heading_for_goal[restart] = False
        forget = np.flatnonzero(new_trial)
        self._maps[forget] = _UNSEEN
        self._goal[forget] = -1

    def _see(self, views: np.ndarray) -> None:
        squares = self._view_offsets[self._heading] + self._pos[:, None]
        cells = self.view_size * self.view_size
        walls, goal = views[:, :cells].astype(bool), views[:, cells:].astype(bool)
        rows = np.arange(self._num_envs)[:, None]
        self._maps[rows, squares] = np.where(walls, _WALL, _FREE)
        seen, where = np.nonzero(goal)
        self._goal[seen] = squares[seen, where]

    # -- planning --------------------------------------------------------------------------

    def _needs_plan(self) -> np.ndarray:
        """Sub-envs whose plan is empty or stale (goal newly seen; target window all seen)."""
        empty = np.array([not plan for plan in self._plans])
        goal_news = (self._goal >= 0) & ~self._heading_for_goal
        window = self._view_offsets[self._target_heading] + self._target_pos[:, None]
        rows = np.arange(self._num_envs)[:, None]
        seen_all = (self._maps[rows, window] != _UNSEEN).all(axis=1)
        return empty | goal_news | (seen_all & ~self._heading_for_goal)

    def _square(self, flat: int) -> tuple[int, int]:
        return divmod(int(flat), self._side)

    def _informative_poses(self, envs: np.ndarray) -> np.ndarray:
        """``(len(envs), 4, squares)``: free squares whose view, facing each heading, holds unseen ones."""
        v, side = self.view_size, self._side
        maps = self._maps[envs].reshape(-1, side, side)
        # Only unseen squares that can be inside the maze count: its free squares span at
        # most grid - 2 rows and columns, so they lie within grid - 3 of every free square.
        free = maps == _FREE
        span = 2 * self.size - 2
        lines = np.arange(side)
        rows_free, cols_free = free.any(axis=2), free.any(axis=1)
        first_row, last_row = rows_free.argmax(axis=1), side - 1 - rows_free[:, ::-1].argmax(axis=1)
        first_col, last_col = cols_free.argmax(axis=1), side - 1 - cols_free[:, ::-1].argmax(axis=1)
        row_inside = (lines >= last_row[:, None] - span) & (lines <= first_row[:, None] + span)
        col_inside = (lines >= last_col[:, None] - span) & (lines <= first_col[:, None] + span)
        relevant = (maps == _UNSEEN) & row_inside[:, :, None] & col_inside[:, None, :]
        # relevant unseen squares in every v x v box, by its top-left corner (summed-area table)
        padded = np.zeros((len(envs), side + 2 * v + 1, side + 2 * v + 1), np.int32)
        padded[:, v + 1 : v + 1 + side, v + 1 : v + 1 + side] = relevant
        table = padded.cumsum(1).cumsum(2)
        box = table[:, v:, v:] - table[:, :-v, v:] - table[:, v:, :-v] + table[:, :-v, :-v]
        # box[:, r + v, c + v] counts the box whose top-left corner is (r, c)
        box = box.reshape(len(envs), -1)
        unseen = box[:, self._box_index]  # (envs, 4, squares)
        return (unseen > 0) & free.reshape(len(envs), 1, -1)

    def _plan(self, i: int, informative: np.ndarray) -> None:
        """A new plan for sub-env ``i``: to the goal if a known way exists, else to see more.

        :param informative: ``(4, squares)`` the poses from which something unseen is in view.
        """
        grid = self._maps[i].reshape(self._side, self._side)
        walls = grid != _FREE  # unseen squares are not walked on
        here, heading, goal = int(self._pos[i]), int(self._heading[i]), int(self._goal[i])
        # Is there a known way? Searched from the goal: while there is none, the goal's
        # known part of the maze (seen through a wall) is small, so this is quick.
        if goal >= 0 and distance_map(walls, self._square(goal)).reshape(-1)[here] >= 0:
            self._plans[i] = shortest_path_actions(walls, self._square(here), heading, self._square(goal))[::-1]
            self._heading_for_goal[i] = True
            return
        self._heading_for_goal[i] = False
        self._plans[i] = self._nearest(~walls.reshape(-1), here, heading, informative, i)

    def _nearest(self, free: np.ndarray, here: int, heading: int, targets: np.ndarray, i: int) -> list[int]:
        """Reversed fewest actions from a pose to the nearest pose of ``targets`` (4, squares).

        A breadth-first search over (square, heading) on the known free squares, like
        :func:`~meta_envs.maze.generation.shortest_path_actions` but towards the nearest
        of many poses; it records that pose as sub-env ``i``'s target. Free squares never
        touch the frame's edge, so a move never leaves it. ``[]`` if no target is reachable.
        """
        # bytes: the fastest per-element indexing from Python
        free, targets = free.tobytes(), np.ascontiguousarray(targets.T).tobytes()
        moves = self._forward_moves
        first = here * 4 + heading
        came_from = {first: (-1, -1)}
        frontier = [first]
        while frontier:
            later = []
            for state in frontier:
                if targets[state]:
                    self._target_pos[i], self._target_heading[i] = divmod(state, 4)
                    actions = []
                    while came_from[state][0] >= 0:
                        state, action = came_from[state]
                        actions.append(action)
                    return actions
                square, facing = divmod(state, 4)
                ahead = square + moves[facing]
                successors = (
                    (FORWARD, ahead * 4 + facing if free[ahead] else -1),
                    (TURN_LEFT, square * 4 + (facing - 1) % 4),
                    (TURN_RIGHT, square * 4 + (facing + 1) % 4),
                )
                for action, nxt in successors:
                    if nxt >= 0 and nxt not in came_from:
                        came_from[nxt] = (state, action)
                        later.append(nxt)
            frontier = later
        return []


class OracleAgent:
    """Knows each maze and walks its fewest-action path to the goal in every episode.

    The ceiling of the maze table (see the module docstring). It cannot play from the
    observation alone: :func:`agents.evaluation.evaluate` hands it the tasks through
    :meth:`set_tasks` after :meth:`reset`.
    """

    name = "oracle"

    def __init__(self) -> None:
        self._num_envs = 0
        self._paths: np.ndarray | None = None

    def reset(self, num_envs: int, seed: int) -> None:
        self._num_envs = check_int("num_envs", num_envs, 1)
        self._paths = None

    def set_tasks(self, tasks: Sequence[MazeTask]) -> None:
        """The task of each sub-env's trial, in sub-env order.

        :raises ValueError: if the number of tasks is not ``num_envs``.
        :raises TypeError: if a task is not a :class:`~meta_envs.maze.MazeTask`.
        """
        if len(tasks) != self._num_envs:
            raise ValueError(f"got {len(tasks)} tasks for {self._num_envs} sub-environments")
        for task in tasks:
            if not isinstance(task, MazeTask):
                raise TypeError(f"the oracle plays maze tasks, got {type(task).__name__}")
        paths = [task.shortest_path_actions() for task in tasks]
        # one row per sub-env; after its goal (the trial is then over, or restarts) it turns
        self._paths = np.full((len(paths), max(map(len, paths)) + 1), TURN_LEFT, np.int64)
        for i, path in enumerate(paths):
            self._paths[i, : len(path)] = path
        self._step = np.zeros(len(paths), np.int64)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        if self._paths is None:
            raise RuntimeError("the oracle needs the tasks: call set_tasks(tasks) after reset (evaluate() does)")
        restart = (observation["prev_done"][:, 0] > 0) | _trial_starts(observation)
        self._step[restart] = 0
        actions = self._paths[np.arange(self._num_envs), np.minimum(self._step, self._paths.shape[1] - 1)]
        self._step += 1
        return actions


def maze_baseline_maker(env_id: str) -> Callable[[str, Mapping[str, Any]], Agent]:
    """``make(name, env_kwargs)`` of the maze baselines of ``env_id`` (for the registry)."""

    def make(name: str, env_kwargs: Mapping[str, Any]) -> Agent:
        """One maze baseline for a setting.

        :param name: a name of :data:`MAZE_BASELINES`.
        :param env_kwargs: the maze env's kwargs.
        :raises BaselineUnavailable: the explorer with ``obs_mode="rgb"`` (it reads the
            symbolic view).
        """
        if name not in MAZE_BASELINES:
            raise ValueError(f"unknown maze baseline {name!r}; known: {list(MAZE_BASELINES)}")
        setting = maze_setting(env_id, env_kwargs)
        if name == "random":
            return RandomAgent(NUM_ACTIONS)
        if name == "oracle":
            return OracleAgent()
        if setting.obs_mode != "symbolic":
            raise BaselineUnavailable(f"the explorer reads the symbolic view, not obs_mode={setting.obs_mode!r}")
        return ExplorerAgent(setting.size, setting.view_size)

    return make
