"""The paper's maze statistics (success rate, successful length, episode 2 no longer) and maze settings."""

import gymnasium as gym
import numpy as np
import pytest

from agents.baselines.maze import OracleAgent
from agents.evaluation.maze_metrics import MazeSetting, maze_metrics, maze_setting
from meta_envs.maze import MazeTask

GOAL, STEP, BUMP = 0.96, -0.04, -0.041


def test_statistics_of_hand_made_episodes():
    lengths = np.array([[10, 8], [250, 30], [250, 250], [250, 250]])
    final_rewards = np.array([[GOAL, GOAL], [STEP, GOAL], [BUMP, STEP], [GOAL, BUMP]])
    # trial 3 reached the goal on the horizon's last step: a success
    metrics = maze_metrics("MetaMaze-v0", {}, lengths, final_rewards)
    assert metrics["success_rate"] == [0.5, 0.5]
    assert metrics["successful_length"] == pytest.approx([(10 + 250) / 2, (8 + 30) / 2])
    # trial 0: 8 <= 10; trial 1: 30 after a timed-out 250; trial 2 (both timed out) and 3 do not count
    assert metrics["episode2_no_longer"] == 0.5


def test_no_success_no_second_episode_and_no_goal_reward():
    lengths, final_rewards = np.array([[250], [250]]), np.array([[STEP], [BUMP]])
    metrics = maze_metrics("MetaMaze-v0", {"num_episodes": 1}, lengths, final_rewards)
    assert metrics == {"success_rate": [0.0], "successful_length": [None]}
    assert maze_metrics("MetaMaze-v0", {"goal_reward": 0.0}, lengths, final_rewards) == {}


@pytest.mark.parametrize(("horizon", "success"), [(8, 1.0), (7, 0.0)])
def test_reaching_the_goal_on_the_last_allowed_step_is_a_success(horizon, success):
    # the oracle needs exactly 8 actions in this maze (see tests/test_baselines_maze.py)
    grid = np.ones((5, 5), bool)
    grid[1, 1:4] = grid[2, 3] = grid[3, 1:4] = False
    task = MazeTask(grid, start=(1, 1), goal=(3, 1), start_heading=1)
    envs = gym.make_vec("MetaMaze-v0", num_envs=1, vectorization_mode="vector_entry_point",
                        size=2, num_episodes=1, horizon=horizon)
    observation, _ = envs.reset(options={"tasks": [task]})
    oracle = OracleAgent()
    oracle.reset(1, seed=0)
    oracle.set_tasks([task])
    terminated = [False]
    while not terminated[0]:
        observation, reward, terminated, _, _ = envs.step(oracle.act(observation))
    metrics = maze_metrics("MetaMaze-v0", {"size": 2, "num_episodes": 1, "horizon": horizon},
                           np.array([[horizon]]), reward[:, None])
    assert metrics["success_rate"] == [success]


def test_settings_fill_in_each_ids_defaults():
    assert maze_setting("MetaMaze-v0", {}) == MazeSetting(5, 2, 250, "symbolic", 5, 1.0, 0.04, 0.001)
    large = maze_setting("MetaMazeLarge-v0", {"horizon": 50, "view_size": 3})
    assert (large.size, large.horizon, large.view_size, large.num_episodes) == (9, 50, 3, 2)
    with pytest.raises(ValueError, match="view_size must be odd"):
        maze_setting("MetaMaze-v0", {"view_size": 4})
    with pytest.raises(ValueError, match="not a maze env"):
        maze_setting("MetaBandit-v0", {})
