"""Finite-horizon planning: hand-solved MDPs, batching, agreement with the env, errors."""

import itertools

import numpy as np
import pytest

from meta_envs import MetaTabularMDPVectorEnv, TabularMDPTaskDistribution
from meta_envs.planning import (
    evaluate_policy,
    greedy_policy,
    optimal_return,
    policy_return,
    stack_tasks,
    value_iteration,
)

# A 2-state, 2-action MDP solved by hand. Action 0 in state 0 stays (reward 1), action 1
# moves to state 1 (reward 0); in state 1 action 0 stays (reward 2), action 1 (reward 2.5)
# goes to either state with probability 1/2.
P = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.5, 0.5]]])
R = np.array([[1.0, 0.0], [2.0, 2.5]])


def test_value_iteration_matches_the_hand_solution():
    q, v = value_iteration(P, R, horizon=3)
    # One step to go: q = R. Two to go: s0: 1 + 1 = 2 or 0 + 2.5; s1: 2 + 2.5 or 2.5 + (1 + 2.5) / 2.
    # Three to go: s0: 1 + 2.5 or 0 + 4.5; s1: 2 + 4.5 or 2.5 + (2.5 + 4.5) / 2.
    expected_q = [[[3.5, 4.5], [6.5, 6.0]], [[2.0, 2.5], [4.5, 4.25]], [[1.0, 0.0], [2.0, 2.5]]]
    np.testing.assert_array_equal(q, expected_q)
    np.testing.assert_array_equal(v, [[4.5, 6.5], [2.5, 4.5], [1.0, 2.5], [0.0, 0.0]])
    np.testing.assert_array_equal(greedy_policy(q), [[1, 0], [1, 0], [0, 1]])
    assert optimal_return(P, R, [1.0, 0.0], 3) == 4.5
    assert optimal_return(P, R, [0.5, 0.5], 3) == 5.5


def test_policy_evaluation_matches_the_hand_solution():
    uniform = np.full((2, 2, 2), 0.5)
    # One step to go: s0 (1 + 0) / 2, s1 (2 + 2.5) / 2. Two to go: s0 ((1 + 0.5) + (0 + 2.25)) / 2,
    # s1 ((2 + 2.25) + (2.5 + (0.5 + 2.25) / 2)) / 2.
    np.testing.assert_array_equal(evaluate_policy(P, R, uniform), [[1.875, 4.0625], [0.5, 2.25], [0.0, 0.0]])
    # A time-dependent deterministic policy: "move" first, then "stay".
    v = evaluate_policy(P, R, np.array([[1, 1], [0, 0]]))
    np.testing.assert_array_equal(v[0], [0.0 + 2.0, 2.5 + (1.0 + 2.0) / 2])
    assert policy_return(P, R, [1.0, 0.0], uniform) == 1.875


def test_optimal_value_is_the_best_deterministic_policy_and_greedy_attains_it():
    task = TabularMDPTaskDistribution(num_states=3, num_actions=2).sample(np.random.default_rng(0))
    p, r, init = task.transitions, task.reward_means, task.initial_state_probs
    q, v = value_iteration(p, r, horizon=2)
    all_policies = np.array(list(itertools.product(range(2), repeat=6))).reshape(-1, 2, 3)  # 64 policies
    returns = policy_return(p, r, init, all_policies)
    assert returns.shape == (64,)
    assert np.isclose(returns.max(), optimal_return(p, r, init, 2))
    np.testing.assert_array_equal(evaluate_policy(p, r, greedy_policy(q)), v)


def test_batched_calls_equal_one_call_per_mdp():
    tasks = [TabularMDPTaskDistribution().sample(np.random.default_rng(i)) for i in range(6)]
    p, r, init = stack_tasks(tasks)
    assert p.shape == (6, 10, 5, 10) and r.shape == (6, 10, 5) and init.shape == (6, 10)
    q, v = value_iteration(p.reshape(2, 3, 10, 5, 10), r.reshape(2, 3, 10, 5), horizon=10)
    assert q.shape == (2, 3, 10, 10, 5) and v.shape == (2, 3, 11, 10)
    policies = np.random.default_rng(0).dirichlet(np.ones(5), size=(6, 10, 10))
    batched_policy = policy_return(p, r, init, policies)
    for i, task in enumerate(tasks):
        q_i, v_i = value_iteration(task.transitions, task.reward_means, horizon=10)
        np.testing.assert_allclose(q.reshape(6, 10, 10, 5)[i], q_i, rtol=1e-12)
        np.testing.assert_allclose(v.reshape(6, 11, 10)[i], v_i, rtol=1e-12)
        one = policy_return(task.transitions, task.reward_means, task.initial_state_probs, policies[i])
        np.testing.assert_allclose(batched_policy[i], one, rtol=1e-12)
    # One policy broadcast over every MDP.
    stationary = np.broadcast_to(np.eye(5)[np.arange(10) % 5], (10, 10, 5))
    assert policy_return(p, r, init, stationary).shape == (6,)


def test_constant_rewards_give_horizon_times_reward_for_any_policy():
    task = TabularMDPTaskDistribution(num_states=4, num_actions=3).sample(np.random.default_rng(1))
    r = np.full((4, 3), 0.7)
    policy = np.random.default_rng(2).integers(0, 3, (8, 4))
    np.testing.assert_allclose(evaluate_policy(task.transitions, r, policy)[0], 0.7 * 8)
    np.testing.assert_allclose(optimal_return(task.transitions, r, task.initial_state_probs, 8), 0.7 * 8)


def test_env_returns_match_the_planned_expected_returns():
    """Monte Carlo through the env: the optimal and the uniform policy score what planning says."""
    task = TabularMDPTaskDistribution().sample(np.random.default_rng(3))
    q, _ = value_iteration(task.transitions, task.reward_means, horizon=10)
    optimal = greedy_policy(q)
    num_envs = 2000
    for policy, expected in [
        (optimal, optimal_return(task.transitions, task.reward_means, task.initial_state_probs, 10)),
        (None, policy_return(task.transitions, task.reward_means, task.initial_state_probs,
                             np.full((10, 10, 5), 0.2))),
    ]:
        envs = MetaTabularMDPVectorEnv(num_envs, horizon=10, num_episodes=1)
        obs, info = envs.reset(seed=4, options={"tasks": [task] * num_envs})
        rng = np.random.default_rng(5)
        for _ in range(10):
            states = obs["obs"].argmax(axis=1)
            if policy is None:
                actions = rng.integers(0, 5, num_envs)
            else:
                actions = policy[info["step_in_episode"], states]
            obs, _, terminated, _, info = envs.step(actions)
        assert terminated.all()
        returns = info["episode_returns"][:, 0]
        standard_error = returns.std() / np.sqrt(num_envs)
        assert abs(returns.mean() - expected) < 4 * standard_error


def test_random_policy_averages_one_reward_per_step_over_the_task_distribution():
    p, r, init = stack_tasks(
        MetaTabularMDPVectorEnv(num_envs=2000).draw_tasks(np.random.default_rng(6))
    )
    random_returns = policy_return(p, r, init, np.full((10, 10, 5), 0.2))
    best = optimal_return(p, r, init, 10)
    assert abs(random_returns.mean() - 10.0) < 4 * random_returns.std() / np.sqrt(2000)
    assert np.all(best >= random_returns - 1e-12)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: value_iteration(P[0], R, 2), ValueError, r"transitions must have shape \(\.\.\., num_states"),
        (lambda: value_iteration(P, R[:, :1], 2), ValueError, r"reward_means must have shape \(2, 2\)"),
        (lambda: value_iteration(P * 2, R, 2), ValueError, "transitions rows must sum to 1"),
        (lambda: value_iteration(P, R * np.nan, 2), ValueError, "reward_means must be finite"),
        (lambda: value_iteration(P, R, 0), ValueError, "horizon must be an integer >= 1"),
        (lambda: value_iteration(P, R, 2.0), TypeError, "horizon must be an integer"),
        (lambda: evaluate_policy(P, R, np.array([[0, 2]])), ValueError, r"policy actions must be in \[0, 2\)"),
        (lambda: evaluate_policy(P, R, np.array([[0, 1, 0]])), ValueError, "integer policy must have shape"),
        (lambda: evaluate_policy(P, R, np.full((1, 2, 3), 1 / 3)), ValueError, "stochastic policy must have shape"),
        (lambda: evaluate_policy(P, R, np.full((1, 2, 2), 0.4)), ValueError, "policy rows must sum to 1"),
        (lambda: evaluate_policy(P, R, np.zeros((1, 2), bool)), TypeError, "policy must be integer actions"),
        (lambda: evaluate_policy(P, R, np.zeros((0, 2), int)), ValueError, "at least one step"),
        (lambda: evaluate_policy(np.stack([P] * 3), np.stack([R] * 3), np.zeros((2, 1, 2), int)),
         ValueError, r"batch shapes of the MDP \(3,\) and of the policy \(2,\)"),
        (lambda: optimal_return(P, R, [1.0, 0.0, 0.0], 2), ValueError, "initial_state_probs must have shape"),
        (lambda: optimal_return(P, R, [0.5, 0.6], 2), ValueError, "initial_state_probs rows must sum to 1"),
        (lambda: optimal_return(np.stack([P] * 3), np.stack([R] * 3), np.full((2, 2), 0.5), 2),
         ValueError, r"batch shape of initial_state_probs \(2,\) does not broadcast"),
        (lambda: greedy_policy(np.zeros((2, 2))), ValueError, "q must have shape"),
        (lambda: stack_tasks([]), ValueError, "at least one task"),
        (lambda: stack_tasks([P]), TypeError, "tasks must be TabularMDPTask"),
        (lambda: stack_tasks([TabularMDPTaskDistribution(2, 2).sample(np.random.default_rng(0)),
                              TabularMDPTaskDistribution(3, 2).sample(np.random.default_rng(0))]),
         ValueError, "tasks must share their shape"),
    ],
)
def test_bad_arguments_are_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_start_distributions_broadcast_over_the_batch():
    starts = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_array_equal(optimal_return(P, R, starts, 3), [4.5, 6.5, 5.5])
