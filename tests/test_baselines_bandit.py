"""Bandit baselines against facts that do not depend on our code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents.baselines import BaselineUnavailable, RandomAgent
from agents.baselines.bandit import (
    EpsilonGreedyAgent,
    MRunAgent,
    OptimisticThompsonAgent,
    ThompsonAgent,
    UCB1Agent,
    argmax_random_ties,
)
from agents.baselines.bandit_registry import (
    TUNED_PATH,
    TUNING_GRID,
    BanditHyperparameters,
    make_bandit_baseline,
    tuned_hyperparameters,
)
from agents.baselines.bayes_optimal import (
    BayesOptimalAgent,
    bayes_optimal_policy,
    bayes_optimal_value,
    belief_state_count,
)
from agents.baselines.gittins import GittinsAgent, gittins_table
from agents.baselines.registry import FAMILIES, make_baselines
from agents.evaluation import evaluate
from agents.evaluation.probe import make_agent

REPO = Path(__file__).resolve().parent.parent
ENV = "MetaBandit-v0"


def run_actions(agent, num_arms: int, num_episodes: int, num_envs: int, seed: int = 0) -> np.ndarray:
    """Actions ``(num_envs, num_episodes)`` the agent takes in one trial per sub-env."""
    envs = gym.make_vec(ENV, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        num_arms=num_arms, num_episodes=num_episodes)
    observation, _ = envs.reset(seed=seed)
    agent.reset(num_envs, seed)
    actions = []
    for _ in range(num_episodes):
        action = agent.act(observation)
        actions.append(action)
        observation, *_ = envs.step(action)
    return np.stack(actions, axis=1)


def one_hot_observation(actions, rewards, num_arms):
    """A batched RL² observation with the given previous actions (-1: trial start) and rewards."""
    actions = np.asarray(actions)
    prev_action = np.zeros((len(actions), num_arms), np.float32)
    pulled = actions >= 0
    prev_action[np.flatnonzero(pulled), actions[pulled]] = 1.0
    return {
        "obs": np.ones((len(actions), 1), np.float32),
        "prev_action": prev_action,
        "prev_reward": np.asarray(rewards, np.float32).reshape(-1, 1),
        "prev_done": pulled.astype(np.float32).reshape(-1, 1),
    }


# --- Random: the exact expectation --------------------------------------------------------


def test_random_trial_return_is_n_over_2():
    """E[trial return] = n * E[p] = n / 2 for U[0, 1] arms, whatever the arm chosen."""
    n = 20
    result = evaluate(RandomAgent(5), ENV, {"num_arms": 5, "num_episodes": n}, num_tasks=2000, seed=3)
    assert abs(result.mean - n / 2) < 1.5 * result.ci95  # about 3 standard errors


# --- bookkeeping, vectorisation, reproducibility ------------------------------------------


def test_posterior_counts_match_the_history_and_restart_per_row():
    agent = ThompsonAgent(3)
    agent.reset(2, seed=0)
    agent.act(one_hot_observation([-1, -1], [0, 0], 3))
    agent.act(one_hot_observation([0, 2], [1, 0], 3))
    agent.act(one_hot_observation([0, 2], [0, 1], 3))
    np.testing.assert_array_equal(agent.successes, [[2, 1, 1], [1, 1, 2]])
    np.testing.assert_array_equal(agent.failures, [[2, 1, 1], [1, 1, 2]])
    # sub-env 1 starts a new trial (all-zero prev_action): only its row goes back to the prior
    agent.act(one_hot_observation([1, -1], [1, 0], 3))
    np.testing.assert_array_equal(agent.successes, [[2, 2, 1], [1, 1, 1]])
    np.testing.assert_array_equal(agent.failures, [[2, 1, 1], [1, 1, 1]])


def test_batched_agent_acts_like_one_agent_per_env():
    """A deterministic agent on a batch does what separate single-env agents would do."""
    rng = np.random.default_rng(1)
    num_envs, num_arms, steps = 6, 4, 15
    batched = EpsilonGreedyAgent(num_arms, epsilon=0.0, tie_break="first")
    singles = [EpsilonGreedyAgent(num_arms, epsilon=0.0, tie_break="first") for _ in range(num_envs)]
    batched.reset(num_envs, seed=0)
    for i, single in enumerate(singles):
        single.reset(1, seed=i)
    actions, rewards = np.full(num_envs, -1), np.zeros(num_envs)
    for _ in range(steps):
        together = batched.act(one_hot_observation(actions, rewards, num_arms))
        alone = [s.act(one_hot_observation(actions[i : i + 1], rewards[i : i + 1], num_arms))[0]
                 for i, s in enumerate(singles)]
        np.testing.assert_array_equal(together, alone)
        actions, rewards = together, rng.integers(0, 2, num_envs).astype(float)


@pytest.mark.parametrize("make", [
    lambda: EpsilonGreedyAgent(5, epsilon=0.1, tie_break="random"),
    lambda: UCB1Agent(5, c=0.3),
    lambda: ThompsonAgent(5),
    lambda: OptimisticThompsonAgent(5, num_samples=3),
    lambda: GittinsAgent(5, 30, discount=0.9),
])
def test_same_seed_same_actions(make):
    np.testing.assert_array_equal(run_actions(make(), 5, 30, 50, seed=4), run_actions(make(), 5, 30, 50, seed=4))


def test_wrong_observation_shape_is_refused():
    agent = UCB1Agent(4)
    agent.reset(3, seed=0)
    with pytest.raises(ValueError, match="num_envs, num_arms"):
        agent.act(one_hot_observation([-1, -1, -1], [0, 0, 0], 5))


def test_bad_kwargs_are_refused():
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedyAgent(3, epsilon=1.5)
    with pytest.raises(ValueError, match="tie_break"):
        EpsilonGreedyAgent(3, tie_break="last")
    with pytest.raises(ValueError, match="num_samples"):
        OptimisticThompsonAgent(3, num_samples=0)
    with pytest.raises(ValueError, match="c must be"):
        UCB1Agent(3, c=-1.0)
    with pytest.raises(ValueError, match="discount"):
        GittinsAgent(3, 10, discount=1.0)


# --- the agents' defining behaviour --------------------------------------------------------


def test_argmax_random_ties_picks_only_maxima_uniformly():
    values = np.tile([0.2, 0.7, 0.1, 0.7], (4000, 1))
    picks = argmax_random_ties(values, np.random.default_rng(0))
    assert set(picks) == {1, 3}
    assert abs((picks == 1).mean() - 0.5) < 0.03


@pytest.mark.parametrize("prior", [0.0, 1.0])
def test_ucb1_pulls_every_arm_once_before_any_twice(prior):
    """Classic UCB1 (no pseudo-counts), and the Beta(1, 1) start with c >= 1 (see UCB1Agent)."""
    num_arms = 6
    agent = UCB1Agent(num_arms, c=1.0, prior_successes=prior, prior_failures=prior)
    actions = run_actions(agent, num_arms, 20, num_envs=300)
    first = np.sort(actions[:, :num_arms], axis=1)
    np.testing.assert_array_equal(first, np.tile(np.arange(num_arms), (300, 1)))


def test_ucb1_with_small_c_stays_on_a_winner():
    """With the paper's start and a small c, a paying first arm is pulled again at once."""
    actions = run_actions(UCB1Agent(6, c=0.1), 6, 3, num_envs=300)
    assert np.any(actions[:, 1] == actions[:, 0])


def test_greedy_stays_on_a_winner_and_leaves_a_loser():
    agent = EpsilonGreedyAgent(4)
    agent.reset(2, seed=0)
    start = agent.act(one_hot_observation([-1, -1], [0, 0], 4))
    np.testing.assert_array_equal(start, [0, 0])  # tie_break="first": arm 0
    np.testing.assert_array_equal(agent.act(one_hot_observation([0, 0], [1, 0], 4)), [0, 1])


def test_m_run_leaves_at_a_failure_until_a_run_of_m_then_stays():
    agent = MRunAgent(3, m=2)
    agent.reset(1, seed=0)
    pulls = [agent.act(one_hot_observation([-1], [0], 3))[0]]
    for reward in [1, 0, 1, 1, 0, 0, 1]:  # arm 0 fails after one success; arm 1 pays twice, then sticks
        pulls.append(agent.act(one_hot_observation([pulls[-1]], [reward], 3))[0])
    assert pulls == [0, 0, 1, 1, 1, 1, 1, 1]
    # a new trial starts again at arm 0
    assert agent.act(one_hot_observation([-1], [0], 3))[0] == 0


def test_m_run_plays_greedy_once_every_arm_has_failed():
    agent = MRunAgent(3, m=5)
    agent.reset(1, seed=0)
    arm = agent.act(one_hot_observation([-1], [0], 3))[0]
    for reward in [0, 1, 0, 0]:  # arm 0 fails; arm 1 pays once, then fails; arm 2 fails
        arm = agent.act(one_hot_observation([arm], [reward], 3))[0]
    assert arm == 1  # the best posterior mean: 2/3 against 1/3 and 1/3


def test_m_run_with_many_arms_and_few_pulls_beats_greedy():
    """k = 50, n = 100: a fresh arm is worth more than a mediocre known one, which Greedy
    keeps pulling (its arms_tried is about 6); the m-run rule keeps looking."""
    setting = {"num_arms": 50, "num_episodes": 100}
    m_run = evaluate(make_agent("m_run", ENV, setting), ENV, setting, num_tasks=300, seed=5)
    greedy = evaluate(make_agent("greedy", ENV, setting), ENV, setting, num_tasks=300, seed=5)
    difference = m_run.trial_returns - greedy.trial_returns
    assert difference.mean() > 3 * difference.std(ddof=1) / np.sqrt(len(difference)), (m_run.mean, greedy.mean)


def test_m_run_refuses_a_run_below_one():
    with pytest.raises(ValueError, match="m"):
        MRunAgent(5, m=0)


def test_epsilon_one_is_uniform():
    actions = run_actions(EpsilonGreedyAgent(4, epsilon=1.0), 4, 50, num_envs=200).ravel()
    np.testing.assert_allclose(np.bincount(actions, minlength=4) / actions.size, 0.25, atol=0.02)


def test_ots_with_one_sample_is_thompson_sampling():
    np.testing.assert_array_equal(
        run_actions(OptimisticThompsonAgent(5, num_samples=1), 5, 40, 64, seed=2),
        run_actions(ThompsonAgent(5), 5, 40, 64, seed=2),
    )


def test_ots_is_optimistic():
    """More samples per arm: a higher value for the same posterior, never below the mean when floored."""
    agent = OptimisticThompsonAgent(2, num_samples=8, floor_at_mean=True)
    agent.reset(20000, seed=0)
    agent.successes[:] = [3.0, 30.0]
    agent.failures[:] = [3.0, 30.0]
    # equal means; the less-known arm 0 has the wider posterior, so its best of 8 wins more often
    assert (agent.choose() == 0).mean() > 0.75


# --- Gittins index --------------------------------------------------------------------------


@pytest.mark.parametrize("discount, a, b, published", [
    (0.9, 1, 1, 0.7029),
    (0.9, 2, 2, 0.6346),
    (0.9, 3, 3, 0.6010),
    (0.9, 10, 2, 0.8695),
    (0.99, 1, 1, 0.8699),
])
def test_gittins_index_matches_published_table(discount, a, b, published):
    """Gittins, Glazebrook & Weber (2011), Multi-armed Bandit Allocation Indices, Bernoulli tables,
    as reproduced in Christian & Griffiths (2016), Algorithms to Live By, ch. 2 (wins-losses
    w-l there is Beta(w + 1, l + 1) here): 0-0 at 0.9 is 0.7029, 1-1 0.6346, 2-2 0.6010,
    9-1 0.8695; 0-0 at 0.99 is 0.8699 (four decimals)."""
    table = gittins_table(14, discount)
    assert round(table[a, b], 4) == published


def test_gittins_table_grid_is_converged():
    coarse, fine = gittins_table(60, 0.95), gittins_table(60, 0.95, num_lambdas=4096)
    assert np.nanmax(np.abs(coarse - fine)) < 1e-4
    assert np.nanmin(fine - coarse) >= -1e-12  # the table is a lower bound: finer grid, larger


def test_gittins_index_is_above_the_mean_and_monotone():
    table = gittins_table(40, 0.9)
    a, b = np.nonzero(~np.isnan(table))
    assert np.all(table[a, b] >= a / (a + b) - 1e-12)
    more_successes = table[2:, 1:-1] - table[1:-1, 1:-1]
    more_failures = table[1:-1, 2:] - table[1:-1, 1:-1]
    assert np.all(more_successes[~np.isnan(more_successes)] > 0)
    assert np.all(more_failures[~np.isnan(more_failures)] < 0)


def test_gittins_agent_refuses_a_longer_trial():
    agent = GittinsAgent(2, 2, discount=0.9)
    agent.reset(1, seed=0)
    agent.act(one_hot_observation([-1], [0], 2))
    for _ in range(2):  # a + b of arm 0 reaches n + 2 = 4, the table's edge
        agent.act(one_hot_observation([0], [1], 2))
    with pytest.raises(ValueError, match="num_episodes=2"):
        agent.act(one_hot_observation([0], [1], 2))


# --- Bayes-optimal DP -----------------------------------------------------------------------


def test_bayes_optimal_matches_hand_computation():
    """2 arms, U[0, 1] priors (posterior mean (1 + s) / (2 + s + f)).

    n = 2: pull any arm (1/2); after a success stay (2/3), after a failure switch (1/2):
    V = 1/2 + 1/2 * 2/3 + 1/2 * 1/2 = 13/12.
    n = 3: after a success, staying is worth 2/3 + 2/3 * 3/4 + 1/3 * 1/2 = 4/3 (switching:
    7/6); after a failure, switching is worth 1/2 + 1/2 * 2/3 + 1/2 * 1/3 = 1 (staying: 5/6):
    V = 1/2 + 1/2 * 4/3 + 1/2 * 1 = 5/3.
    """
    assert bayes_optimal_value(2, 2) == pytest.approx(float(Fraction(13, 12)), abs=1e-12)
    assert bayes_optimal_value(2, 3) == pytest.approx(float(Fraction(5, 3)), abs=1e-12)


def test_bayes_optimal_state_count():
    for k, n in [(2, 3), (4, 6), (8, 5)]:
        assert bayes_optimal_policy(k, n).num_states == belief_state_count(k, n)
    assert belief_state_count(10, 10) == belief_state_count(50, 10) == 4435


def test_bayes_optimal_agent_earns_the_dp_value_and_beats_the_rest():
    kwargs = {"num_arms": 3, "num_episodes": 8}
    optimal = evaluate(BayesOptimalAgent(3, 8), ENV, kwargs, num_tasks=4000, seed=5)
    assert abs(optimal.mean - bayes_optimal_value(3, 8)) < 1.5 * optimal.ci95
    for other in (ThompsonAgent(3), UCB1Agent(3, c=0.2), GittinsAgent(3, 8, discount=0.9)):
        assert evaluate(other, ENV, kwargs, num_tasks=4000, seed=5).mean <= bayes_optimal_value(3, 8) + 0.02


def test_bayes_optimal_refuses_intractable_settings():
    with pytest.raises(ValueError, match="max_states"):
        bayes_optimal_policy(5, 100)


# --- registry and tuned hyperparameters ----------------------------------------------------


def test_registry_builds_every_bandit_baseline():
    agents, unavailable = make_baselines(ENV, {"num_arms": 5, "num_episodes": 10})
    assert list(agents) == ["random", "greedy", "epsilon_greedy", "ucb1", "thompson", "ots", "gittins",
                            "bayes_optimal"]
    assert unavailable == {}
    agents, unavailable = make_baselines(ENV, {"num_arms": 5, "num_episodes": 100}, ["ucb1", "bayes_optimal"])
    assert list(agents) == ["ucb1"] and "belief states" in unavailable["bayes_optimal"]
    with pytest.raises(BaselineUnavailable):
        make_bandit_baseline("bayes_optimal", {"num_arms": 5, "num_episodes": 100})
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baselines(ENV, {}, ["psrl"])
    with pytest.raises(ValueError, match="no classic baselines"):
        make_baselines("CartPole-v1", {})
    assert ENV in FAMILIES


def test_tuned_values_cover_the_paper_grid_on_a_separate_seed():
    tuned = json.loads(TUNED_PATH.read_text())
    assert tuned["seed"] != 0  # reported tables use seed 0
    assert len(tuned["cells"]) == 9
    for entry in tuned["cells"].values():
        for field, value in entry["best"].items():
            assert value in TUNING_GRID[field]
            assert entry["scores"][field][str(value)] == max(entry["scores"][field].values())
    # nearest tuned setting outside the grid
    assert tuned_hyperparameters(6, 12) == BanditHyperparameters(**tuned["cells"]["k=5,n=10"]["best"])


# --- command line ---------------------------------------------------------------------------


def test_baselines_cli(tmp_path):
    out = tmp_path / "results.json"
    command = [sys.executable, "scripts/baselines.py", "--env", ENV, "--env-kwargs", "num_arms=3,num_episodes=6",
               "--tasks", "30", "--seed", "0", "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(out.read_text())
    assert set(document) == {"env_id", "env_kwargs", "num_tasks", "seed", "results"}
    assert document["env_kwargs"] == {"num_arms": 3, "num_episodes": 6}
    assert set(document["results"]) == {"random", "greedy", "epsilon_greedy", "ucb1", "thompson", "ots",
                                        "gittins", "bayes_optimal"}
    for name in document["results"]:
        assert name in completed.stdout


# --- DPT's Dirichlet roll-in ----------------------------------------------------------------


def test_dirichlet_roll_in_samples_each_trials_own_lean():
    """Each trial's pulls follow its own distribution; the leans span even to all-on-one-arm."""
    agent = make_agent("random_dirichlet", ENV, {"num_arms": 4, "num_episodes": 100})
    agent.reset(3000, seed=1)
    probabilities = agent.probabilities
    assert probabilities.shape == (3000, 4) and np.allclose(probabilities.sum(axis=1), 1)
    largest = probabilities.max(axis=1)
    assert (largest == 1).mean() > 0.05 and (largest < 0.5).mean() > 0.05  # lean 1, and near-even trials
    pulls = np.stack([agent.act({}) for _ in range(400)], axis=1)
    counts = np.stack([(pulls == a).mean(axis=1) for a in range(4)], axis=1)
    error = np.abs(counts - probabilities)  # 400 draws: a standard error of at most 0.025
    assert error.max() < 0.15 and error.mean() < 0.02
    agent.reset(3000, seed=1)
    assert np.array_equal(agent.probabilities, probabilities)
    assert np.array_equal(np.stack([agent.act({}) for _ in range(400)], axis=1), pulls)
