"""Gittins indices of Bernoulli arms with Beta posteriors, and the Gittins-index agent.

The index
---------
For an arm whose success probability has the posterior Beta(a, b) and a discount
``gamma``, the Gittins index is the best reward rate of any stopping rule
``tau >= 1`` (Gittins 1979)::

    index(a, b) = sup_tau  E[sum_{t<tau} gamma^t r_t] / E[sum_{t<tau} gamma^t]

It is also the calibrating retirement reward: the per-step reward ``lam`` at which pulling
the arm at least once and retiring optimally later is worth exactly as much as retiring
now (the "calibration" method; Gittins, Glazebrook & Weber 2011, ch. 8).

How it is computed (:func:`gittins_table`)
------------------------------------------
For one charge ``lam`` per pull, ``D(a, b) = p - lam + gamma * E[max(0, D(next))]``
(``p = a / (a + b)``; next is ``(a+1, b)`` with probability ``p``, else ``(a, b+1)``) is
the value of pulling once and then stopping optimally; its positive part says where to
go on. One backward induction over the Beta states ``a + b <= max_total + depth`` gives,
for every state at once, the optimal stopping rule for that ``lam`` together with that
rule's discounted reward ``A`` and discounted time ``B`` (``D = A - lam * B``). The index
of a state is the best ratio ``A / B`` over a grid of ``num_lambdas + 1`` charges in
[0, 1]: each ratio is the reward rate of a real stopping rule, so every table entry is a
lower bound of the index that rises to it as the grid is refined. Beyond ``depth`` pulls
past ``max_total`` the arm is treated as known (its posterior mean; the classic
truncation). All charges are done together as ``(num_lambdas + 1, diagonal)`` arrays,
one numpy pass per diagonal ``a + b``.

Accuracy (measured; ``tests/test_baselines_bandit.py`` checks the first two points):

* Beta(1, 1) and a few other states at gamma = 0.9 and 0.99 match the published
  four-decimal values of Gittins, Glazebrook & Weber (2011), as reproduced in Christian &
  Griffiths (2016), "Algorithms to Live By", ch. 2: 0.7029 (Beta(1,1), gamma 0.9), 0.6346
  (Beta(2,2)), 0.6010 (Beta(3,3)), 0.8695 (Beta(10,2)), 0.8699 (Beta(1,1), gamma 0.99).
* Against a grid 4x finer (4096 charges), the default table (1024) of a + b <= 502 is
  lower by at most 7.5e-5 at gamma = 0.9 and 1.6e-4 at gamma = 0.99 (at states with
  hundreds of pulls, where the index is within a few thousandths of the mean), and by at
  most 2e-5 at a + b <= 50.
* The truncation ``depth = 4 / (1 - gamma)`` moves the published states' indices by less
  than 3e-6 (compared with 8 / (1 - gamma)).

Finite horizon
--------------
The Gittins index policy is Bayes-optimal for the infinite-horizon discounted bandit.
A trial has a finite number of pulls and no discount, so the discount is a hyperparameter
here, as in the paper ("the best of several index approximations per setting"): a
larger ``gamma`` explores longer, and the best discount grows with the number of pulls.
Tuned per setting (:mod:`agents.baselines.bandit_registry`): 0.5 to 0.8 for n = 10,
0.98 to 0.99 for n = 100, 0.995 (the largest candidate) for n = 500.
"""

from __future__ import annotations

import functools

import numpy as np

from agents.baselines.bandit import BetaBernoulliAgent, argmax_random_ties
from meta_envs.validation import check_int, check_number

#: default number of charge intervals on [0, 1]
NUM_LAMBDAS = 1024


def default_depth(discount: float) -> int:
    """Pulls looked ahead past the table before an arm is treated as known: ``4 / (1 - gamma)``."""
    return int(np.ceil(4.0 / (1.0 - discount)))


@functools.lru_cache(maxsize=32)
def gittins_table(
    max_total: int, discount: float, num_lambdas: int = NUM_LAMBDAS, depth: int | None = None
) -> np.ndarray:
    """Gittins indices of Beta(a, b) for every ``a, b >= 1`` with ``a + b <= max_total``.

    Computed once per argument set and kept in memory (an LRU cache); the array is read-only.

    :param max_total: largest ``a + b`` in the table (>= 2).
    :param discount: ``gamma`` in (0, 1).
    :param num_lambdas: charge intervals of the grid on [0, 1] (>= 2).
    :param depth: pulls looked ahead past ``max_total`` (default :func:`default_depth`).
    :return: array ``G`` of shape ``(max_total + 1, max_total + 1)`` with ``G[a, b]`` the
        index; NaN where ``a < 1``, ``b < 1`` or ``a + b > max_total``.
    """
    check_int("max_total", max_total, 2)
    discount = check_number("discount", discount, 0.0, 1.0)
    if not 0.0 < discount < 1.0:
        raise ValueError(f"discount must be in (0, 1) exclusive, got {discount}")
    check_int("num_lambdas", num_lambdas, 2)
    depth = default_depth(discount) if depth is None else check_int("depth", depth, 1)

    charges = np.linspace(0.0, 1.0, num_lambdas + 1)[:, None]
    horizon = max_total + depth
    # On the truncation diagonal the arm is known: pull forever iff p > lam.
    p = np.arange(1, horizon) / horizon
    go_on = p > charges
    reward = np.where(go_on, p / (1.0 - discount), 0.0)
    time = np.where(go_on, 1.0 / (1.0 - discount), 0.0)
    table = np.full((max_total + 1, max_total + 1), np.nan)
    for total in range(horizon - 1, 1, -1):
        a = np.arange(1, total)
        p = a / total
        up, down = discount * p, discount * (1.0 - p)
        # After the pull, go on from the successor (success: column a, failure: a - 1 of the
        # diagonal total + 1) iff its D = A - lam * B is positive; reward and time hold A and
        # B already zeroed where the rule stops.
        reward = p + up * reward[:, 1:] + down * reward[:, :-1]
        time = 1.0 + up * time[:, 1:] + down * time[:, :-1]
        if total <= max_total:
            table[a, total - a] = (reward / time).max(axis=0)
        stop = reward <= charges * time
        reward[stop] = 0.0
        time[stop] = 0.0
    table.flags.writeable = False
    return table


class GittinsAgent(BetaBernoulliAgent):
    """The arm with the largest Gittins index of its Beta posterior (ties at random).

    :param num_arms: number of arms (>= 2).
    :param num_episodes: pulls per trial (sizes the index table).
    :param discount: the index's discount ``gamma`` in (0, 1).
    :param num_lambdas: charge intervals of the table's grid (see :func:`gittins_table`).
    """

    def __init__(self, num_arms: int, num_episodes: int, discount: float, num_lambdas: int = NUM_LAMBDAS) -> None:
        super().__init__(num_arms)
        self.num_episodes = check_int("num_episodes", num_episodes, 1)
        self.discount = check_number("discount", discount, 0.0, 1.0)
        # From Beta(1, 1), an arm has a + b <= n + 2 after n pulls (the last observation
        # of a trial, which a vector-env loop may still act on before the autoreset).
        self.max_total = self.num_episodes + 2
        self.table = gittins_table(self.max_total, self.discount, num_lambdas)

    def choose(self) -> np.ndarray:
        a = self.successes.astype(np.int64)
        b = self.failures.astype(np.int64)
        if np.any(a != self.successes) or np.any(b != self.failures):
            raise ValueError("GittinsAgent needs rewards of 0 or 1 (Bernoulli arms)")
        if (a + b).max() > self.max_total:
            raise ValueError(
                f"a trial went past the num_episodes={self.num_episodes} pulls this agent was "
                "built for; build it with the env's num_episodes"
            )
        return argmax_random_ties(self.table[a, b], self.rng)
