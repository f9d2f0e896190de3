"""Which classic baselines exist for which env, under the result names of the results files.

Each family registers, under its env ID, the ordered result names of its baselines, one
constructor ``make(name, env_kwargs) -> agent`` that builds a baseline for a setting
(with that setting's tuned hyperparameters) and, optionally, the exact optimal expected
trial return of a setting where it can be computed. A family's baselines become
available to ``scripts/baselines.py`` and ``scripts/reproduce.py`` by adding one entry to
:data:`FAMILIES`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agents.baselines import BaselineUnavailable
from agents.baselines.bandit_registry import BANDIT_BASELINES, bandit_ceiling, bandit_setting, make_bandit_baseline
from agents.baselines.bandit_registry import TUNED_BASELINE as BANDIT_TUNED_BASELINE
from agents.baselines.bandit_registry import tuned_hyperparameters as tuned_bandit_hyperparameters
from agents.baselines.maze import MAZE_BASELINES, maze_baseline_maker
from agents.baselines.tabular_mdp_hyperparameters import MDP_BASELINES, make_mdp_baseline, mdp_setting
from agents.baselines.tabular_mdp_hyperparameters import TUNED_BASELINE as MDP_TUNED_BASELINE
from agents.baselines.tabular_mdp_hyperparameters import tuned_hyperparameters as tuned_mdp_hyperparameters
from agents.evaluation import Agent


@dataclasses.dataclass(frozen=True)
class FamilyBaselines:
    """The baselines of one env family.

    :param names: result names, in the order tables list them.
    :param make: ``make(name, env_kwargs)`` builds one baseline for a setting; it raises
        :class:`BaselineUnavailable` where that baseline does not apply.
    :param ceiling: ``ceiling(env_kwargs)``: the best expected trial return any agent can
        get in a setting (``None`` where it is not computable); ``None`` for none at all.
    :param tuned: ``tuned(env_kwargs)``: the family's hyperparameter dataclass with the
        setting's tuned values; ``make(name, env_kwargs, hyperparameters)`` then takes
        others. ``None`` for a family without hyperparameters.
    :param tuned_fields: hyperparameter field -> the result name it belongs to.
    """

    names: tuple[str, ...]
    make: Callable[..., Agent]
    ceiling: Callable[[Mapping[str, Any]], float | None] | None = None
    tuned: Callable[[Mapping[str, Any]], Any] | None = None
    tuned_fields: Mapping[str, str] = dataclasses.field(default_factory=dict)


#: env ID -> its family's baselines
FAMILIES: dict[str, FamilyBaselines] = {
    "MetaBandit-v0": FamilyBaselines(
        tuple(BANDIT_BASELINES), make_bandit_baseline, bandit_ceiling,
        lambda env_kwargs: tuned_bandit_hyperparameters(*bandit_setting(env_kwargs)), BANDIT_TUNED_BASELINE,
    ),
    "MetaTabularMDP-v0": FamilyBaselines(
        tuple(MDP_BASELINES), make_mdp_baseline,
        tuned=lambda env_kwargs: tuned_mdp_hyperparameters(mdp_setting(env_kwargs).num_episodes),
        tuned_fields=MDP_TUNED_BASELINE,
    ),
    "MetaMaze-v0": FamilyBaselines(MAZE_BASELINES, maze_baseline_maker("MetaMaze-v0")),
    "MetaMazeLarge-v0": FamilyBaselines(MAZE_BASELINES, maze_baseline_maker("MetaMazeLarge-v0")),
}


def family_baselines(env_id: str) -> FamilyBaselines:
    """The baselines registered for ``env_id``; a clear error if there are none."""
    if env_id not in FAMILIES:
        raise ValueError(f"no classic baselines are registered for {env_id!r}; they exist for {sorted(FAMILIES)}")
    return FAMILIES[env_id]


def make_baselines(
    env_id: str, env_kwargs: Mapping[str, Any], names: Sequence[str] | None = None
) -> tuple[dict[str, Agent], dict[str, str]]:
    """Build the baselines of a setting.

    :param env_id: a registered meta_envs ID with baselines.
    :param env_kwargs: the env's kwargs.
    :param names: which result names (default: all of the family's).
    :return: ``(agents, unavailable)``: result name -> agent, and result name -> why it
        does not apply to this setting.
    """
    family = family_baselines(env_id)
    names = family.names if names is None else tuple(names)
    unknown = [name for name in names if name not in family.names]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown} for {env_id}; known: {list(family.names)}")
    agents, unavailable = {}, {}
    for name in names:
        try:
            agents[name] = make_baseline(env_id, name, env_kwargs)
        except BaselineUnavailable as reason:
            unavailable[name] = str(reason)
    return agents, unavailable


def make_baseline(
    env_id: str, name: str, env_kwargs: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> Agent:
    """One baseline of a setting, with the setting's tuned hyperparameters or ``overrides`` of them.

    :param overrides: hyperparameter values replacing the tuned ones (fields of the
        family's hyperparameter dataclass, e.g. ``{"ucb_c": 0.3}``).
    :raises ValueError: for an unknown baseline or hyperparameter, or a family without any.
    :raises BaselineUnavailable: if the baseline does not apply to the setting.
    """
    family = family_baselines(env_id)
    if name not in family.names:
        raise ValueError(f"unknown baseline {name!r} for {env_id}; known: {list(family.names)}")
    if not overrides:
        return family.make(name, env_kwargs)
    own = sorted(field for field, owner in family.tuned_fields.items() if owner == name)
    unknown = sorted(set(overrides) - set(own))
    if family.tuned is None or unknown:
        has = f"its hyperparameters are {own}" if own else "it has no hyperparameters"
        raise ValueError(f"the {env_id} baseline {name!r} does not take {unknown or sorted(overrides)}: {has}")
    return family.make(name, env_kwargs, dataclasses.replace(family.tuned(env_kwargs), **overrides))


def exact_ceiling(env_id: str, env_kwargs: Mapping[str, Any]) -> float | None:
    """The best expected trial return any agent can get in a setting, where it is known exactly.

    :return: ``None`` when the env has no registered family, no ceiling, or an intractable one.
    """
    family = FAMILIES.get(env_id)
    if family is None or family.ceiling is None:
        return None
    return family.ceiling(env_kwargs)
