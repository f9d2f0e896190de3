"""The Bayes-optimal finite-horizon bandit policy, by exact dynamic programming: the true ceiling.

With arm probabilities i.i.d. U[0, 1] (MetaBandit-v0's task distribution) the posterior
of each arm is Beta(1 + s, 1 + f) after ``s`` successes and ``f`` failures, so the belief
state of a trial is the multiset of the arms' ``(s, f)`` pairs (arms are exchangeable).
Backward induction over these belief states (Bellman 1956; the "Bayesian bandit" of
Berry & Fristedt 1985) gives, with ``h`` pulls left,

    V(state) = max over arms i of  p_i (1 + V(state, i succeeded)) + (1 - p_i) V(state, i failed),
    p_i = (1 + s_i) / (2 + s_i + f_i),        V = 0 once the trial's n pulls are spent,

and ``V(start)`` is the largest expected trial return any agent can get on this task
distribution (:func:`bayes_optimal_value`). :class:`BayesOptimalAgent` acts on it.

Tractability: the number of belief states (:func:`belief_state_count`) does not depend on
``num_arms`` once ``num_arms >= num_episodes``; it is 4,435 for n = 10 (every k of the
paper's grid), 1.4 million for n = 20 with k >= 20, 158,301 for k = 2, n = 50. Beyond
``max_states`` the DP is refused with a clear error; the paper's n = 100 and 500
settings are far out of reach.

Implementation: layer ``w`` (``w`` pulls done) holds its states as rows of the arms'
pair codes ``s * (n + 1) + f`` sorted in decreasing order, ``min(k, n)`` columns (zeros
are untried arms). Layers are built forwards with :func:`numpy.unique` (which also gives
each action's successor), values backwards, all with whole-layer numpy operations. An
agent finds its sub-envs' states in a layer by a 64-bit hash of the row (checked
against the stored row).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from agents.baselines.bandit import BetaBernoulliAgent, argmax_random_ties
from meta_envs.validation import check_int

#: the default limit on the number of belief states of the DP
MAX_STATES = 1_000_000


def belief_state_count(num_arms: int, num_episodes: int, limit: int | None = None) -> int:
    """Number of belief states of a ``num_arms``-armed, ``num_episodes``-pull trial (all layers).

    Counts the multisets of at most ``num_arms`` non-zero ``(s, f)`` pairs of total
    ``s + f <= num_episodes`` (a pair of total ``j`` has ``j + 1`` kinds), without building
    them. With ``limit``, counting stops as soon as the count is known to exceed it (then the
    result is only a lower bound, still above ``limit``): large settings are refused at once.
    """
    num_arms = check_int("num_arms", num_arms, 1)
    n = check_int("num_episodes", num_episodes, 0)
    # counts[w][c]: multisets of total w with c pairs, over the pair kinds added so far
    counts = np.zeros((n + 1, num_arms + 1), dtype=object)
    counts[0, 0] = 1
    for total in range(1, n + 1):
        for _ in range(total + 1):  # each of the total + 1 kinds (s, f) with s + f = total
            for w in range(total, n + 1):  # ascending: a kind may appear several times
                counts[w, 1:] += counts[w - total, :-1]
        # no kind of total > w adds to counts[w]: the states of total <= `total` are all counted
        if limit is not None and counts[: total + 1].sum() > limit:
            return int(counts[: total + 1].sum())
    return int(counts.sum())


def _hash_rows(rows: np.ndarray) -> np.ndarray:
    """64-bit hash of each row (fixed odd multipliers; collisions are checked by the callers)."""
    multipliers = np.random.default_rng(0x5EED).integers(1, 2**63, rows.shape[1], dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        return (rows.astype(np.uint64) * multipliers).sum(axis=1, dtype=np.uint64)


@dataclasses.dataclass(frozen=True, eq=False)
class BayesOptimalPolicy:
    """The solved DP of one (num_arms, num_episodes) setting (see the module docstring).

    :param num_arms: arms of the bandit.
    :param num_episodes: pulls per trial.
    :param rows: per layer ``w``, the states as sorted pair-code rows ``(S_w, W)``.
    :param values: per layer, the optimal expected return of the remaining pulls.
    :param best_codes: per layer except the last, the pair code of an arm to pull.
    :param keys: per layer, the sorted row hashes, and ``order`` the rows in that order.
    """

    num_arms: int
    num_episodes: int
    rows: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]
    best_codes: tuple[np.ndarray, ...]
    keys: tuple[np.ndarray, ...]
    order: tuple[np.ndarray, ...]

    @property
    def value(self) -> float:
        """Expected total reward of a trial under the optimal policy (the ceiling)."""
        return float(self.values[0][0])

    @property
    def num_states(self) -> int:
        """Number of belief states over all layers."""
        return sum(len(r) for r in self.rows)

    def codes(self, successes: np.ndarray, failures: np.ndarray) -> np.ndarray:
        """Pair codes ``s * (n + 1) + f`` of integer count arrays."""
        return successes * (self.num_episodes + 1) + failures

    def state_index(self, layer: int, rows: np.ndarray) -> np.ndarray:
        """Indices in ``layer`` of the given sorted pair-code rows; raises if one is not there."""
        keys = _hash_rows(rows)
        pos = np.minimum(np.searchsorted(self.keys[layer], keys), len(self.keys[layer]) - 1)
        index = self.order[layer][pos]
        if not np.array_equal(self.rows[layer][index], rows):
            raise ValueError(
                f"a belief state is not in the Bayes-optimal table of layer {layer}: rewards must be "
                "0 or 1 and every sub-env's pulls must be counted from the start of its trial"
            )
        return index


@functools.lru_cache(maxsize=8)
def bayes_optimal_policy(num_arms: int, num_episodes: int, max_states: int = MAX_STATES) -> BayesOptimalPolicy:
    """Solve the finite-horizon Bayesian bandit exactly (kept in memory, LRU cache).

    :param num_arms: arms (>= 2).
    :param num_episodes: pulls per trial (>= 1).
    :param max_states: refuse settings with more belief states than this.
    :raises ValueError: if the setting has more than ``max_states`` belief states.
    """
    k = check_int("num_arms", num_arms, 2)
    n = check_int("num_episodes", num_episodes, 1)
    check_int("max_states", max_states, 1)
    if belief_state_count(k, n, limit=max_states) > max_states:
        raise ValueError(
            f"the Bayes-optimal DP for num_arms={k}, num_episodes={n} has more than "
            f"max_states={max_states:,} belief states; it is tractable for small settings only "
            "(e.g. num_episodes <= 15 for any num_arms, or num_arms=2 with num_episodes <= 60)"
        )
    width = min(k, n)
    steps = np.array([n + 1, 1])  # a success adds 1 to s, a failure 1 to f, in s * (n + 1) + f
    cols = np.arange(width)
    rows = [np.zeros((1, width), np.int64)]
    successors = []
    for _ in range(n):
        layer = rows[-1]
        # candidates[i, j, o]: layer row i after the arm in column j had outcome o
        candidates = np.repeat(layer[:, None, None, :], 2, axis=2).repeat(width, axis=1)
        candidates[:, cols, :, cols] += steps
        candidates = -np.sort(-candidates.reshape(-1, width), axis=1)
        next_layer, inverse = np.unique(candidates, axis=0, return_inverse=True)
        rows.append(next_layer)
        successors.append(inverse.reshape(len(layer), width, 2))

    values = [np.zeros(len(rows[n]))]
    best_codes = []
    for w in range(n - 1, -1, -1):
        s, f = np.divmod(rows[w], n + 1)
        p = (1.0 + s) / (2.0 + s + f)
        after = values[0]
        q = p * (1.0 + after[successors[w][..., 0]]) + (1.0 - p) * after[successors[w][..., 1]]
        values.insert(0, q.max(axis=1))
        best_codes.insert(0, rows[w][np.arange(len(q)), q.argmax(axis=1)])

    keys, order = [], []
    for layer in rows:
        h = _hash_rows(layer)
        o = np.argsort(h)
        if np.any(h[o][1:] == h[o][:-1]):
            raise RuntimeError("hash collision between two belief states; change the multipliers' seed")
        keys.append(h[o])
        order.append(o)
    for array in (*rows, *values, *best_codes, *keys, *order):
        array.flags.writeable = False
    return BayesOptimalPolicy(k, n, tuple(rows), tuple(values), tuple(best_codes), tuple(keys), tuple(order))


def bayes_optimal_value(num_arms: int, num_episodes: int, max_states: int = MAX_STATES) -> float:
    """Largest expected trial return of any agent on MetaBandit-v0 with these kwargs.

    :param num_arms: arms (>= 2).
    :param num_episodes: pulls per trial (>= 1).
    :param max_states: refuse settings with more belief states than this.
    """
    return bayes_optimal_policy(num_arms, num_episodes, max_states).value


class BayesOptimalAgent(BetaBernoulliAgent):
    """Acts optimally for the expected trial return under the U[0, 1] task prior.

    Among arms in the same state (which are interchangeable) it picks at random. After a
    trial's last pull (the observation a vector-env loop may still act on before the
    autoreset, whose action the env ignores) it returns the best posterior mean.

    :param num_arms: arms (>= 2).
    :param num_episodes: pulls per trial (>= 1).
    :param max_states: refuse settings with more belief states than this.
    """

    def __init__(self, num_arms: int, num_episodes: int, max_states: int = MAX_STATES) -> None:
        super().__init__(num_arms)
        self.policy = bayes_optimal_policy(num_arms, num_episodes, max_states)
        self.num_episodes = self.policy.num_episodes

    def choose(self) -> np.ndarray:
        s = np.rint(self.successes).astype(np.int64) - 1
        f = np.rint(self.failures).astype(np.int64) - 1
        if np.any(s + 1 != self.successes) or np.any(f + 1 != self.failures):
            raise ValueError("BayesOptimalAgent needs rewards of 0 or 1 (Bernoulli arms)")
        codes = self.policy.codes(s, f)
        layer_of = (s + f).sum(axis=1)
        width = self.policy.rows[0].shape[1]
        rows = -np.sort(-codes, axis=1)[:, :width]
        target = np.full(self.num_envs, -1, np.int64)
        for layer in np.unique(layer_of):
            envs = np.flatnonzero(layer_of == layer)
            if layer < self.num_episodes:
                index = self.policy.state_index(int(layer), rows[envs])
                target[envs] = self.policy.best_codes[layer][index]
        chosen = argmax_random_ties((codes == target[:, None]).astype(np.float64), self.rng)
        done = target < 0
        if done.any():
            chosen[done] = self.posterior_mean[done].argmax(axis=1)
        return chosen
