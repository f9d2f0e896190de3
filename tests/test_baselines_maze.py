"""Maze baselines: the explorer finds every goal and then walks the shortest path; the oracle's exact value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import meta_envs
from agents.baselines import BaselineUnavailable, RandomAgent
from agents.baselines.maze import MAZE_BASELINES, ExplorerAgent, OracleAgent, maze_baseline_maker
from agents.baselines.registry import FAMILIES, make_baselines
from agents.evaluation import evaluate
from meta_envs.maze import FORWARD, TURN_RIGHT, MazeTask

REPO = Path(__file__).resolve().parent.parent
STEP_COST, GOAL_REWARD = 0.04, 1.0


def hand_made_task() -> MazeTask:
    """2 x 2 cells, one way round: east along the top, down the right, west along the bottom.

    #####
    #S..#    start (1, 1) facing east
    ###.#
    #G..#    goal (3, 1)
    #####
    """
    grid = np.ones((5, 5), bool)
    grid[1, 1:4] = grid[2, 3] = grid[3, 1:4] = False
    return MazeTask(grid, start=(1, 1), goal=(3, 1), start_heading=1)


def run_trials(agent, envs, tasks, reset_agent=True):
    """One trial per task on ``envs``; returns each inner episode's (lengths, returns) and the optimal lengths."""
    observation, info = envs.reset(options={"tasks": tasks})
    optimal = info["optimal_episode_length"].copy()
    if reset_agent:
        agent.reset(len(tasks), seed=0)
    if hasattr(agent, "set_tasks"):
        agent.set_tasks(tasks)
    num_episodes = envs.unwrapped.num_episodes
    lengths = np.zeros((len(tasks), num_episodes), np.int64)
    returns = np.zeros((len(tasks), num_episodes))
    done = np.zeros(len(tasks), bool)
    while not done.all():
        episode = info["episode_index"].copy()
        observation, reward, terminated, _, info = envs.step(agent.act(observation))
        live = np.flatnonzero(~done)
        lengths[live, episode[live]] += 1
        returns[live, episode[live]] += reward[live]
        done |= terminated
    return lengths, returns, optimal


def maze_envs(num_envs, **kwargs):
    return gym.make_vec("MetaMaze-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


# -- the oracle ---------------------------------------------------------------------------------


def test_oracle_equals_the_hand_computation_on_a_hand_made_maze():
    # east, east, turn right, south, south, turn right, west, west: 8 actions, the last reaching
    # the goal: per episode 7 * -0.04 + (1 - 0.04) = 1 - 8 * 0.04 = 0.68, two episodes 1.36
    task = hand_made_task()
    east, south, west = [FORWARD, FORWARD], [TURN_RIGHT, FORWARD, FORWARD], [TURN_RIGHT, FORWARD, FORWARD]
    assert task.shortest_path_actions() == east + south + west
    lengths, returns, optimal = run_trials(OracleAgent(), maze_envs(1, size=2), [task])
    np.testing.assert_array_equal(lengths, [[8, 8]])
    np.testing.assert_allclose(returns, [[0.68, 0.68]])
    assert optimal[0] == 8


def test_oracle_scores_exactly_the_optimal_episode_lengths_on_held_out_tasks():
    result = evaluate(OracleAgent(), "MetaMaze-v0", num_tasks=200, seed=3)
    tasks = meta_envs.held_out_tasks("MetaMaze-v0", 200, seed=3)
    optimal = np.array([len(task.shortest_path_actions()) for task in tasks])
    np.testing.assert_array_equal(result.episode_lengths, np.stack([optimal, optimal], axis=1))
    np.testing.assert_allclose(result.trial_returns, 2 * (GOAL_REWARD - STEP_COST * optimal), atol=1e-9)
    assert result.metrics["success_rate"] == [1.0, 1.0] and result.metrics["episode2_no_longer"] == 1.0


def test_oracle_needs_the_tasks():
    oracle = OracleAgent()
    oracle.reset(2, seed=0)
    envs = maze_envs(2)
    observation, _ = envs.reset(seed=0)
    with pytest.raises(RuntimeError, match="set_tasks"):
        oracle.act(observation)
    with pytest.raises(ValueError, match="got 1 tasks for 2"):
        oracle.set_tasks([hand_made_task()])
    bandit_task = meta_envs.BanditTask(np.array([0.5, 0.5]))
    with pytest.raises(TypeError, match="BanditTask"):
        oracle.set_tasks([bandit_task, bandit_task])


# -- the explorer -------------------------------------------------------------------------------


@pytest.mark.parametrize(("env_id", "num_tasks"), [("MetaMaze-v0", 300), ("MetaMazeLarge-v0", 40)])
def test_explorer_finds_every_goal_then_walks_the_shortest_path(env_id, num_tasks):
    size = 9 if env_id == "MetaMazeLarge-v0" else 5
    tasks = meta_envs.held_out_tasks(env_id, num_tasks, seed=5)
    envs = gym.make_vec(env_id, num_envs=num_tasks, vectorization_mode="vector_entry_point", num_episodes=3)
    lengths, returns, optimal = run_trials(ExplorerAgent(size), envs, tasks)
    horizon = 1000 if size == 9 else 250
    assert (lengths[:, 0] < horizon).all()  # every episode 1 ends at the goal
    assert (lengths[:, 0] >= optimal).all() and (lengths[:, 0] > optimal).any()  # it had to search
    # a perfect maze has one way to the goal, which it walked: from episode 2 on it is the oracle
    np.testing.assert_array_equal(lengths[:, 1:], np.stack([optimal, optimal], axis=1))
    # it never walks into a wall: every episode earns the goal minus its steps, no wall cost
    np.testing.assert_allclose(returns, GOAL_REWARD - STEP_COST * lengths, atol=1e-9)


def test_explorer_on_the_hand_made_maze_and_with_a_small_view():
    # from the start it sees neither the goal nor the way (3 x 3 view): it must turn and walk
    task = hand_made_task()
    lengths, returns, _ = run_trials(ExplorerAgent(2, view_size=3), maze_envs(1, size=2, view_size=3), [task])
    assert lengths[0, 0] >= 8 and lengths[0, 1] == 8
    np.testing.assert_allclose(returns, GOAL_REWARD - STEP_COST * lengths, atol=1e-9)


def test_explorer_forgets_the_maze_when_a_new_trial_starts():
    # No agent.reset between the two task sets: it must notice the new trials from the
    # observation (no previous action) and drop the old maps, or it would walk old paths.
    first = meta_envs.held_out_tasks("MetaMaze-v0", 50, seed=6)
    second = meta_envs.held_out_tasks("MetaMaze-v0", 50, seed=7)
    explorer, envs = ExplorerAgent(5), maze_envs(50)
    run_trials(explorer, envs, first)
    lengths, returns, optimal = run_trials(explorer, envs, second, reset_agent=False)
    np.testing.assert_array_equal(lengths[:, 1], optimal)
    np.testing.assert_allclose(returns, GOAL_REWARD - STEP_COST * lengths, atol=1e-9)


def test_random_scores_below_the_explorer_and_the_explorer_below_the_oracle():
    results = {
        name: evaluate(agent, "MetaMaze-v0", num_tasks=200, seed=2)
        for name, agent in make_baselines("MetaMaze-v0", {})[0].items()
    }
    for worse, better in (("random", "explorer"), ("explorer", "oracle")):
        assert results[worse].mean + results[worse].ci95 < results[better].mean - results[better].ci95
    assert results["explorer"].metrics["success_rate"] == [1.0, 1.0]
    assert results["random"].metrics["success_rate"][0] < 0.5


# -- registry and errors ------------------------------------------------------------------------


def test_both_maze_ids_are_registered_with_every_baseline():
    for env_id, size in (("MetaMaze-v0", 5), ("MetaMazeLarge-v0", 9)):
        assert FAMILIES[env_id].names == MAZE_BASELINES
        agents, unavailable = make_baselines(env_id, {"view_size": 7})
        assert set(agents) == set(MAZE_BASELINES) and not unavailable
        assert isinstance(agents["random"], RandomAgent) and isinstance(agents["oracle"], OracleAgent)
        assert (agents["explorer"].size, agents["explorer"].view_size) == (size, 7)
    agents, unavailable = make_baselines("MetaMaze-v0", {"obs_mode": "rgb"})
    assert set(agents) == {"random", "oracle"} and "symbolic" in unavailable["explorer"]


def test_bad_arguments_are_rejected():
    make = maze_baseline_maker("MetaMaze-v0")
    with pytest.raises(ValueError, match="unknown maze baseline 'dfs'"):
        make("dfs", {})
    with pytest.raises(ValueError, match="horizon"):
        make("explorer", {"horizon": 0})
    with pytest.raises(TypeError, match=r"unknown MetaMazeVectorEnv keyword argument\(s\) \[.num_arms.\]"):
        make("explorer", {"num_arms": 3})
    with pytest.raises(BaselineUnavailable, match="symbolic"):
        make("explorer", {"obs_mode": "rgb"})
    with pytest.raises(ValueError, match="not a maze env"):
        maze_baseline_maker("MetaBandit-v0")("random", {})
    with pytest.raises(ValueError, match="size"):
        ExplorerAgent(1)
    with pytest.raises(TypeError, match="size"):
        ExplorerAgent(5.0)
    with pytest.raises(ValueError, match="odd"):
        ExplorerAgent(5, view_size=4)
    with pytest.raises(ValueError, match="view_size"):
        ExplorerAgent(5, view_size=1)


def test_baselines_cli_prints_every_maze_baseline_and_the_paper_statistics(tmp_path):
    out = tmp_path / "maze.json"
    command = [sys.executable, "scripts/baselines.py", "--env", "MetaMaze-v0", "--tasks", "30", "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(out.read_text())
    assert set(document) == {"env_id", "env_kwargs", "num_tasks", "seed", "results"}
    assert set(document["results"]) == set(MAZE_BASELINES)
    for name, result in document["results"].items():
        assert name in completed.stdout
        assert set(result) == {"mean", "ci95", "per_episode", "per_episode_ci95", "metrics"}
        assert set(result["metrics"]) == {"success_rate", "successful_length", "episode2_no_longer"}
    assert "success_rate" in completed.stdout
