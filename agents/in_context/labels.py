"""The optimal action of every step of a recorded trial, from its task: DPT's training target.

A label says what an agent that *knows the task* would do in the state an action was
taken in, so it is a function of the task and of where the trial was, never of what the
recorded learner knew:

=======================  ==================================================================
family                   ``optimal_action`` at step ``t``
=======================  ==================================================================
``MetaBandit-v0``        the best arm, ``argmax(task.arm_probs)`` (the lowest index among ties)
``MetaTabularMDP-v0``    the optimal action of the true task in the step's state at its step of
                         the episode (finite-horizon value iteration,
                         :func:`meta_envs.planning.value_iteration`; the lowest index among ties)
``MetaMaze-v0``,         the first action of a fewest-action path from the agent's pose (square
``MetaMazeLarge-v0``     and heading) to the goal (:func:`meta_envs.maze.goal_action_table`);
                         the pose is found by replaying the trial's actions through the
                         family's own dynamics
=======================  ==================================================================

Families are found by their native vector env (:data:`LABELED_FAMILIES`), so an ID
registered with other defaults over one of them is labelled too; any other family has no
labels (:func:`has_optimal_action`), and asking for them is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from meta_envs.bandit import BanditTask
from meta_envs.maze import MazeDynamics, MazeTask, goal_action_table
from meta_envs.planning import greedy_policy, stack_tasks, value_iteration
from meta_envs.settings import env_setting
from meta_envs.tabular_mdp import TabularMDPTask
from meta_envs.task import ArrayTask

#: the label of a step without an action (a trial's last observation, padding)
NO_ACTION = -1

Labeller = Callable[[Mapping[str, Any], Sequence[ArrayTask], np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _bandit_labels(setting: Mapping[str, Any], tasks: Sequence[BanditTask], states: np.ndarray, actions: np.ndarray,
                   done: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    best = np.stack([task.arm_probs for task in tasks]).argmax(axis=1)
    return np.broadcast_to(best[:, None], actions.shape).copy()


def _mdp_labels(setting: Mapping[str, Any], tasks: Sequence[TabularMDPTask], states: np.ndarray, actions: np.ndarray,
                done: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    horizon = int(setting["horizon"])
    policy = greedy_policy(value_iteration(*stack_tasks(tasks)[:2], horizon)[0])  # (K, horizon, S)
    steps = np.arange(actions.shape[1]) % horizon  # every episode lasts `horizon` steps
    state = states[:, : actions.shape[1]].argmax(axis=2)  # the one-hot state of each step
    return policy[np.arange(len(tasks))[:, None], steps[None, :], state]


def _maze_labels(setting: Mapping[str, Any], tasks: Sequence[MazeTask], states: np.ndarray, actions: np.ndarray,
                 done: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    _, table = goal_action_table(np.stack([task.walls for task in tasks]), np.stack([task.goal for task in tasks]))
    dynamics = MazeDynamics(len(tasks), **{key: value for key, value in setting.items() if key != "num_episodes"})
    everyone = np.arange(len(tasks))
    dynamics.set_tasks(everyone, list(tasks))
    # maze dynamics draw nothing; the generator only fills the signature
    no_draws = np.random.default_rng(0)
    dynamics.start_episodes(everyone, no_draws)
    labels = np.empty(actions.shape, np.int64)
    for t in range(actions.shape[1]):
        row, col, heading = dynamics.poses().T
        labels[:, t] = table[everyone, row, col, heading]
        _, episode_end = dynamics.step(actions[:, t], no_draws)
        running = t < lengths
        if (episode_end != done[:, t])[running].any():
            raise ValueError(f"the recorded actions do not replay on their mazes at step {t}: wrong tasks or setting?")
        dynamics.start_episodes(np.flatnonzero(episode_end), no_draws)
    return labels


#: native vector entry point -> ``labels(setting, tasks, states, actions, done, lengths)``, ``(K, T)`` int64
LABELED_FAMILIES: dict[str, Labeller] = {
    "meta_envs.bandit:MetaBanditVectorEnv": _bandit_labels,
    "meta_envs.tabular_mdp:MetaTabularMDPVectorEnv": _mdp_labels,
    "meta_envs.maze.env:MetaMazeVectorEnv": _maze_labels,
}


def _entry_point(env_id: str) -> str:
    env_setting(env_id)  # a clear error for an ID that is not one of meta_envs'
    return str(gym.spec(env_id).vector_entry_point)


def has_optimal_action(env_id: str) -> bool:
    """Whether steps of ``env_id`` have optimal-action labels (see the module docstring)."""
    return _entry_point(env_id) in LABELED_FAMILIES


def optimal_actions(
    env_id: str,
    env_kwargs: Mapping[str, Any],
    tasks: Sequence[ArrayTask],
    states: np.ndarray,
    actions: np.ndarray,
    done: np.ndarray,
    lengths: np.ndarray,
) -> np.ndarray:
    """The optimal action of every step of ``K`` recorded trials (module docstring).

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: its kwargs.
    :param tasks: the ``K`` trials' tasks.
    :param states: ``(K, T + 1, ...)`` the ``obs`` part of each step's RL² observation.
    :param actions: ``(K, T)`` the actions taken (anything past a trial's length).
    :param done: ``(K, T)`` whether each action ended an inner episode.
    :param lengths: ``(K,)`` steps of each trial (``<= T``).
    :return: ``(K, T + 1)`` int64: the label of the observation each action was taken in;
        :data:`NO_ACTION` from each trial's length on (its last observation and padding).
    :raises ValueError: for a family without labels, or recorded actions that do not
        replay on their tasks (mazes).
    """
    entry_point = _entry_point(env_id)
    if entry_point not in LABELED_FAMILIES:
        labelled = sorted(id_ for id_, spec in gym.registry.items() if spec.vector_entry_point in LABELED_FAMILIES)
        raise ValueError(f"{env_id} has no optimal_action labels; the IDs with labels are {labelled}")
    lengths = np.asarray(lengths, np.int64)
    labels = np.full((len(tasks), actions.shape[1] + 1), NO_ACTION, np.int64)
    labels[:, :-1] = LABELED_FAMILIES[entry_point](env_setting(env_id, env_kwargs), tasks, states, actions, done, lengths)
    labels[np.arange(labels.shape[1])[None, :] >= lengths[:, None]] = NO_ACTION
    return labels
