"""Classic Bernoulli-bandit baselines of the RL² paper (Duan et al. 2016, section 4.1, Table 1).

Every agent here keeps a Beta posterior per arm and sub-env, learnt from the RL²
observation alone: ``prev_action`` (one-hot) says which arm was pulled and
``prev_reward`` whether it paid. The statistics start at one success and one failure
(the Beta(1, 1) prior, i.e. the task distribution's U[0, 1]), as in the paper, which
used this initialisation for UCB1 and epsilon-greedy and the true prior for Thompson
sampling. A row whose ``prev_action`` is all zeros is the first observation of a new
trial (at ``reset`` and after a vector env's autoreset), so that sub-env's statistics
restart from the prior: the agents stay correct inside any vector-env loop.

All agents act on a whole batch of sub-envs with numpy (no Python loop over sub-envs),
and every random draw (ties, exploration, posterior samples) comes from the generator
seeded in :meth:`~BetaBernoulliAgent.reset`.

Agents (result names of :mod:`agents.baselines.registry` in brackets):

* :class:`EpsilonGreedyAgent` (``epsilon_greedy``; ``greedy`` is ``epsilon=0``, as in the
  paper): the arm with the best posterior mean, a uniformly random arm with probability
  epsilon.
* :class:`UCB1Agent` (``ucb1``): posterior mean + ``c * sqrt(2 ln t / T_i)``.
* :class:`ThompsonAgent` (``thompson``): the arm whose posterior sample is largest.
* :class:`OptimisticThompsonAgent` (``ots``): per arm the best of several posterior
  samples (the paper's OTS), optionally floored at the posterior mean.

Not paper baselines: :class:`WinStayLoseShiftAgent`, the memoryless rule the behavioural
probe (:mod:`agents.evaluation.probe`) holds a learner that does not count against, and
:class:`MRunAgent`, the m-run rule for many arms, which needs no counts while it explores.

The Gittins-index agent is in :mod:`agents.baselines.gittins`, the Bayes-optimal one in
:mod:`agents.baselines.bayes_optimal`.
"""

from __future__ import annotations

import abc

import numpy as np

from meta_envs.validation import check_int, check_number


def argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax of ``values`` ``(N, k)``, ties broken uniformly at random.

    Exact: only entries equal to the row's maximum can be chosen, each with equal chance.
    """
    best = values == values.max(axis=1, keepdims=True)
    return np.where(best, rng.random(values.shape), -1.0).argmax(axis=1)


class BetaBernoulliAgent(abc.ABC):
    """Base of the bandit baselines: Beta posteriors per arm, updated from the observation.

    Subclasses implement :meth:`choose`. After :meth:`act` has seen an observation,
    ``successes`` and ``failures`` (shape ``(num_envs, num_arms)``) hold the Beta
    posterior's parameters (prior pseudo-counts included).

    :param num_arms: number of arms of the bandit (>= 2).
    :param prior_successes: pseudo-successes per arm before any pull (paper: 1).
    :param prior_failures: pseudo-failures per arm before any pull (paper: 1).
    """

    def __init__(self, num_arms: int, prior_successes: float = 1.0, prior_failures: float = 1.0) -> None:
        self.num_arms = check_int("num_arms", num_arms, 2)
        self.prior_successes = check_number("prior_successes", prior_successes, 0.0, np.inf)
        self.prior_failures = check_number("prior_failures", prior_failures, 0.0, np.inf)
        self.num_envs = 0
        self.successes = np.zeros((0, self.num_arms))
        self.failures = np.zeros((0, self.num_arms))
        self.rng = np.random.default_rng(0)

    def reset(self, num_envs: int, seed: int) -> None:
        """Start ``num_envs`` new trials from the prior; reseed the agent's generator."""
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.rng = np.random.default_rng(seed)
        self.successes = np.full((self.num_envs, self.num_arms), self.prior_successes)
        self.failures = np.full((self.num_envs, self.num_arms), self.prior_failures)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Update the posteriors with the last pull of every sub-env, then choose arms."""
        self.update(observation)
        return self.choose()

    def update(self, observation: dict[str, np.ndarray]) -> None:
        """Add each sub-env's last pull to its arm's counts; restart rows that begin a trial."""
        pulled = np.asarray(observation["prev_action"], dtype=np.float64)
        if pulled.shape != (self.num_envs, self.num_arms):
            raise ValueError(
                f"observation['prev_action'] must have shape (num_envs, num_arms) = "
                f"({self.num_envs}, {self.num_arms}), got {pulled.shape}; call reset(num_envs, seed) "
                "with the vector env's num_envs and build the agent with its num_arms"
            )
        reward = np.asarray(observation["prev_reward"], dtype=np.float64).reshape(self.num_envs, 1)
        new_trial = ~pulled.any(axis=1)
        if new_trial.any():
            self.successes[new_trial] = self.prior_successes
            self.failures[new_trial] = self.prior_failures
        self.successes += pulled * reward
        self.failures += pulled * (1.0 - reward)

    @property
    def memory(self) -> np.ndarray:
        """The agent's state, ``(num_envs, 2 * num_arms)``: its successes and failures (the
        behavioural probe's memory read-out recovers the counts from it exactly)."""
        return np.hstack([self.successes, self.failures])

    @property
    def posterior_mean(self) -> np.ndarray:
        """Mean of each arm's Beta posterior, ``(num_envs, num_arms)``."""
        return self.successes / (self.successes + self.failures)

    @abc.abstractmethod
    def choose(self) -> np.ndarray:
        """The arm of every sub-env given the current posteriors."""


#: how :class:`EpsilonGreedyAgent` breaks ties between arms of equal posterior mean
TIE_BREAKS = ("first", "random")


class EpsilonGreedyAgent(BetaBernoulliAgent):
    """The best posterior mean; with probability ``epsilon`` a uniformly random arm.

    With the Beta(1, 1) start, ``epsilon=0`` (the paper's Greedy) stays on an arm while it
    pays and leaves it once its mean drops below 1/2 (an untried arm's mean).

    Ties matter here, unlike for the other agents: an arm with as many successes as
    failures has mean exactly 1/2, like an untried arm. ``tie_break="first"`` takes the
    lowest arm index (``numpy.argmax``), which keeps pulling such an arm, since arms are
    tried in index order; it reproduces the paper's Greedy column (within 1.3% at
    n >= 100 and 2.5% at n = 10, seed 0, 1000 tasks), so it is the default.
    ``tie_break="random"`` picks uniformly among the tied arms, so it tries new arms more
    often and scores 1-3% more (Greedy on seed 0, 1000 tasks: e.g. 79.94 instead of 77.77
    at k = 10, n = 100; 409.68 instead of 400.33 at k = 10, n = 500).

    :param num_arms: number of arms (>= 2).
    :param epsilon: exploration probability in [0, 1].
    :param tie_break: ``"first"`` (the paper's behaviour) or ``"random"``.
    """

    def __init__(self, num_arms: int, epsilon: float = 0.0, tie_break: str = "first") -> None:
        super().__init__(num_arms)
        self.epsilon = check_number("epsilon", epsilon, 0.0, 1.0)
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
        self.tie_break = tie_break

    def choose(self) -> np.ndarray:
        mean = self.posterior_mean
        greedy = mean.argmax(axis=1) if self.tie_break == "first" else argmax_random_ties(mean, self.rng)
        if self.epsilon == 0.0:
            return greedy
        explore = self.rng.random(self.num_envs) < self.epsilon
        return np.where(explore, self.rng.integers(0, self.num_arms, self.num_envs), greedy)


class UCB1Agent(BetaBernoulliAgent):
    """UCB1 (Auer et al. 2002): the arm maximising ``mean_i + c * sqrt(2 ln t / T_i)``.

    ``T_i`` counts arm ``i``'s pulls and ``t`` all pulls, both including the prior
    pseudo-counts (so ``ln t > 0`` from the start); ``mean_i`` is the posterior mean.
    With the paper's start (one success and one failure per arm) an untried arm has mean
    1/2 and ``T_i = 2``. With ``prior_successes = prior_failures = 0`` this is the classic
    UCB1, whose untried arms have an infinite index, so every arm is pulled once before any
    arm is pulled twice; with the Beta(1, 1) start that also holds for ``c >= 1``
    (an arm that paid once has index ``2/3 + c sqrt(2 ln t / 3)``, below an untried arm's
    ``1/2 + c sqrt(2 ln t / 2)`` as soon as ``c sqrt(2 ln t) > 1.28``, and ``t >= 5``).

    :param num_arms: number of arms (>= 2).
    :param c: exploration constant (>= 0; the classic UCB1 has ``c = 1``).
    :param prior_successes: pseudo-successes per arm (paper: 1; classic UCB1: 0).
    :param prior_failures: pseudo-failures per arm (paper: 1; classic UCB1: 0).
    """

    def __init__(
        self, num_arms: int, c: float = 1.0, prior_successes: float = 1.0, prior_failures: float = 1.0
    ) -> None:
        super().__init__(num_arms, prior_successes, prior_failures)
        self.c = check_number("c", c, 0.0, np.inf)

    def choose(self) -> np.ndarray:
        pulls = self.successes + self.failures
        total = pulls.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = self.c * np.sqrt(2.0 * np.log(np.maximum(total, 1.0)) / pulls)
            index = np.where(pulls > 0, self.successes / pulls + bonus, np.inf)
        return argmax_random_ties(index, self.rng)


class ThompsonAgent(BetaBernoulliAgent):
    """Thompson sampling with the true prior Beta(1, 1): the arm whose posterior sample is best.

    :param num_arms: number of arms (>= 2).
    """

    def choose(self) -> np.ndarray:
        return self.rng.beta(self.successes, self.failures).argmax(axis=1)


class OptimisticThompsonAgent(BetaBernoulliAgent):
    """Optimistic Thompson sampling: per arm the best of ``num_samples`` posterior samples.

    The RL² paper's OTS "draws several posterior samples and takes the best" (its number
    was tuned per setting); ``num_samples=1`` is Thompson sampling. ``floor_at_mean=True``
    also floors each arm's value at its posterior mean, the optimistic Thompson sampling of
    May et al. (2012) and Chapelle & Li (2011) (with ``num_samples=1``); the paper's
    numbers are reproduced without the floor.

    :param num_arms: number of arms (>= 2).
    :param num_samples: posterior samples per arm and step (>= 1).
    :param floor_at_mean: floor each arm's value at its posterior mean.
    """

    def __init__(self, num_arms: int, num_samples: int = 2, floor_at_mean: bool = False) -> None:
        super().__init__(num_arms)
        self.num_samples = check_int("num_samples", num_samples, 1)
        if not isinstance(floor_at_mean, (bool, np.bool_)):
            raise TypeError(f"floor_at_mean must be a bool, got {floor_at_mean!r}")
        self.floor_at_mean = bool(floor_at_mean)

    def choose(self) -> np.ndarray:
        shape = (self.num_samples, self.num_envs, self.num_arms)
        values = self.rng.beta(self.successes, self.failures, shape).max(axis=0)
        if self.floor_at_mean:
            values = np.maximum(values, self.posterior_mean)
        return values.argmax(axis=1)


class WinStayLoseShiftAgent:
    """Win-stay/lose-shift: repeat the last arm after a success, pull a uniformly random
    arm (possibly the same one) after a failure and at a trial's start. Memoryless: it
    remembers one pull, so its late pulls go to the empirically best arm only by luck.

    :param num_arms: number of arms of the bandit (>= 2).
    """

    name = "win_stay_lose_shift"

    def __init__(self, num_arms: int) -> None:
        self.num_arms = check_int("num_arms", num_arms, 2)
        self.num_envs = 0
        self.rng = np.random.default_rng(0)

    def reset(self, num_envs: int, seed: int) -> None:
        """Start ``num_envs`` new trials; reseed the agent's generator."""
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.rng = np.random.default_rng(seed)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The last arm where it paid, a random arm elsewhere."""
        pulled = np.asarray(observation["prev_action"])
        if pulled.shape != (self.num_envs, self.num_arms):
            raise ValueError(
                f"observation['prev_action'] must have shape (num_envs, num_arms) = ({self.num_envs}, "
                f"{self.num_arms}), got {pulled.shape}; call reset(num_envs, seed) with the vector env's num_envs"
            )
        won = pulled.any(axis=1) & (np.asarray(observation["prev_reward"]).reshape(self.num_envs) > 0.5)
        return np.where(won, pulled.argmax(axis=1), self.rng.integers(0, self.num_arms, self.num_envs))


class MRunAgent(BetaBernoulliAgent):
    """The m-run rule for bandits with many arms (Berry, Chen, Zame, Heath and Shepp 1997,
    "Bandit problems with infinitely many arms"): try the arms one at a time in index
    order, leave an arm at its first failure, and stay on the first arm that pays ``m``
    times in a row for the rest of the trial. Arms are exchangeable under the task
    distribution, so index order is a random order; while it explores, the rule needs to
    remember only the arm it is on and its run, no counts. If every arm has failed before
    a run of ``m``, it plays the best posterior mean (Greedy) from then on.

    With many arms and few pulls it is strong: on the 1000 held-out tasks of seed 0 at
    k = 50, n = 100, Berry et al.'s ``m = round(sqrt(n)) = 10`` scores 85.31 (m = 8: 85.14,
    m = 6: 84.08; each ± 0.6), level with Gittins (85.20) and UCB1 (84.87) on the same
    tasks, above the RL² paper's RL² (84.9) and far above Greedy (78.25):
    ``python scripts/probe_agent.py --agent m_run --env-kwargs num_arms=50,num_episodes=100``.

    :param num_arms: number of arms (>= 2).
    :param m: the run that makes the rule stay on an arm (>= 1).
    """

    name = "m_run"

    def __init__(self, num_arms: int, m: int) -> None:
        super().__init__(num_arms)
        self.m = check_int("m", m, 1)
        self.arm = np.zeros(0, np.int64)
        self.run = np.zeros(0, np.int64)
        self.committed = np.zeros(0, bool)

    def reset(self, num_envs: int, seed: int) -> None:
        super().reset(num_envs, seed)
        self.arm = np.zeros(self.num_envs, np.int64)
        self.run = np.zeros(self.num_envs, np.int64)
        self.committed = np.zeros(self.num_envs, bool)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Follow the rule after each sub-env's last pull (a trial's start: arm 0)."""
        self.update(observation)
        new_trial = ~np.asarray(observation["prev_action"]).any(axis=1)
        won = np.asarray(observation["prev_reward"]).reshape(self.num_envs) > 0.5
        self.arm[new_trial], self.run[new_trial], self.committed[new_trial] = 0, 0, False
        self.run[~new_trial & won] += 1
        self.committed |= self.run >= self.m
        leave = ~new_trial & ~won & ~self.committed
        self.arm[leave] += 1
        self.run[leave] = 0
        return self.choose()

    def choose(self) -> np.ndarray:
        # np.where evaluates both branches: clamp the arm index where every arm has failed
        return np.where(self.arm < self.num_arms, np.minimum(self.arm, self.num_arms - 1),
                        self.posterior_mean.argmax(axis=1))
