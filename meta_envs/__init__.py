"""meta_envs: meta-RL task distributions with trial structure, as Gymnasium environments.

Importing the package registers every environment ID (single and native vector
entry points); ``gymnasium.make("meta_envs:MetaBandit-v0")`` imports it for you.
"""

from gymnasium.envs.registration import register

from meta_envs.bandit import BanditTask, BanditTaskDistribution, MetaBanditEnv, MetaBanditVectorEnv
from meta_envs.maze import MazeTask, MazeTaskDistribution, MetaMazeEnv, MetaMazeVectorEnv
from meta_envs.task import ArrayTask
from meta_envs.tabular_mdp import (
    MetaTabularMDPEnv,
    MetaTabularMDPVectorEnv,
    TabularMDPTask,
    TabularMDPTaskDistribution,
)
from meta_envs.settings import env_setting
from meta_envs.task_sets import held_out_tasks, training_tasks
from meta_envs.trial import OBSERVATION_KEYS, RL2Env, RL2VectorEnv, flatten_observation

__version__ = "0.1.0"

register(
    id="MetaBandit-v0",
    entry_point="meta_envs.bandit:MetaBanditEnv",
    vector_entry_point="meta_envs.bandit:MetaBanditVectorEnv",
)
register(
    id="MetaTabularMDP-v0",
    entry_point="meta_envs.tabular_mdp:MetaTabularMDPEnv",
    vector_entry_point="meta_envs.tabular_mdp:MetaTabularMDPVectorEnv",
)
register(
    id="MetaMaze-v0",
    entry_point="meta_envs.maze.env:MetaMazeEnv",
    vector_entry_point="meta_envs.maze.env:MetaMazeVectorEnv",
)
register(
    id="MetaMazeLarge-v0",
    entry_point="meta_envs.maze.env:MetaMazeEnv",
    vector_entry_point="meta_envs.maze.env:MetaMazeVectorEnv",
    kwargs={"size": 9, "horizon": 1000},
)

__all__ = [
    "ArrayTask",
    "BanditTask",
    "BanditTaskDistribution",
    "MetaBanditEnv",
    "MetaBanditVectorEnv",
    "MetaTabularMDPEnv",
    "MetaTabularMDPVectorEnv",
    "MazeTask",
    "MazeTaskDistribution",
    "MetaMazeEnv",
    "MetaMazeVectorEnv",
    "OBSERVATION_KEYS",
    "RL2Env",
    "RL2VectorEnv",
    "TabularMDPTask",
    "TabularMDPTaskDistribution",
    "env_setting",
    "flatten_observation",
    "held_out_tasks",
    "training_tasks",
]
