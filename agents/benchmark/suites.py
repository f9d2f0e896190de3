"""Named, versioned benchmark suites: which settings a method is scored on, and on which tasks.

A suite fixes, for every cell, the env ID and kwargs, plus the size and seed of the
held-out task set (the same tasks for every agent: :func:`meta_envs.held_out_tasks`) and
the reference agent whose score is 1 in normalised units (0 is the random policy). A
suite's content never changes: changing it means a new version (``rl2-bandits-v1``).

=================  ========================================================  ======================
suite              cells                                                     normalised to 1 by
=================  ========================================================  ======================
``rl2-bandits-v0``  the paper's Table 1: k ∈ {5, 10, 50} × n ∈ {10, 100, 500}  ``bayes_optimal`` (n=10,
                                                                             exact), else ``gittins``
``rl2-mdps-v0``     the paper's Table 2: n ∈ {10, 25, 50, 75, 100} episodes    the best classic MDP
                                                                             baseline of the cell
``rl2-mazes-v0``    ``MetaMaze-v0`` (5×5) and ``MetaMazeLarge-v0`` (9×9), 2    ``oracle`` (knows the
                    episodes per trial                                       map)
=================  ========================================================  ======================

Every suite uses 1000 held-out tasks per cell from seed 0, the paper's table protocol.

    from agents.benchmark import get_suite, list_suites
    list_suites()                       # ["rl2-bandits-v0", "rl2-mazes-v0", "rl2-mdps-v0"]
    suite = get_suite("rl2-bandits-v0")
    [(cell.name, cell.env_id, cell.env_kwargs) for cell in suite.cells]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

#: a cell's reference that means "the best classic baseline of the cell" (by its score there)
BEST_BASELINE = "best_baseline"


@dataclasses.dataclass(frozen=True)
class SuiteCell:
    """One setting of a suite.

    :param name: the cell's name within the suite, e.g. ``"k=5,n=10"``.
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: its kwargs.
    :param reference: the baseline whose score is 1 in normalised units (a result name of
        :mod:`agents.baselines.registry`, or :data:`BEST_BASELINE`).
    """

    name: str
    env_id: str
    env_kwargs: Mapping[str, Any]
    reference: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "env_id": self.env_id, "env_kwargs": dict(self.env_kwargs), "reference": self.reference}


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named, versioned set of cells scored on fixed held-out tasks.

    :param name: the suite's name without the version, e.g. ``"rl2-bandits"``.
    :param version: bumped whenever anything below changes.
    :param description: one line for listings.
    :param cells: its settings.
    :param num_tasks: held-out tasks per cell.
    :param seed: the held-out task seed.
    """

    name: str
    version: int
    description: str
    cells: tuple[SuiteCell, ...]
    num_tasks: int = 1000
    seed: int = 0

    @property
    def id(self) -> str:
        """``name-vVERSION``, the name used everywhere (CLI, results files)."""
        return f"{self.name}-v{self.version}"

    def cell(self, name: str) -> SuiteCell:
        """The cell called ``name``; a clear error listing the cells otherwise."""
        for cell in self.cells:
            if cell.name == name:
                return cell
        raise ValueError(f"suite {self.id} has no cell {name!r}; its cells are {[c.name for c in self.cells]}")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "num_tasks": self.num_tasks, "seed": self.seed,
                "cells": [cell.to_dict() for cell in self.cells]}


def _bandit_cells() -> tuple[SuiteCell, ...]:
    return tuple(
        SuiteCell(f"k={k},n={n}", "MetaBandit-v0", {"num_arms": k, "num_episodes": n},
                  "bayes_optimal" if n == 10 else "gittins")
        for n in (10, 100, 500) for k in (5, 10, 50)  # the paper's row order
    )


#: suite ID -> suite
SUITES: dict[str, Suite] = {
    suite.id: suite
    for suite in (
        Suite("rl2-bandits", 0, "the RL² paper's 9 Bernoulli-bandit settings (Table 1)", _bandit_cells()),
        Suite(
            "rl2-mdps", 0, "the RL² paper's 5 tabular-MDP settings (Table 2)",
            tuple(SuiteCell(f"n={n}", "MetaTabularMDP-v0", {"num_episodes": n}, BEST_BASELINE)
                  for n in (10, 25, 50, 75, 100)),
        ),
        Suite(
            "rl2-mazes", 0, "random 5x5 and 9x9 mazes, 2 episodes per trial (the paper's navigation task)",
            (SuiteCell("small", "MetaMaze-v0", {}, "oracle"), SuiteCell("large", "MetaMazeLarge-v0", {}, "oracle")),
        ),
    )
}


def list_suites() -> list[str]:
    """The IDs of every suite, sorted."""
    return sorted(SUITES)


def get_suite(suite_id: str) -> Suite:
    """The suite with this ID (e.g. ``"rl2-bandits-v0"``).

    :raises ValueError: for an unknown ID (the message lists the suites).
    """
    if suite_id not in SUITES:
        raise ValueError(f"unknown suite {suite_id!r}; the suites are {list_suites()}")
    return SUITES[suite_id]
