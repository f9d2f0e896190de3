"""What the tabular-MDP baselines know about a task: counts, point estimates and the posterior.

Every model-based baseline of :mod:`agents.baselines.tabular_mdp` keeps, per sub-env,
the sufficient statistics of what it has seen in the current trial
(:class:`TabularStatistics`) and turns them into the model it plans in: a point
estimate (:func:`empirical_model`, :func:`map_model`, :func:`posterior_mean_model`) or
posterior samples (:func:`sample_models`). All functions work on a batch of sub-envs at once.

The prior (:class:`TabularPrior`) defaults to the MetaTabularMDP-v0 task distribution
itself, so the Bayesian agents are given the true prior, as the RL² paper gave its
Thompson-sampling baselines:

* transitions: each row ``P[s, a, :]`` ~ Dirichlet(``alpha``, ..., ``alpha``), ``alpha = 1``
  (the flat Dirichlet); the posterior after counts ``c`` is Dirichlet(``alpha + c``);
* rewards: ``mu[s, a]`` ~ Normal(``m``, ``v0``) (``reward_mean = 1``, ``reward_variance = 1``),
  a reward is Normal(``mu[s, a]``, ``s2``) (``noise_variance = 1``, known); after ``n``
  rewards summing to ``R``, ``mu[s, a]`` ~ Normal((m / v0 + R / s2) / (1 / v0 + n / s2),
  1 / (1 / v0 + n / s2)) (the conjugate Normal posterior).

Counts (RL² observation semantics, :mod:`meta_envs.trial`): every step reveals its
reward, so ``visits[s, a]`` counts every time ``a`` was taken in ``s``; the next state of
the step that ends an episode is not observed (the observation is then the next
episode's first state), so ``transition_counts`` miss those steps and
``transition_counts[s, a].sum() <= visits[s, a]``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from meta_envs.validation import check_int, check_number

#: the smallest Dirichlet concentration :class:`TabularPrior` accepts
MIN_ALPHA = 0.01


@dataclasses.dataclass(frozen=True)
class TabularPrior:
    """Conjugate prior of a tabular MDP (defaults: the MetaTabularMDP-v0 task distribution).

    :param alpha: concentration of the symmetric Dirichlet prior of every transition row
        (>= 0.01: with smaller ones the gamma draws of :func:`sample_models` underflow to
        all-zero rows).
    :param reward_mean: prior mean of every reward mean ``mu[s, a]`` (finite).
    :param reward_variance: prior variance of ``mu[s, a]`` (> 0, finite).
    :param noise_variance: variance of a reward around its mean (> 0, finite; known to the agent).
    """

    alpha: float = 1.0
    reward_mean: float = 1.0
    reward_variance: float = 1.0
    noise_variance: float = 1.0

    def __post_init__(self) -> None:
        largest, tiny = np.finfo(float).max, np.finfo(float).tiny
        check_number("alpha", self.alpha, MIN_ALPHA, largest)
        check_number("reward_mean", self.reward_mean, -largest, largest)
        check_number("reward_variance", self.reward_variance, tiny, largest)
        check_number("noise_variance", self.noise_variance, tiny, largest)


class TabularStatistics:
    """Per sub-env counts of one trial: ``(num_envs, S, A, S)`` transitions, ``(num_envs, S, A)`` rewards.

    :param num_envs: number of sub-envs (>= 1).
    :param num_states: states of the MDP (>= 1).
    :param num_actions: actions of the MDP (>= 1).
    """

    def __init__(self, num_envs: int, num_states: int, num_actions: int) -> None:
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.num_states = check_int("num_states", num_states, 1)
        self.num_actions = check_int("num_actions", num_actions, 1)
        n, s, a = self.num_envs, self.num_states, self.num_actions
        #: ``transition_counts[i, s, a, s2]``: observed moves ``s -a-> s2`` in sub-env ``i``
        self.transition_counts = np.zeros((n, s, a, s))
        #: ``visits[i, s, a]``: rewards observed for ``(s, a)`` (every time ``a`` was taken in ``s``)
        self.visits = np.zeros((n, s, a))
        #: ``reward_sums[i, s, a]``: sum of those rewards
        self.reward_sums = np.zeros((n, s, a))
        # Flat row offsets (env, s, a) -> index into the (N * S * A) views.
        self._env_offsets = np.arange(n, dtype=np.int64) * (s * a)

    def restart(self, env_ids: np.ndarray) -> None:
        """Forget everything seen by ``env_ids`` (a new trial, a new task)."""
        self.transition_counts[env_ids] = 0.0
        self.visits[env_ids] = 0.0
        self.reward_sums[env_ids] = 0.0

    def record(
        self,
        env_ids: np.ndarray,
        states: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_states: np.ndarray,
    ) -> None:
        """Add one step per sub-env in ``env_ids`` (distinct ids).

        :param env_ids: int array ``(k,)`` of distinct sub-env indices.
        :param states: states the actions were taken in, ``(k,)``.
        :param actions: the actions, ``(k,)``.
        :param rewards: the rewards, ``(k,)``.
        :param next_states: the next states ``(k,)``; -1 where the next state was not observed.
        """
        rows = self._env_offsets[env_ids] + states * self.num_actions + actions
        # Distinct env ids make the rows distinct, so buffered fancy-index += is exact.
        self.visits.reshape(-1)[rows] += 1.0
        self.reward_sums.reshape(-1)[rows] += rewards
        seen = next_states >= 0
        self.transition_counts.reshape(-1)[rows[seen] * self.num_states + next_states[seen]] += 1.0

    def total_steps(self, env_ids: np.ndarray) -> np.ndarray:
        """Steps taken so far in the trial of each of ``env_ids``, ``(k,)``."""
        return self.visits[env_ids].sum(axis=(1, 2))


def empirical_model(stats: TabularStatistics, env_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The maximum-likelihood MDP of ``env_ids``: ``(transitions (k, S, A, S), reward_means (k, S, A))``.

    The MAP model under flat priors: empirical transition frequencies ``c / n`` and mean
    rewards. Where the data say nothing the convention is that of an estimate started from
    zeros: an unseen transition row is uniform and an untried pair's reward is 0.
    """
    counts = stats.transition_counts[env_ids]
    moves = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        transitions = np.where(moves > 0, counts / moves, 1.0 / stats.num_states)
    return transitions, stats.reward_sums[env_ids] / np.maximum(stats.visits[env_ids], 1.0)


def reward_posterior(
    stats: TabularStatistics, env_ids: np.ndarray, prior: TabularPrior
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the Normal posterior of every ``mu[s, a]`` of ``env_ids``, each ``(k, S, A)``."""
    precision = 1.0 / prior.reward_variance + stats.visits[env_ids] / prior.noise_variance
    weighted = prior.reward_mean / prior.reward_variance + stats.reward_sums[env_ids] / prior.noise_variance
    return weighted / precision, 1.0 / precision


def posterior_mean_model(
    stats: TabularStatistics, env_ids: np.ndarray, prior: TabularPrior
) -> tuple[np.ndarray, np.ndarray]:
    """The posterior-mean MDP of ``env_ids``: ``(transitions (k, S, A, S), reward_means (k, S, A))``.

    Transitions ``(alpha + c) / (S alpha + n)``; rewards the Normal posterior mean.
    """
    pseudo = stats.transition_counts[env_ids] + prior.alpha
    return pseudo / pseudo.sum(axis=-1, keepdims=True), reward_posterior(stats, env_ids, prior)[0]


def map_model(
    stats: TabularStatistics, env_ids: np.ndarray, prior: TabularPrior
) -> tuple[np.ndarray, np.ndarray]:
    """The maximum-a-posteriori MDP of ``env_ids``: ``(transitions (k, S, A, S), reward_means (k, S, A))``.

    The mode of Dirichlet(``alpha + c``) is ``(alpha - 1 + c) / (S (alpha - 1) + n)``; for the
    flat prior (``alpha = 1``) that is the empirical frequency ``c / n``. A row whose mode is
    not unique (no observed move from ``(s, a)`` under the flat prior) is taken uniform, the
    posterior's mean there. Requires ``alpha >= 1`` (below 1 the mode lies on the simplex's
    boundary and is not the formula above). Rewards: the Normal posterior's mode is its mean.
    """
    if prior.alpha < 1.0:
        raise ValueError(f"map_model needs a Dirichlet prior with alpha >= 1, got alpha={prior.alpha}")
    mode = stats.transition_counts[env_ids] + (prior.alpha - 1.0)
    total = mode.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        transitions = np.where(total > 0, mode / total, 1.0 / stats.num_states)
    return transitions, reward_posterior(stats, env_ids, prior)[0]


#: the point estimates :func:`point_model` builds
POINT_ESTIMATES = ("empirical", "map", "mean")


def point_model(
    stats: TabularStatistics, env_ids: np.ndarray, prior: TabularPrior, estimate: str
) -> tuple[np.ndarray, np.ndarray]:
    """One of the point estimates by name: ``"empirical"`` (:func:`empirical_model`; ignores
    ``prior``), ``"map"`` (:func:`map_model`) or ``"mean"`` (:func:`posterior_mean_model`)."""
    if estimate == "empirical":
        return empirical_model(stats, env_ids)
    if estimate == "map":
        return map_model(stats, env_ids, prior)
    if estimate == "mean":
        return posterior_mean_model(stats, env_ids, prior)
    raise ValueError(f"estimate must be one of {POINT_ESTIMATES}, got {estimate!r}")


def check_estimate(estimate: str, prior: TabularPrior) -> str:
    """Return ``estimate`` if :func:`point_model` can build it with ``prior``, else raise ``ValueError``."""
    if estimate not in POINT_ESTIMATES:
        raise ValueError(f"estimate must be one of {POINT_ESTIMATES}, got {estimate!r}")
    if estimate == "map" and prior.alpha < 1.0:
        raise ValueError(f"estimate='map' needs a prior with alpha >= 1, got alpha={prior.alpha}")
    return estimate


def sample_models(
    stats: TabularStatistics,
    env_ids: np.ndarray,
    prior: TabularPrior,
    rng: np.random.Generator,
    num_samples: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw MDPs from the posterior of ``env_ids``.

    Draw order (reproducibility): one standard gamma per transition entry, for all
    sub-envs and samples at once (``(k, num_samples, S, A, S)``, normalised into Dirichlet
    rows), then one standard normal per reward mean (``(k, num_samples, S, A)``).

    :return: ``(transitions (k, num_samples, S, A, S), reward_means (k, num_samples, S, A))``.
    """
    num_samples = check_int("num_samples", num_samples, 1)
    concentration = stats.transition_counts[env_ids][:, None] + prior.alpha
    shape = (len(env_ids), num_samples) + concentration.shape[2:]
    transitions = rng.standard_gamma(np.broadcast_to(concentration, shape))
    transitions /= transitions.sum(axis=-1, keepdims=True)
    mean, variance = reward_posterior(stats, env_ids, prior)
    noise = rng.standard_normal(shape[:-1])
    return transitions, mean[:, None] + np.sqrt(variance)[:, None] * noise
