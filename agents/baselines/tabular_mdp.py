"""Classic tabular-MDP baselines of the RL² paper (Duan et al. 2016, section 4.2, Table 2).

Every agent here is model based: it learns, per sub-env, the counts of what it saw in
the current trial (:mod:`agents.baselines.tabular_model`) from the RL² observation
alone, and at the start of every episode it plans a time-dependent policy for the whole
episode by finite-horizon backward induction (:mod:`meta_envs.planning`) in a model
built from those counts. The agents differ only in that model:

==================  =====================================================================
agent               model planned in at each episode start
==================  =====================================================================
``greedy``          :class:`ModelGreedyAgent`, ``epsilon=0``: the maximum-likelihood model
``epsilon_greedy``  :class:`ModelGreedyAgent`: the same; each step a uniformly random
                    action with probability ``epsilon``
``psrl``            :class:`PSRLAgent`: one posterior sample (Strens 2000; Osband et al. 2013)
``opsrl``           :class:`OPSRLAgent`: ``num_samples`` posterior samples combined
                    optimistically per state-action pair (Agrawal & Jia 2017)
``ucrl2``           :class:`UCRL2Agent`: the most optimistic model in L1 / Hoeffding
                    confidence sets (Jaksch et al. 2010), by extended value iteration
``beb``             :class:`BEBAgent`: the posterior mean with the reward bonus
                    ``beta / (1 + n(s, a))`` (Kolter & Ng 2009)
==================  =====================================================================

Observation handling (see :mod:`meta_envs.trial`), per sub-env, in :meth:`act`:

* ``prev_action`` all zeros: a new trial (at reset, and after a vector env's autoreset),
  so the counts restart and a new episode begins;
* otherwise the last step is recorded: state (remembered from the previous
  observation), ``prev_action``, ``prev_reward``, and the next state ``obs`` unless
  ``prev_done`` is 1 (then ``obs`` is the next episode's first state and that step's
  next state is never observed);
* ``prev_done`` 1 or a new trial: the agent plans the episode that starts now.

Ties: a policy is greedy in the planned action values, and actions of exactly equal value
are chosen uniformly at random per step and state (``tie_break="random"``, the default)
or the lowest one is taken (``tie_break="first"``). Ties are common, not an edge case:
before any data every pair of a point-estimate model has the same value, and so have all
untried pairs of a state later on. Random ties make Greedy try different actions where it
knows nothing; it is what reproduces the paper's Greedy column (the lowest action scores
about 5% less: 129.6 instead of 136.6 at n = 10, 1510.7 instead of 1595.6 at n = 100, seed 1).

Episodes are counted per sub-env, so sub-envs need not be in lockstep; an episode that
ends after a number of steps other than ``horizon`` raises an error (the agent's
``horizon`` must be the env's).

Randomness: every draw (posterior samples, exploration) comes from the generator
seeded in :meth:`~TabularMDPAgent.reset`, batched over the sub-envs that need it, in
sub-env order (per plan: model samples, then tie-breaking uniforms; per step: exploration).
A batched agent therefore makes different draws from the same agent run on one sub-env
at a time; agents that draw nothing (``greedy``, ``ucrl2`` and ``beb`` with
``tie_break="first"``) act identically either way.
"""

from __future__ import annotations

import numpy as np

from agents.baselines.tabular_model import (
    TabularPrior,
    TabularStatistics,
    check_estimate,
    empirical_model,
    point_model,
    sample_models,
)
from meta_envs.planning import bellman_backup, greedy_policy, value_iteration
from meta_envs.validation import check_int, check_number


class TabularMDPAgent:
    """Base of the tabular-MDP baselines: counts from the observation, one plan per episode.

    Subclasses implement :meth:`plan`. After :meth:`act`, ``stats`` holds every sub-env's
    counts and ``policy[i, t, s]`` the action sub-env ``i`` takes in state ``s`` at step ``t``
    of its current episode.

    :param num_states: states of the env's MDPs (>= 1; MetaTabularMDP-v0 default 10).
    :param num_actions: actions of the env's MDPs (>= 1; default 5).
    :param horizon: steps per episode (>= 1; default 10); must be the env's.
    :param prior: the prior of the model (default: the task distribution's, :class:`TabularPrior`).
    :param tie_break: ``"random"`` (default) or ``"first"`` (see the module docstring).
    """

    TIE_BREAKS = ("random", "first")

    def __init__(
        self,
        num_states: int = 10,
        num_actions: int = 5,
        horizon: int = 10,
        prior: TabularPrior | None = None,
        tie_break: str = "random",
    ) -> None:
        self.num_states = check_int("num_states", num_states, 1)
        self.num_actions = check_int("num_actions", num_actions, 1)
        self.horizon = check_int("horizon", horizon, 1)
        if prior is None:
            prior = TabularPrior()
        if not isinstance(prior, TabularPrior):
            raise TypeError(f"prior must be a TabularPrior, got {type(prior).__name__}")
        self.prior = prior
        if tie_break not in self.TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {self.TIE_BREAKS}, got {tie_break!r}")
        self.tie_break = tie_break
        self.num_envs = 0
        self.rng = np.random.default_rng(0)

    def reset(self, num_envs: int, seed: int) -> None:
        """Start ``num_envs`` new trials knowing nothing; reseed the agent's generator."""
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.rng = np.random.default_rng(seed)
        n, s, h = self.num_envs, self.num_states, self.horizon
        self.stats = TabularStatistics(n, s, self.num_actions)
        self.policy = np.zeros((n, h, s), np.int64)
        self._states = np.zeros(n, np.int64)  # the state each sub-env acted in last
        self._steps = np.zeros(n, np.int64)  # steps taken in each sub-env's current episode
        self._rows = np.arange(n)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Record every sub-env's last step, plan where an episode starts, then act."""
        if self.num_envs == 0:
            raise RuntimeError("call reset(num_envs, seed) before act()")
        states, actions, rewards, done, stepped = self._parse(observation)
        fresh = np.flatnonzero(~stepped)
        moved = np.flatnonzero(stepped)
        if moved.size:
            next_states = np.where(done[moved], -1, states[moved])
            self.stats.record(moved, self._states[moved], actions[moved], rewards[moved], next_states)
            self._steps[moved] += 1
        ended = np.flatnonzero(stepped & done)
        self._check_horizon(ended, np.flatnonzero(stepped & ~done))
        if fresh.size:
            self.stats.restart(fresh)
        starts = np.flatnonzero(~stepped | done)
        if starts.size:
            self._steps[starts] = 0
            self.policy[starts] = self.plan(starts)
        self._states = states
        return self.policy[self._rows, self._steps, states]

    @property
    def memory(self) -> np.ndarray:
        """The agent's state as the behavioural probe reads it, ``(num_envs, 2 * S * A)``:
        every state-action pair's visits and reward sum."""
        return np.hstack([self.stats.visits.reshape(self.num_envs, -1),
                          self.stats.reward_sums.reshape(self.num_envs, -1)])

    def plan(self, env_ids: np.ndarray) -> np.ndarray:
        """The policy of the episode that starts now in each of ``env_ids``: int ``(k, horizon, S)``."""
        raise NotImplementedError

    def greedy(self, q: np.ndarray) -> np.ndarray:
        """The policy greedy in ``q`` ``(k, horizon, S, A)``, ties broken by ``tie_break``."""
        if self.tie_break == "first":
            return greedy_policy(q)
        best = q == q.max(axis=-1, keepdims=True)
        return np.where(best, self.rng.random(q.shape), -1.0).argmax(axis=-1)

    def optimal_policy(self, transitions: np.ndarray, reward_means: np.ndarray) -> np.ndarray:
        """The optimal policy of MDPs ``(k, S, A, S)``, ``(k, S, A)`` over the horizon (:meth:`greedy` ties)."""
        q, _ = value_iteration(transitions, reward_means, self.horizon)
        return self.greedy(q)

    def _parse(self, observation: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """``(states, prev_actions, prev_rewards, prev_done, stepped)`` of the batch, validated."""
        n, s, a = self.num_envs, self.num_states, self.num_actions
        obs = np.asarray(observation["obs"])
        prev_action = np.asarray(observation["prev_action"])
        if obs.shape != (n, s) or prev_action.shape != (n, a):
            raise ValueError(
                f"observation['obs'] and ['prev_action'] must have shapes (num_envs, num_states) = ({n}, {s}) "
                f"and (num_envs, num_actions) = ({n}, {a}), got {obs.shape} and {prev_action.shape}; "
                "reset(num_envs, seed) with the vector env's num_envs and build the agent with its sizes"
            )
        done = np.asarray(observation["prev_done"]).reshape(n) > 0.5
        rewards = np.asarray(observation["prev_reward"], np.float64).reshape(n)
        return obs.argmax(axis=1), prev_action.argmax(axis=1), rewards, done, prev_action.any(axis=1)

    def _check_horizon(self, ended: np.ndarray, running: np.ndarray) -> None:
        wrong = ended[self._steps[ended] != self.horizon]
        if wrong.size == 0:
            wrong = running[self._steps[running] >= self.horizon]
        if wrong.size:
            i = int(wrong[0])
            raise ValueError(
                f"sub-env {i}'s episode {'ended' if i in ended else 'went on'} after {self._steps[i]} steps, "
                f"but the agent's horizon is {self.horizon}; pass the env's horizon to the agent"
            )


class ModelGreedyAgent(TabularMDPAgent):
    """Acts optimally in a point estimate of the MDP, replanned once per episode; with
    probability ``epsilon`` per step it takes a uniformly random action instead.
    ``epsilon=0`` is the paper's Greedy ("a special case of epsilon-greedy").

    The paper's rule is "optimal against the MAP model"; its prior is not stated. The
    estimates (:mod:`agents.baselines.tabular_model`):

    * ``"empirical"`` (default): the MAP model under flat priors, i.e. the maximum-likelihood
      model: empirical transition frequencies (uniform for an unseen pair) and mean rewards
      (0 for an untried pair). With random ties it reproduces the paper's Greedy and
      epsilon-greedy columns (see ``agents/baselines/tabular_mdp_hyperparameters.py``).
    * ``"map"``: the MAP model under the true prior: the same frequencies, but an untried
      pair is worth the prior mean 1, above every pair seen to pay less. A much stronger
      Greedy: 150.3 at n = 10 and 1890.7 at n = 100 (seed 1), 11% and 20% above the paper's.
    * ``"mean"``: the posterior mean under the true prior (Dirichlet mean ``(1 + c) / (S + n)``).

    :param epsilon: exploration probability per step, in [0, 1] (default 0).
    :param estimate: ``"empirical"`` (default), ``"map"`` or ``"mean"``.
    :param prior: the prior of ``"map"`` and ``"mean"`` (default: the true prior).
    :param tie_break: see :class:`TabularMDPAgent`.
    """

    def __init__(self, num_states: int = 10, num_actions: int = 5, horizon: int = 10, *, epsilon: float = 0.0,
                 estimate: str = "empirical", prior: TabularPrior | None = None, tie_break: str = "random") -> None:
        super().__init__(num_states, num_actions, horizon, prior, tie_break)
        self.epsilon = check_number("epsilon", epsilon, 0.0, 1.0)
        self.estimate = check_estimate(estimate, self.prior)

    def plan(self, env_ids: np.ndarray) -> np.ndarray:
        return self.optimal_policy(*point_model(self.stats, env_ids, self.prior, self.estimate))

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        actions = super().act(observation)
        if self.epsilon == 0.0:
            return actions
        explore = self.rng.random(self.num_envs) < self.epsilon
        return np.where(explore, self.rng.integers(0, self.num_actions, self.num_envs), actions)


class PSRLAgent(TabularMDPAgent):
    """Posterior sampling for RL (Strens 2000; Osband, Russo & Van Roy 2013): at each
    episode start one MDP is drawn from the posterior and its optimal policy followed for
    the whole episode. The prior is the task distribution's (flat Dirichlet transitions,
    Normal(1, 1) reward means, unit reward noise).

    Parameters: :class:`TabularMDPAgent`'s.
    """

    def plan(self, env_ids: np.ndarray) -> np.ndarray:
        p, r = sample_models(self.stats, env_ids, self.prior, self.rng)
        return self.optimal_policy(p[:, 0], r[:, 0])


def optimistic_sample_values(transitions: np.ndarray, reward_means: np.ndarray, horizon: int) -> np.ndarray:
    """Backward induction with, per state-action pair and step, the best of several MDPs.

    ``q[t, s, a] = max_j (r_j[s, a] + sum_s2 P_j[s, a, s2] v[t + 1, s2])``, ``v[t] = max_a q[t]``:
    the optimal values of the "extended" MDP in which the agent may pick, at each pair, which
    of the ``K`` sampled MDPs' reward and transition row apply (Agrawal & Jia 2017).

    :param transitions: ``(k, K, S, A, S)`` sampled transitions.
    :param reward_means: ``(k, K, S, A)`` sampled reward means.
    :param horizon: steps per episode.
    :return: ``q`` of shape ``(k, horizon, S, A)``.
    """
    k, _, s, a = reward_means.shape
    q = np.empty((k, horizon, s, a))
    v = np.zeros((k, 1, s))
    for t in reversed(range(horizon)):
        q[:, t] = bellman_backup(transitions, reward_means, v).max(axis=1)
        v = q[:, t].max(axis=-1)[:, None]
    return q


class OPSRLAgent(TabularMDPAgent):
    """Optimistic posterior sampling: ``num_samples`` posterior MDPs per episode, combined
    optimistically per state-action pair (:func:`optimistic_sample_values`; the rule of
    Agrawal & Jia 2017, "Optimistic posterior sampling for reinforcement learning"), the
    MDP analogue of the paper's optimistic Thompson sampling for bandits. ``num_samples=1``
    is PSRL.

    :param num_samples: posterior samples per episode (>= 1; default 2).
    :param prior: see :class:`TabularMDPAgent`.
    :param tie_break: see :class:`TabularMDPAgent`.
    """

    def __init__(self, num_states: int = 10, num_actions: int = 5, horizon: int = 10, *, num_samples: int = 2,
                 prior: TabularPrior | None = None, tie_break: str = "random") -> None:
        super().__init__(num_states, num_actions, horizon, prior, tie_break)
        self.num_samples = check_int("num_samples", num_samples, 1)

    def plan(self, env_ids: np.ndarray) -> np.ndarray:
        p, r = sample_models(self.stats, env_ids, self.prior, self.rng, self.num_samples)
        return self.greedy(optimistic_sample_values(p, r, self.horizon))


def extended_value_iteration(
    transitions: np.ndarray, reward_means: np.ndarray, l1_radius: np.ndarray, horizon: int
) -> np.ndarray:
    """Finite-horizon extended value iteration (Jaksch et al. 2010, section 3.1.2 and Figure 2).

    At each step and pair the transition row is chosen in the L1 ball
    ``||p - transitions[s, a]||_1 <= l1_radius[s, a]`` (within the simplex) to maximise the
    expected next value: the best next state gets ``min(1, p_best + radius / 2)`` and that
    mass is taken from the worst next states first. Rewards are used as given (pass the
    upper confidence bounds).

    :param transitions: ``(k, S, A, S)`` estimated transitions (rows on the simplex).
    :param reward_means: ``(k, S, A)`` optimistic rewards.
    :param l1_radius: ``(k, S, A)`` L1 radii (>= 0).
    :param horizon: steps per episode.
    :return: ``q`` of shape ``(k, horizon, S, A)``.
    """
    k, s, a = reward_means.shape
    q = np.empty((k, horizon, s, a))
    v = np.zeros((k, s))
    flat = transitions.reshape(k, s * a, s)
    half_radius = l1_radius.reshape(k, s * a) / 2.0
    rows, envs = np.arange(k), np.arange(k)[:, None]
    tail = np.empty_like(flat)  # reused: fresh temporaries of this size cost more than the arithmetic
    for t in reversed(range(horizon)):
        # With next states sorted best first (values u_0 >= u_1 >= ...), taking `added` from
        # the worst first leaves mass L_j = max(C_j - added, 0) in the tail j, j+1, ...
        # (C_j its original mass), and by Abel summation the tail's expected value is
        # sum_{j>=1} L_j g_j with g_1 = u_1 and g_j = u_j - u_{j-1}. C (a matrix product
        # with "at or after in the order") and g are computed in state order, not sorted.
        order = np.argsort(-v, axis=1, kind="stable")
        rank = np.empty_like(order)
        rank[envs, order] = np.arange(s)
        not_before = (rank[:, :, None] >= rank[:, None, :]).astype(np.float64)  # [k, s3, s2]
        sorted_v = v[envs, order]
        gaps = np.zeros((k, s))
        gaps[envs, order[:, 1:]] = np.diff(sorted_v, axis=1, prepend=0.0)[:, 1:]
        gaps[envs, order[:, 1:2]] = sorted_v[:, 1:2]
        best = order[:, 0]
        p_best = flat[rows, :, best]  # (k, S * A)
        added = np.minimum(half_radius, 1.0 - p_best)
        np.matmul(flat, not_before, out=tail)
        np.subtract(tail, added[..., None], out=tail)
        np.maximum(tail, 0.0, out=tail)
        expected = (p_best + added) * v[rows, best][:, None] + (tail @ gaps[..., None])[..., 0]
        q[:, t] = reward_means + expected.reshape(k, s, a)
        v = q[:, t].max(axis=-1)
    return q


class UCRL2Agent(TabularMDPAgent):
    """UCRL2 (Jaksch, Ortner & Auer 2010) for fixed-horizon episodes: at each episode start,
    the optimal policy of the most optimistic MDP in the confidence sets, by
    :func:`extended_value_iteration` over the episode's ``horizon`` steps.

    Confidence sets at the episode start, with ``t`` the steps taken so far in the trial
    (at least 1), ``n(s, a)`` the observed moves from ``(s, a)`` and ``m(s, a)`` its rewards:

    * transitions: ``||p - p_hat||_1 <= scale * sqrt(14 S log(2 A t / delta) / max(1, n))``,
      Jaksch et al.'s radius; ``p_hat`` the empirical frequencies (uniform if ``n = 0``);
    * rewards: ``|mu - r_hat| <= scale * sqrt(14 sigma^2 log(2 S A t / delta) / max(1, m))``:
      Jaksch et al.'s ``sqrt(7 log(2 S A t / delta) / (2 m))`` for rewards in [0, 1], with
      Hoeffding's range replaced by the sub-Gaussian tail of Normal(mu, sigma^2) rewards
      (``2 exp(-m x^2 / (2 sigma^2))`` instead of ``2 exp(-2 m x^2)``), so that each bound
      fails with the same probability as in their proof; ``r_hat`` the empirical mean
      (0 if ``m = 0``).

    With ``scale = 1`` the true model lies in all sets of all episodes with probability at
    least ``1 - delta`` (their union bound puts the failure far below ``delta``; an untried
    pair's reward interval is ``0 +- 10.3`` or wider, which holds a Normal(1, 1) mean except
    with probability about 1e-20, as rewards are not bounded here). Smaller scales give up
    that guarantee for less exploration; the paper grid-searched its baselines, and the
    tuned values (``scale`` 0.05 to 0.15) are in :mod:`agents.baselines.tabular_mdp_hyperparameters`.
    The episodes here are the env's; Jaksch et al.'s own rule (a new episode when a count
    doubles) is for a single unbroken run.

    :param delta: confidence parameter, in (0, 1) (default 0.05).
    :param scale: multiplier of both confidence widths (>= 0; default 1).
    :param reward_noise_std: ``sigma``, the std of a reward around its mean (> 0; default 1).
    :param tie_break: see :class:`TabularMDPAgent` (UCRL2 has no prior).
    """

    def __init__(self, num_states: int = 10, num_actions: int = 5, horizon: int = 10, *, delta: float = 0.05,
                 scale: float = 1.0, reward_noise_std: float = 1.0, tie_break: str = "random") -> None:
        super().__init__(num_states, num_actions, horizon, tie_break=tie_break)
        self.delta = check_number("delta", delta, 0.0, 1.0)
        if self.delta in (0.0, 1.0):
            raise ValueError(f"delta must be in (0, 1) (exclusive), got {delta}")
        self.scale = check_number("scale", scale, 0.0, np.inf)
        self.reward_noise_std = check_number("reward_noise_std", reward_noise_std, 0.0, np.inf)
        if self.reward_noise_std == 0.0:
            raise ValueError("reward_noise_std must be > 0")

    def confidence_sets(self, env_ids: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(p_hat (k, S, A, S), l1_radius (k, S, A), r_hat (k, S, A), reward_radius (k, S, A))`` now."""
        p_hat, r_hat = empirical_model(self.stats, env_ids)
        moves = self.stats.transition_counts[env_ids].sum(axis=-1)
        visits = self.stats.visits[env_ids]
        t = np.maximum(self.stats.total_steps(env_ids), 1.0)[:, None, None]
        s, a = self.num_states, self.num_actions
        l1 = self.scale * np.sqrt(14.0 * s * np.log(2.0 * a * t / self.delta) / np.maximum(moves, 1.0))
        reward = self.scale * np.sqrt(
            14.0 * self.reward_noise_std**2 * np.log(2.0 * s * a * t / self.delta) / np.maximum(visits, 1.0)
        )
        return p_hat, l1, r_hat, reward

    def plan(self, env_ids: np.ndarray) -> np.ndarray:
        p_hat, l1, r_hat, reward = self.confidence_sets(env_ids)
        return self.greedy(extended_value_iteration(p_hat, r_hat + reward, l1, self.horizon))


class BEBAgent(TabularMDPAgent):
    """Bayesian exploration bonus (Kolter & Ng 2009): the optimal policy of the posterior-mean
    MDP with reward ``mu_hat(s, a) + beta / (1 + n(s, a))``, ``n(s, a)`` the times ``a`` was
    taken in ``s`` this trial, replanned once per episode.

    Kolter & Ng's model is the posterior mean (``estimate="mean"``, the default; the true
    prior, so an untried pair is worth 1 + beta). Their bonus divides by one plus the
    Dirichlet posterior's total count, prior pseudo-counts included (``1 + S + n`` here);
    this one divides by ``1 + n(s, a)``, the visit count. ``estimate="empirical"`` adds the bonus to
    Greedy's maximum-likelihood model instead (an untried pair is worth beta), a weaker agent.

    :param beta: bonus scale (>= 0; default 1).
    :param estimate: the model the bonus is added to: ``"mean"`` (default), ``"map"`` or ``"empirical"``.
    :param prior: see :class:`TabularMDPAgent`.
    :param tie_break: see :class:`TabularMDPAgent`.
    """

    def __init__(self, num_states: int = 10, num_actions: int = 5, horizon: int = 10, *, beta: float = 1.0,
                 estimate: str = "mean", prior: TabularPrior | None = None, tie_break: str = "random") -> None:
        super().__init__(num_states, num_actions, horizon, prior, tie_break)
        self.beta = check_number("beta", beta, 0.0, np.inf)
        self.estimate = check_estimate(estimate, self.prior)

    def bonus(self, env_ids: np.ndarray) -> np.ndarray:
        """The exploration bonus of every pair of ``env_ids``, ``(k, S, A)``."""
        return self.beta / (1.0 + self.stats.visits[env_ids])

    def plan(self, env_ids: np.ndarray) -> np.ndarray:
        p, r = point_model(self.stats, env_ids, self.prior, self.estimate)
        return self.optimal_policy(p, r + self.bonus(env_ids))
