"""Finite-horizon planning in tabular MDPs: optimal values and exact policy evaluation.

These are the yardsticks of the MetaTabularMDP benchmark ("how far from optimal is
this agent") and the inner loop of model-based baselines (PSRL plans in a sampled
MDP once per episode). Every function is batched: the MDP arrays may carry any
leading batch shape ``(...)``, and one call plans for all of them with a few numpy
operations per step of the horizon (no Python loop over MDPs).

Conventions (as :class:`~meta_envs.tabular_mdp.TabularMDPTask`):

* ``transitions[..., s, a, s2]`` is ``P(s2 | s, a)``, shape ``(..., S, A, S)``;
* ``reward_means[..., s, a]`` is the expected reward of ``a`` in ``s``, shape ``(..., S, A)``;
* time ``t`` counts steps taken in the episode, ``0 <= t < horizon``; ``q[..., t, s, a]``
  is the expected reward of steps ``t, ..., horizon - 1`` when ``a`` is taken in ``s``
  at step ``t``, and ``v[..., t, s]`` the same from ``s`` at step ``t``
  (``v[..., horizon, :] = 0``);
* a policy is time-dependent: integer actions ``policy[..., t, s]`` (deterministic)
  or probabilities ``policy[..., t, s, a]`` (stochastic); a stationary policy is
  ``np.broadcast_to(p, (horizon, *p.shape))``.

Example::

    from meta_envs.planning import optimal_return, policy_return, stack_tasks
    p, r, init = stack_tasks(tasks)                       # (B, S, A, S), (B, S, A), (B, S)
    best = optimal_return(p, r, init, horizon=10)         # (B,) optimal episode returns
    uniform = np.full((10, S, A), 1 / A)                  # the random policy, every MDP
    random = policy_return(p, r, init, uniform)           # (B,)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from meta_envs.tabular_mdp import TabularMDPTask, check_probabilities
from meta_envs.validation import check_int


def _check_mdp(transitions: np.ndarray, reward_means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(transitions, dtype=np.float64)
    r = np.asarray(reward_means, dtype=np.float64)
    if p.ndim < 3 or p.shape[-1] != p.shape[-3] or 0 in p.shape[-3:]:
        raise ValueError(
            f"transitions must have shape (..., num_states, num_actions, num_states), got {p.shape}"
        )
    if r.shape != p.shape[:-1]:
        raise ValueError(
            f"reward_means must have shape {p.shape[:-1]} (transitions' shape without the "
            f"last axis), got {r.shape}"
        )
    if not np.all(np.isfinite(r)):
        raise ValueError("reward_means must be finite, got NaN or inf")
    check_probabilities("transitions", p)
    return p, r


def bellman_backup(p: np.ndarray, r: np.ndarray, v_next: np.ndarray) -> np.ndarray:
    """``r[s, a] + sum_s2 p[s, a, s2] * v_next[s2]`` for every batch element (one matmul).

    The step of every backward induction here, public for planners with their own
    maximisation (the optimistic planners of ``agents.baselines``). Inputs are not checked.

    :param p: ``(..., S, A, S)`` transition probabilities.
    :param r: ``(..., S, A)`` rewards.
    :param v_next: ``(..., S)`` values of the next step.
    :return: ``(..., S, A)`` action values.
    """
    num_states, num_actions = r.shape[-2:]
    flat = p.reshape(p.shape[:-3] + (num_states * num_actions, num_states))
    expected_next = (flat @ v_next[..., None])[..., 0]
    return r + expected_next.reshape(expected_next.shape[:-1] + (num_states, num_actions))


def value_iteration(
    transitions: np.ndarray, reward_means: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal finite-horizon values by backward induction.

    :param transitions: ``(..., S, A, S)`` transition probabilities.
    :param reward_means: ``(..., S, A)`` expected rewards.
    :param horizon: steps per episode (>= 1).
    :return: ``(q, v)``: optimal ``q`` of shape ``(..., horizon, S, A)`` and ``v`` of shape
        ``(..., horizon + 1, S)`` (see the module docstring).
    """
    p, r = _check_mdp(transitions, reward_means)
    horizon = check_int("horizon", horizon, 1)
    batch, (num_states, num_actions) = r.shape[:-2], r.shape[-2:]
    q = np.empty(batch + (horizon, num_states, num_actions))
    v = np.zeros(batch + (horizon + 1, num_states))
    for t in reversed(range(horizon)):
        q[..., t, :, :] = bellman_backup(p, r, v[..., t + 1, :])
        v[..., t, :] = q[..., t, :, :].max(axis=-1)
    return q, v


def greedy_policy(q: np.ndarray) -> np.ndarray:
    """The deterministic policy that is greedy in ``q`` (ties: the lowest action).

    :param q: ``(..., horizon, S, A)`` action values, e.g. from :func:`value_iteration`.
    :return: int64 actions of shape ``(..., horizon, S)``.
    """
    q = np.asarray(q)
    if q.ndim < 3:
        raise ValueError(f"q must have shape (..., horizon, num_states, num_actions), got {q.shape}")
    return q.argmax(axis=-1)


def _policy_probabilities(policy: np.ndarray, num_states: int, num_actions: int) -> np.ndarray:
    """The policy as probabilities ``(..., horizon, S, A)`` (one-hot for integer actions)."""
    policy = np.asarray(policy)
    if policy.dtype.kind in "iu":
        if policy.ndim < 2 or policy.shape[-1] != num_states:
            raise ValueError(
                f"an integer policy must have shape (..., horizon, num_states={num_states}), got {policy.shape}"
            )
        if policy.size and (policy.min() < 0 or policy.max() >= num_actions):
            raise ValueError(
                f"policy actions must be in [0, {num_actions}), got values in "
                f"[{policy.min()}, {policy.max()}]"
            )
        return np.eye(num_actions)[policy]
    if policy.dtype.kind == "f":
        if policy.ndim < 3 or policy.shape[-2:] != (num_states, num_actions):
            raise ValueError(
                "a stochastic policy must have shape (..., horizon, num_states, num_actions) = "
                f"(..., horizon, {num_states}, {num_actions}), got {policy.shape}"
            )
        check_probabilities("policy", policy)
        return policy.astype(np.float64, copy=False)
    raise TypeError(
        "policy must be integer actions (..., horizon, num_states) or float probabilities "
        f"(..., horizon, num_states, num_actions), got dtype {policy.dtype}"
    )


def evaluate_policy(transitions: np.ndarray, reward_means: np.ndarray, policy: np.ndarray) -> np.ndarray:
    """Exact expected values of a (time-dependent, possibly stochastic) policy.

    The horizon is the policy's. The batch shapes of the MDP arrays and of the policy
    broadcast: one policy for many MDPs, many policies for one MDP, or one each.

    :param transitions: ``(..., S, A, S)`` transition probabilities.
    :param reward_means: ``(..., S, A)`` expected rewards.
    :param policy: int actions ``(..., horizon, S)`` or float probabilities ``(..., horizon, S, A)``.
    :return: ``v`` of shape ``(..., horizon + 1, S)`` (see the module docstring).
    """
    p, r = _check_mdp(transitions, reward_means)
    num_states, num_actions = r.shape[-2:]
    probs = _policy_probabilities(policy, num_states, num_actions)
    horizon = probs.shape[-3]
    if horizon < 1:
        raise ValueError("the policy must cover at least one step (its horizon axis is empty)")
    try:
        batch = np.broadcast_shapes(r.shape[:-2], probs.shape[:-3])
    except ValueError as err:
        raise ValueError(
            f"the batch shapes of the MDP {r.shape[:-2]} and of the policy {probs.shape[:-3]} "
            "do not broadcast"
        ) from err
    v = np.zeros(batch + (horizon + 1, num_states))
    for t in reversed(range(horizon)):
        q_t = bellman_backup(p, r, v[..., t + 1, :])
        v[..., t, :] = (probs[..., t, :, :] * q_t).sum(axis=-1)
    return v


def _start_value(v: np.ndarray, initial_state_probs: np.ndarray) -> np.ndarray:
    init = np.asarray(initial_state_probs, dtype=np.float64)
    num_states = v.shape[-1]
    if init.ndim < 1 or init.shape[-1] != num_states:
        raise ValueError(
            f"initial_state_probs must have shape (..., num_states={num_states}), got {init.shape}"
        )
    check_probabilities("initial_state_probs", init)
    try:
        return (v[..., 0, :] * init).sum(axis=-1)
    except ValueError as err:
        raise ValueError(
            f"the batch shape of initial_state_probs {init.shape[:-1]} does not broadcast with "
            f"the MDPs' {v.shape[:-2]}"
        ) from err


def optimal_return(
    transitions: np.ndarray, reward_means: np.ndarray, initial_state_probs: np.ndarray, horizon: int
) -> np.ndarray:
    """The optimal expected return of one episode (the best an agent that knows the task can do).

    :param transitions: ``(..., S, A, S)``.
    :param reward_means: ``(..., S, A)``.
    :param initial_state_probs: ``(..., S)`` distribution of the first state.
    :param horizon: steps per episode (>= 1).
    :return: array of shape ``(...)`` (a 0-d array for one MDP).
    """
    _, v = value_iteration(transitions, reward_means, horizon)
    return _start_value(v, initial_state_probs)


def policy_return(
    transitions: np.ndarray, reward_means: np.ndarray, initial_state_probs: np.ndarray, policy: np.ndarray
) -> np.ndarray:
    """The expected return of one episode under ``policy`` (see :func:`evaluate_policy`).

    :return: array of the broadcast batch shape ``(...)``.
    """
    return _start_value(evaluate_policy(transitions, reward_means, policy), initial_state_probs)


def stack_tasks(tasks: Sequence[TabularMDPTask]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays of many tasks, stacked along a new first axis for the batched functions.

    :param tasks: tasks of the same ``num_states`` and ``num_actions``.
    :return: ``(transitions (B, S, A, S), reward_means (B, S, A), initial_state_probs (B, S))``.
    """
    if len(tasks) == 0:
        raise ValueError("stack_tasks needs at least one task")
    for task in tasks:
        if not isinstance(task, TabularMDPTask):
            raise TypeError(f"tasks must be TabularMDPTask, got {type(task).__name__}")
        if task.transitions.shape != tasks[0].transitions.shape:
            raise ValueError(
                f"tasks must share their shape; got {task.transitions.shape} and {tasks[0].transitions.shape}"
            )
    return (
        np.stack([task.transitions for task in tasks]),
        np.stack([task.reward_means for task in tasks]),
        np.stack([task.initial_state_probs for task in tasks]),
    )
