"""MetaMaze-v0 / MetaMazeLarge-v0: random-maze navigation, the RL² paper's third experiment.

The paper (section 4.3) navigates first-person through random ViZDoom mazes to a target
it cannot see from afar; maze and target stay fixed over the episodes of a trial, so a
good agent explores in episode 1 and walks straight to the target afterwards. This is
that experiment as a grid world.

Task
    A random perfect maze of ``size`` x ``size`` cells (randomised depth-first search, so
    every free square is reachable by exactly one path), a start cell, a start heading and
    a goal cell, all fixed for the trial (:class:`~meta_envs.maze.task.MazeTask`). Start and
    goal are two distinct cells drawn uniformly; the heading is uniform. The maze is a
    ``(2 * size + 1)``-square wall grid: cells at odd coordinates, walls between them.
    ``MetaMaze-v0``: ``size=5`` (the paper's training mazes); ``MetaMazeLarge-v0``:
    ``size=9`` and a 4x longer horizon (its test mazes).

Action
    ``Discrete(3)``: 0 move one square forward, 1 turn left, 2 turn right (90 degrees).
    Why not {N, E, S, W}: the observation is egocentric, as the paper's first-person
    camera is, and an egocentric view needs a heading; with forward/turn actions the
    agent must keep track of its own turns to build a map, as a first-person agent must,
    and turning costs a step. Backward and no-op moves are left out: they reach nothing new.

Observation
    The shared RL² observation (:mod:`meta_envs.trial`); its ``obs`` is the agent's
    egocentric view: a ``view_size`` x ``view_size`` window of squares in front of the
    agent, the agent in the middle of the bottom row, row 0 the farthest ahead, columns
    from the agent's left to its right. Walls do not hide what lies behind them (the
    window is a local map, like MiniGrid with ``see_through_walls=True``, which keeps the
    view one gather per step; what makes the task a meta-RL test, a goal that cannot be
    seen from afar, is kept): the goal appears only while it lies inside the window.
    Squares outside the maze read as walls.

    * ``obs_mode="symbolic"`` (default): ``Box(0, 1, (view_size**2 * 2,), uint8)``;
      ``obs.reshape(2, view_size, view_size)``: ``[0]`` the walls, ``[1]`` the goal.
    * ``obs_mode="rgb"``: ``Box(0, 255, (8 * view_size, 8 * view_size, 3), uint8)``, the
      same window drawn with 8 x 8 pixels per square (40 x 40 x 3 for the default view),
      the agent a red triangle at the bottom centre.

Reward
    Every step costs ``step_cost`` (0.04); a forward move into a wall leaves the agent
    where it is and costs ``wall_cost`` (0.001) more; the step that reaches the goal
    earns ``goal_reward`` (1.0) besides its step cost, i.e. 0.96. These are the paper's
    numbers (+1 at the target, -0.04 per time step, -0.001 for hitting a wall).

Episode, trial, start
    An inner episode starts on the task's start square facing its start heading and ends
    when the agent reaches the goal or after ``horizon`` steps (250, the paper's maximum
    for the small mazes; 1000 for the large ones, "horizon x 4"). The next episode restarts
    at the start in the same maze. A trial is ``num_episodes`` episodes (2, as the paper
    trains; it tests the large mazes with up to 5); ``terminated`` is True when the last
    one ends, whether at the goal or by its time-out. There is no truncation.

Info
    Beside the trial fields: ``shortest_path_length``, the fewest forward moves from the
    start to the goal (BFS), and ``optimal_episode_length``, the fewest actions (moves and
    turns, from the start heading), i.e. the length of the map-knowing oracle's episode.

Rendering and recording
    ``render_mode="rgb_array"``: the whole maze from above with the agent and its heading,
    the goal, the start, the squares visited in this trial (earlier episodes light blue,
    the current one blue) and the agent's view window (framed in orange), 16 pixels per
    square.
    ``render_mode="ansi"``: the same as text. ``gymnasium.wrappers.RecordVideo`` records
    MP4s from ``rgb_array`` (it needs moviepy: ``pip install -e ".[video]"``); without
    moviepy, collect frames with ``gymnasium.wrappers.RenderCollection`` and write a GIF
    with :func:`meta_envs.maze.save_gif` (Pillow, installed with the ``agents`` extra).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from meta_envs.maze.dynamics import MazeDynamics
from meta_envs.maze.rendering import maze_text, top_down_image
from meta_envs.trial import RL2Env, RL2VectorEnv, TrialBatch

class MetaMazeEnv(RL2Env):
    """One maze trial per Gymnasium episode (see the module docstring).

    :param size: cells per maze side (>= 2; 5 for ``MetaMaze-v0``, 9 for ``MetaMazeLarge-v0``).
    :param num_episodes: inner episodes per trial (>= 1).
    :param horizon: steps after which an inner episode times out (>= 1).
    :param obs_mode: ``"symbolic"`` or ``"rgb"``.
    :param view_size: side of the egocentric view in squares (odd, >= 3).
    :param goal_reward: reward for reaching the goal (>= 0).
    :param step_cost: cost of every step (>= 0).
    :param wall_cost: extra cost of a forward move into a wall (>= 0).
    :param render_mode: ``None``, ``"rgb_array"`` or ``"ansi"``.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 8}

    def __init__(
        self,
        size: int = 5,
        num_episodes: int = 2,
        horizon: int = 250,
        obs_mode: str = "symbolic",
        view_size: int = 5,
        goal_reward: float = 1.0,
        step_cost: float = 0.04,
        wall_cost: float = 0.001,
        render_mode: str | None = None,
    ) -> None:
        dynamics = MazeDynamics(1, size, horizon, obs_mode, view_size, goal_reward, step_cost, wall_cost)
        super().__init__(dynamics, num_episodes, render_mode)
        #: side of the egocentric view, in squares
        self.view_size = dynamics.view_size
        #: ``(episode, row, column)`` of every square the agent stood on in this trial
        self._trace: list[tuple[int, int, int]] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        result = super().reset(seed=seed, options=options)
        self._trace = [where(self._trial, 0)]
        return result

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        result = super().step(action)
        self._trace.append(where(self._trial, 0))
        return result


    def render(self) -> np.ndarray | str | None:
        """``"rgb_array"``: the maze from above; ``"ansi"``: the trial as text."""
        if self.render_mode is None:
            return super().render()
        return render_maze(self.render_mode, self._trial, 0, self._trace)


def where(trial: TrialBatch, env_id: int) -> tuple[int, int, int]:
    """``(episode, row, column)`` of sub-env ``env_id``'s agent, one point of its trace."""
    row, col, _ = trial.dynamics.agent_state(env_id)
    # after the last episode the agent stays where it ended: count it in that episode
    return min(int(trial.episode_index[env_id]), trial.num_episodes - 1), row, col


def render_maze(
    render_mode: str, trial: TrialBatch, env_id: int, trace: list[tuple[int, int, int]]
) -> np.ndarray | str:
    """Sub-env ``env_id``'s rendering (module docstring), single and vector env alike.

    :param render_mode: ``"rgb_array"`` or ``"ansi"``.
    :param trial: the trials.
    :param env_id: the sub-env.
    :param trace: ``(episode, row, column)`` of every square its agent stood on in this trial.
    """
    dynamics = trial.dynamics
    task = dynamics.task(env_id)
    current = trace[-1][0]
    visited_now = [(r, c) for e, r, c in trace if e == current]
    if render_mode == "rgb_array":
        return top_down_image(
            task.walls, task.start, task.goal, dynamics.agent_state(env_id),
            visited_earlier=[(r, c) for e, r, c in trace if e < current],
            visited_now=visited_now,
            in_view=dynamics.view_squares(env_id),
        )
    header = f"episode {trial.episode_index[env_id]}/{trial.num_episodes}, step {trial.step_in_episode[env_id]}"
    text = maze_text(task.walls, task.start, task.goal, dynamics.agent_state(env_id), visited_now)
    return f"{header}\n{text}\nshortest path {dynamics.shortest_path_length[env_id]} moves\n"


class MetaMazeVectorEnv(RL2VectorEnv):
    """``num_envs`` maze trials stepped with batched numpy (see :class:`RL2VectorEnv`).

    Takes :class:`MetaMazeEnv`'s keyword arguments (``render_mode`` included: ``render()``
    returns one rendering per sub-env) and:

    :param num_envs: number of sub-environments.
    :param autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default) or ``SAME_STEP``.
    """

    metadata: dict[str, Any] = MetaMazeEnv.metadata

    def __init__(
        self,
        num_envs: int,
        size: int = 5,
        num_episodes: int = 2,
        horizon: int = 250,
        obs_mode: str = "symbolic",
        view_size: int = 5,
        goal_reward: float = 1.0,
        step_cost: float = 0.04,
        wall_cost: float = 0.001,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
    ) -> None:
        dynamics = MazeDynamics(
            num_envs, size, horizon, obs_mode, view_size, goal_reward, step_cost, wall_cost
        )
        super().__init__(dynamics, num_episodes, autoreset_mode, render_mode)
        #: per sub-env, the squares of its current trial (kept only with a render_mode)
        self._traces: list[list[tuple[int, int, int]]] = [[] for _ in range(num_envs)]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        result = super().reset(seed=seed, options=options)
        if self.render_mode is not None:
            for env_id in np.flatnonzero(self.fresh_trials()):
                self._traces[env_id] = [where(self._trial, env_id)]
        return result

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        result = super().step(actions)
        if self.render_mode is not None:
            fresh = self.fresh_trials()
            for env_id in range(self.num_envs):
                point = where(self._trial, env_id)
                self._traces[env_id] = [point] if fresh[env_id] else [*self._traces[env_id], point]
        return result

    def render(self) -> tuple[np.ndarray | str, ...] | None:
        """Each sub-env's rendering (as :class:`MetaMazeEnv` renders it), in a tuple."""
        if self.render_mode is None:
            return super().render()
        return tuple(
            render_maze(self.render_mode, self._trial, env_id, self._traces[env_id])
            for env_id in range(self.num_envs)
        )
