"""The bandit family's baselines: constructors, tuned hyperparameters per setting, exact ceiling.

The paper grid-searched every baseline's hyperparameters per setting (PAPER.md), so
tuned values are part of the protocol. Ours were tuned by
``scripts/tune_bandit_baselines.py`` on held-out seed 1 (the reported tables use seed 0,
a disjoint task set) with 1000 tasks per setting, over :data:`TUNING_GRID`; the winners
are in ``agents/data/bandit_hyperparameters.json`` (with every candidate's score).
A setting outside the paper's grid takes the values of the nearest tuned setting (in
``log k`` and ``log n``).

Result names and what they are built with (:data:`BANDIT_BASELINES`):

==================  =====================================================================
``random``          :class:`~agents.baselines.random_policy.RandomAgent`
``greedy``          :class:`~agents.baselines.bandit.EpsilonGreedyAgent`, ``epsilon=0``
``epsilon_greedy``  :class:`~agents.baselines.bandit.EpsilonGreedyAgent`, tuned ``epsilon``
``ucb1``            :class:`~agents.baselines.bandit.UCB1Agent`, tuned ``c``
``thompson``        :class:`~agents.baselines.bandit.ThompsonAgent`
``ots``             :class:`~agents.baselines.bandit.OptimisticThompsonAgent`, tuned ``num_samples``
``gittins``         :class:`~agents.baselines.gittins.GittinsAgent`, tuned ``discount``
``bayes_optimal``   :class:`~agents.baselines.bayes_optimal.BayesOptimalAgent` where tractable
==================  =====================================================================
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym

import meta_envs  # noqa: F401  (registers the IDs)
from agents.baselines import BaselineUnavailable
from agents.baselines.bandit import EpsilonGreedyAgent, OptimisticThompsonAgent, ThompsonAgent, UCB1Agent
from agents.baselines.bayes_optimal import MAX_STATES, BayesOptimalAgent, bayes_optimal_value, belief_state_count
from agents.baselines.gittins import GittinsAgent
from agents.baselines.random_policy import RandomAgent
from agents.evaluation import Agent

#: where the tuned values are kept
TUNED_PATH = Path(__file__).resolve().parent.parent / "data" / "bandit_hyperparameters.json"


@dataclasses.dataclass(frozen=True)
class BanditHyperparameters:
    """The tunable hyperparameters of the bandit baselines (defaults: the textbook values).

    :param epsilon: epsilon-greedy's exploration probability.
    :param ucb_c: UCB1's exploration constant (Auer et al. 2002: 1).
    :param ots_samples: posterior samples per arm of optimistic Thompson sampling.
    :param gittins_discount: the discount of the Gittins index.
    """

    epsilon: float = 0.1
    ucb_c: float = 1.0
    ots_samples: int = 2
    gittins_discount: float = 0.99


#: the candidates ``scripts/tune_bandit_baselines.py`` tries, per hyperparameter
TUNING_GRID: dict[str, tuple] = {
    "epsilon": (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2),
    "ucb_c": (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0),
    "ots_samples": (2, 3, 5, 10, 20),
    "gittins_discount": (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995),
}

#: which result name each hyperparameter belongs to
TUNED_BASELINE = {
    "epsilon": "epsilon_greedy",
    "ucb_c": "ucb1",
    "ots_samples": "ots",
    "gittins_discount": "gittins",
}


def bandit_setting(env_kwargs: Mapping[str, Any]) -> tuple[int, int]:
    """``(num_arms, num_episodes)`` of MetaBandit-v0 with these kwargs (defaults filled, kwargs checked)."""
    envs = gym.make_vec("MetaBandit-v0", num_envs=1, vectorization_mode="vector_entry_point", **env_kwargs)
    setting = int(envs.single_action_space.n), int(envs.unwrapped.num_episodes)
    envs.close()
    return setting


def tuned_hyperparameters(
    num_arms: int, num_episodes: int, path: str | Path = TUNED_PATH
) -> BanditHyperparameters:
    """The tuned values of the nearest tuned setting (exact match on the paper's grid).

    :param num_arms: arms of the setting.
    :param num_episodes: pulls per trial.
    :param path: the tuned-values file written by ``scripts/tune_bandit_baselines.py``.
    """
    cells = json.loads(Path(path).read_text())["cells"]

    def distance(cell: str) -> float:
        k, n = (int(part.split("=")[1]) for part in cell.split(","))
        return math.hypot(math.log(k / num_arms), math.log(n / num_episodes))

    best = min(cells, key=distance)
    return BanditHyperparameters(**cells[best]["best"])


def _bayes_optimal(num_arms: int, num_episodes: int, _: BanditHyperparameters) -> Agent:
    if belief_state_count(num_arms, num_episodes, limit=MAX_STATES) > MAX_STATES:
        raise BaselineUnavailable(
            f"the exact DP has more than {MAX_STATES:,} belief states for num_arms={num_arms}, "
            f"num_episodes={num_episodes}"
        )
    return BayesOptimalAgent(num_arms, num_episodes)


#: result name -> constructor(num_arms, num_episodes, hyperparameters)
BANDIT_BASELINES: dict[str, Callable[[int, int, BanditHyperparameters], Agent]] = {
    "random": lambda k, n, hp: RandomAgent(k),
    "greedy": lambda k, n, hp: EpsilonGreedyAgent(k, epsilon=0.0),
    "epsilon_greedy": lambda k, n, hp: EpsilonGreedyAgent(k, epsilon=hp.epsilon),
    "ucb1": lambda k, n, hp: UCB1Agent(k, c=hp.ucb_c),
    "thompson": lambda k, n, hp: ThompsonAgent(k),
    "ots": lambda k, n, hp: OptimisticThompsonAgent(k, num_samples=hp.ots_samples),
    "gittins": lambda k, n, hp: GittinsAgent(k, n, discount=hp.gittins_discount),
    "bayes_optimal": _bayes_optimal,
}


def make_bandit_baseline(
    name: str, env_kwargs: Mapping[str, Any], hyperparameters: BanditHyperparameters | None = None
) -> Agent:
    """One bandit baseline for a setting.

    :param name: a key of :data:`BANDIT_BASELINES`.
    :param env_kwargs: MetaBandit-v0's kwargs (``num_arms``, ``num_episodes``).
    :param hyperparameters: default: :func:`tuned_hyperparameters` of the setting.
    :raises BaselineUnavailable: if the baseline does not apply to the setting.
    """
    if name not in BANDIT_BASELINES:
        raise ValueError(f"unknown bandit baseline {name!r}; known: {list(BANDIT_BASELINES)}")
    num_arms, num_episodes = bandit_setting(env_kwargs)
    if hyperparameters is None:
        hyperparameters = tuned_hyperparameters(num_arms, num_episodes)
    return BANDIT_BASELINES[name](num_arms, num_episodes, hyperparameters)


def bandit_ceiling(env_kwargs: Mapping[str, Any]) -> float | None:
    """The exact Bayes-optimal expected trial return of a setting, ``None`` where intractable.

    :param env_kwargs: MetaBandit-v0's kwargs.
    """
    num_arms, num_episodes = bandit_setting(env_kwargs)
    if belief_state_count(num_arms, num_episodes, limit=MAX_STATES) > MAX_STATES:
        return None
    return bayes_optimal_value(num_arms, num_episodes)
