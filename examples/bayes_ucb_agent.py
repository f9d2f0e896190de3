"""A custom meta-RL agent, written against plain ``gymnasium.make_vec``, scored with the benchmark.

Bayes-UCB (Kaufmann, Cappé & Garivier 2012) for the Bernoulli bandits of ``MetaBandit-v0``:
keep a Beta(1 + successes, 1 + failures) posterior per arm and, for the ``t``-th pull of
the trial (``t = 1, 2, ...``), pull the arm whose posterior quantile of level
``1 - 1/(t + 1)`` is highest. Everything it needs is in the RL² observation (the previous action and reward),
so it is a "fast" learner with no "slow" training at all: a hand-written prior, the kind
of agent an RL² policy should match.

The file is self-contained (numpy, scipy and gymnasium) and shows the whole contract:

* an agent is an object with ``reset(num_envs, seed)`` and ``act(observation) -> actions``,
  both batched over ``num_envs`` trials (see ``agents.evaluation.Agent``);
* a factory ``make_agent(env_id, env_kwargs, seed)`` builds one for a suite cell.

    python examples/bayes_ucb_agent.py           # drive it through gymnasium.make_vec by hand
    python scripts/benchmark.py --agent examples.bayes_ucb_agent:make_agent --suite rl2-bandits-v0 --out results/bayes_ucb
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from scipy.special import betaincinv

import meta_envs  # noqa: F401  (registers MetaBandit-v0)


class BayesUCBAgent:
    """Bayes-UCB over a batch of Bernoulli-bandit trials.

    :param num_arms: arms of the bandit.
    """

    def __init__(self, num_arms: int) -> None:
        self.num_arms = num_arms
        self.successes = self.failures = np.zeros((0, num_arms))
        self.rng = np.random.default_rng(0)

    def reset(self, num_envs: int, seed: int) -> None:
        """``num_envs`` new trials: flat Beta(1, 1) priors everywhere."""
        self.successes = np.ones((num_envs, self.num_arms))
        self.failures = np.ones((num_envs, self.num_arms))
        self.rng = np.random.default_rng(seed)  # breaks ties between equal quantiles

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Update each trial's posterior with the last pull, then pick the arms."""
        prev_action = observation["prev_action"]
        reward = observation["prev_reward"][:, 0]
        pulled = prev_action.any(axis=1)
        # a row whose previous action is all zeros starts a trial: back to the prior
        self.successes[~pulled] = 1.0
        self.failures[~pulled] = 1.0
        rows = np.flatnonzero(pulled)
        arms = prev_action[rows].argmax(axis=1)
        self.successes[rows, arms] += reward[rows]
        self.failures[rows, arms] += 1.0 - reward[rows]
        t = self.successes.sum(axis=1) + self.failures.sum(axis=1) - 2 * self.num_arms + 1  # this pull's number
        level = 1.0 - 1.0 / (t + 1.0)
        index = betaincinv(self.successes, self.failures, level[:, None])
        return (index + 1e-9 * self.rng.random(index.shape)).argmax(axis=1)


def make_agent(env_id: str, env_kwargs: dict, seed: int) -> BayesUCBAgent:
    """The factory ``scripts/benchmark.py --agent examples.bayes_ucb_agent:make_agent`` calls per cell."""
    if env_id != "MetaBandit-v0":
        raise ValueError(f"Bayes-UCB is an agent for Bernoulli bandits (MetaBandit-v0), not {env_id}")
    return BayesUCBAgent(gym.make(env_id, **env_kwargs).action_space.n)


def main() -> None:
    """Run 1000 trials of the k=5, n=100 bandit by hand and print the mean trial return."""
    num_trials = 1000
    envs = gym.make_vec("MetaBandit-v0", num_envs=num_trials, num_arms=5, num_episodes=100)
    agent = make_agent("MetaBandit-v0", {"num_arms": 5, "num_episodes": 100}, seed=0)
    observation, _ = envs.reset(seed=0)
    agent.reset(num_trials, seed=0)
    total, done = np.zeros(num_trials), np.zeros(num_trials, bool)
    while not done.all():
        observation, reward, terminated, truncated, _ = envs.step(agent.act(observation))
        total += np.where(done, 0.0, reward)
        done |= terminated | truncated
    print(f"Bayes-UCB on MetaBandit-v0 (k=5, n=100): mean trial return {total.mean():.2f} over {num_trials} trials")


if __name__ == "__main__":
    main()
