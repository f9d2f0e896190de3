"""Hyperparameters of the tabular-MDP baselines per setting, and the family's baseline constructors.

The RL² paper grid-searched every baseline's hyperparameters per setting (PAPER.md), so
tuned values are part of the protocol. Ours were tuned by
``scripts/tune_mdp_baselines.py --tasks 1000 --seed 1`` (held-out seed 1; the reported
tables use seed 0, a disjoint task set) on the paper's MDPs (10 states, 5 actions,
horizon 10) for every ``num_episodes`` of the paper's grid, over :data:`TUNING_GRID`;
the value with the best mean trial return wins. :data:`TUNED` holds the winners; every
candidate's score is in ``agents/data/tabular_mdp_tuning.json``. Another
``num_episodes`` takes the values of the nearest tuned one (in ``log n``); other MDP
sizes use the same values (they were not tuned there).

Result names and what they are built with (:func:`make_mdp_baseline`):

==================  =====================================================================
``random``          :class:`~agents.baselines.random_policy.RandomAgent`
``greedy``          :class:`~agents.baselines.tabular_mdp.ModelGreedyAgent`, ``epsilon=0``
``epsilon_greedy``  :class:`~agents.baselines.tabular_mdp.ModelGreedyAgent`, tuned ``epsilon``
``psrl``            :class:`~agents.baselines.tabular_mdp.PSRLAgent` (the true prior; nothing tuned)
``opsrl``           :class:`~agents.baselines.tabular_mdp.OPSRLAgent`, tuned ``num_samples``
``ucrl2``           :class:`~agents.baselines.tabular_mdp.UCRL2Agent`, tuned ``scale`` (``delta = 0.05``)
``beb``             :class:`~agents.baselines.tabular_mdp.BEBAgent`, tuned ``beta``
==================  =====================================================================

Against the paper's Table 2 (1000 tasks, seed 0) every cell is within 3% except OPSRL at
n = 10 and 25 (7.0% and 4.2% below) and BEB at every n (4.3% to 6.0% above); the
README's tabular-MDP baseline section explains them.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from agents.baselines.random_policy import RandomAgent
from agents.baselines.tabular_mdp import BEBAgent, ModelGreedyAgent, OPSRLAgent, PSRLAgent, UCRL2Agent
from agents.evaluation import Agent
from meta_envs.tabular_mdp import MetaTabularMDPVectorEnv
from meta_envs.validation import check_int


@dataclasses.dataclass(frozen=True)
class TabularMDPHyperparameters:
    """The tunable hyperparameters of the tabular-MDP baselines (defaults: untuned textbook values).

    :param epsilon: epsilon-greedy's exploration probability per step.
    :param opsrl_samples: posterior samples per episode of OPSRL.
    :param ucrl2_scale: multiplier of UCRL2's confidence widths (1: Jaksch et al.'s).
    :param beb_beta: BEB's bonus scale.
    """

    epsilon: float = 0.1
    opsrl_samples: int = 2
    ucrl2_scale: float = 1.0
    beb_beta: float = 1.0


#: the candidates ``scripts/tune_mdp_baselines.py`` tries, per hyperparameter
TUNING_GRID: dict[str, tuple] = {
    "epsilon": (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3),
    "opsrl_samples": (2, 3, 5, 10),
    "ucrl2_scale": (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0),
    "beb_beta": (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0),
}

#: which result name each hyperparameter belongs to
TUNED_BASELINE = {"epsilon": "epsilon_greedy", "opsrl_samples": "opsrl", "ucrl2_scale": "ucrl2", "beb_beta": "beb"}

#: the tuned values per ``num_episodes`` (see the module docstring for how they were chosen)
TUNED: dict[int, TabularMDPHyperparameters] = {
    10: TabularMDPHyperparameters(epsilon=0.0, opsrl_samples=2, ucrl2_scale=0.05, beb_beta=0.5),
    25: TabularMDPHyperparameters(epsilon=0.1, opsrl_samples=2, ucrl2_scale=0.15, beb_beta=1.0),
    50: TabularMDPHyperparameters(epsilon=0.15, opsrl_samples=2, ucrl2_scale=0.05, beb_beta=1.0),
    75: TabularMDPHyperparameters(epsilon=0.15, opsrl_samples=2, ucrl2_scale=0.05, beb_beta=1.5),
    100: TabularMDPHyperparameters(epsilon=0.1, opsrl_samples=2, ucrl2_scale=0.05, beb_beta=1.5),
}


@dataclasses.dataclass(frozen=True)
class MDPSetting:
    """The sizes of a MetaTabularMDP-v0 setting that the baselines need."""

    num_states: int
    num_actions: int
    horizon: int
    num_episodes: int


def mdp_setting(env_kwargs: Mapping[str, Any]) -> MDPSetting:
    """The setting of MetaTabularMDP-v0 with these kwargs (defaults filled; kwargs checked by the env)."""
    MetaTabularMDPVectorEnv(1, **env_kwargs).close()  # raises on unknown or bad kwargs
    defaults = inspect.signature(MetaTabularMDPVectorEnv).parameters
    fields = ("num_states", "num_actions", "horizon", "num_episodes")
    return MDPSetting(*(int(env_kwargs.get(name, defaults[name].default)) for name in fields))


def tuned_hyperparameters(num_episodes: int) -> TabularMDPHyperparameters:
    """The tuned values of the nearest tuned ``num_episodes`` (exact on the paper's grid)."""
    num_episodes = check_int("num_episodes", num_episodes, 1)
    return TUNED[min(TUNED, key=lambda n: abs(math.log(n / num_episodes)))]


#: result name -> constructor(setting, hyperparameters)
MDP_BASELINES: dict[str, Callable[[MDPSetting, TabularMDPHyperparameters], Agent]] = {
    "random": lambda m, hp: RandomAgent(m.num_actions),
    "greedy": lambda m, hp: ModelGreedyAgent(m.num_states, m.num_actions, m.horizon, epsilon=0.0),
    "epsilon_greedy": lambda m, hp: ModelGreedyAgent(m.num_states, m.num_actions, m.horizon, epsilon=hp.epsilon),
    "psrl": lambda m, hp: PSRLAgent(m.num_states, m.num_actions, m.horizon),
    "opsrl": lambda m, hp: OPSRLAgent(m.num_states, m.num_actions, m.horizon, num_samples=hp.opsrl_samples),
    "ucrl2": lambda m, hp: UCRL2Agent(m.num_states, m.num_actions, m.horizon, scale=hp.ucrl2_scale),
    "beb": lambda m, hp: BEBAgent(m.num_states, m.num_actions, m.horizon, beta=hp.beb_beta),
}


def make_mdp_baseline(
    name: str, env_kwargs: Mapping[str, Any], hyperparameters: TabularMDPHyperparameters | None = None
) -> Agent:
    """One tabular-MDP baseline for a setting.

    :param name: a key of :data:`MDP_BASELINES`.
    :param env_kwargs: MetaTabularMDP-v0's kwargs.
    :param hyperparameters: default: :func:`tuned_hyperparameters` of the setting.
    """
    if name not in MDP_BASELINES:
        raise ValueError(f"unknown tabular-MDP baseline {name!r}; known: {list(MDP_BASELINES)}")
    setting = mdp_setting(env_kwargs)
    if hyperparameters is None:
        hyperparameters = tuned_hyperparameters(setting.num_episodes)
    return MDP_BASELINES[name](setting, hyperparameters)
