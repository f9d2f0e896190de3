"""The maze family: MetaMaze-v0 (5 x 5 cells) and MetaMazeLarge-v0 (9 x 9 cells).

Modules: :mod:`~meta_envs.maze.generation` (batched perfect-maze generation, shortest
paths), :mod:`~meta_envs.maze.task` (the task and its distribution),
:mod:`~meta_envs.maze.dynamics` (batched dynamics), :mod:`~meta_envs.maze.rendering`
(pictures, text, GIFs) and :mod:`~meta_envs.maze.env` (the environments; its docstring
documents observation, action, reward and episodes).
"""

from meta_envs.maze.dynamics import OBS_MODES, MazeDynamics
from meta_envs.maze.env import MetaMazeEnv, MetaMazeVectorEnv
from meta_envs.maze.generation import (
    FORWARD,
    TURN_LEFT,
    TURN_RIGHT,
    MazeBatch,
    distance_map,
    generate_mazes,
    goal_action_table,
    shortest_path_actions,
    shortest_path_length,
)
from meta_envs.maze.rendering import save_gif
from meta_envs.maze.task import MazeTask, MazeTaskDistribution

__all__ = [
    "FORWARD",
    "OBS_MODES",
    "TURN_LEFT",
    "TURN_RIGHT",
    "MazeBatch",
    "MazeDynamics",
    "MazeTask",
    "MazeTaskDistribution",
    "MetaMazeEnv",
    "MetaMazeVectorEnv",
    "distance_map",
    "generate_mazes",
    "goal_action_table",
    "save_gif",
    "shortest_path_actions",
    "shortest_path_length",
]
