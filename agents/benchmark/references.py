"""Reference results of every suite cell and the normalised score built on them.

The references are what the project's own agents score on each cell's held-out tasks:
every classic baseline of the family (:mod:`agents.baselines.registry`) and the shipped
RL² reference agent (``rl2``, :mod:`agents.pretrained`) where there is one. They are
computed by ``python scripts/build_suite_references.py`` (every suite: a few minutes on 2
CPU cores) and kept in ``agents/data/suite_references.json``::

    {"suites": {suite_id: {"command": str, "created": str, "num_tasks": int, "seed": int,
                           "cells": {cell: {"env_id", "env_kwargs", "rl2_checkpoint": sha256 or None,
                                            "results": {name: {"mean", "ci95", "per_episode"[, "per_episode_ci95"]
                                                               [, "metrics"]}}}}}}}

(the protocol's results layout, :mod:`agents.evaluation.protocol`; the stored file predates
``per_episode_ci95``, so the benchmark draws the references' per-episode curves without
bands, and keeps no per-task returns, so their intervals over tasks are normal
approximations from ``ci95``: :func:`agents.benchmark.scoring.reference_errors`).

Normalised score of a cell: ``(score - random) / (reference - random)``: 0 is the random
policy, 1 the cell's reference (:attr:`agents.benchmark.suites.SuiteCell.reference`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.benchmark.suites import BEST_BASELINE, Suite, SuiteCell

#: where the references are kept
REFERENCES_PATH = Path(__file__).resolve().parent.parent / "data" / "suite_references.json"

#: result names that are never "the best baseline" of a cell: the floor, the learners,
#: and agents that are handed the task
NOT_BASELINES = ("random", "rl2", "oracle")


@dataclasses.dataclass(frozen=True)
class Normalizer:
    """How a cell's scores are normalised.

    :param random: the random policy's mean trial return (normalised 0).
    :param reference: the result name normalised to 1.
    :param reference_score: its mean trial return.
    """

    random: float
    reference: str
    reference_score: float

    def __call__(self, score: Any) -> Any:
        """``(score - random) / (reference - random)``, of a mean trial return or, elementwise,
        of an array of them (a run's per-task returns)."""
        return (score - self.random) / (self.reference_score - self.random)


def build_references(
    suite: Suite, progress: bool = True, rl2_only: bool = False, path: Path = REFERENCES_PATH
) -> dict[str, Any]:
    """Evaluate every baseline and the shipped RL² agent on every cell of ``suite``.

    :param rl2_only: evaluate only the shipped RL² agents and keep the baselines' results
        from the references file ``path`` (after retraining an agent: the baselines have not changed).
    :return: the suite's entry of the references file (module docstring).
    :raises ValueError: with ``rl2_only``, if the file has no matching references of the suite.
    """
    from tqdm.auto import tqdm

    from agents.evaluation.reproduction import all_agents, evaluate_agents, rl2_agents

    previous = load_references(suite, path, rl2_current=False) if rl2_only else {}
    cells = {}
    with tqdm(total=len(suite.cells), unit="cell", disable=not progress) as bar:
        for cell in suite.cells:
            bar.set_description(f"{suite.id} {cell.name}")
            agents = (rl2_agents if rl2_only else all_agents)(cell.env_id, cell.env_kwargs)[0]
            results = evaluate_agents(agents, cell.env_id, cell.env_kwargs, suite.num_tasks, suite.seed)
            kept = {name: r for name, r in previous.get(cell.name, {}).get("results", {}).items() if name != "rl2"}
            cells[cell.name] = {"env_id": cell.env_id, "env_kwargs": dict(cell.env_kwargs),
                                "rl2_checkpoint": rl2_fingerprint(cell),
                                "results": {**kept, **{name: result.summary() for name, result in results.items()}}}
            bar.update(1)
    return {"num_tasks": suite.num_tasks, "seed": suite.seed, "cells": cells}


def write_references(suites: Mapping[str, dict[str, Any]], command: str, path: Path = REFERENCES_PATH) -> None:
    """Store suites' references with the command that computed them (other suites in the file stay)."""
    document = json.loads(path.read_text()) if path.is_file() else {"suites": {}}
    for suite_id, entry in suites.items():
        document["suites"][suite_id] = {"command": command, "created": time.strftime("%Y-%m-%d"), **entry}
    path.write_text(json.dumps(document, indent=1) + "\n")


def load_references(suite: Suite, path: Path = REFERENCES_PATH, rl2_current: bool = True) -> dict[str, dict[str, Any]]:
    """Cell name -> ``{"env_id", "env_kwargs", "results"}`` of a suite.

    :param rl2_current: require every cell's ``rl2`` result to be of the shipped RL² agent
        (``False``: return them even if one changed since, e.g. while it trains on).
    :raises ValueError: if the file has no references for this suite, or stale ones (other
        cells or tasks, or, with ``rl2_current``, a shipped RL² agent that changed since).
    """
    rebuild = f"run `python scripts/build_suite_references.py --suite {suite.id}`"
    document = json.loads(path.read_text()) if path.is_file() else {"suites": {}}
    entry = document["suites"].get(suite.id)
    if entry is None:
        raise ValueError(f"{path} has no references for suite {suite.id}; {rebuild}")
    missing = [c.name for c in suite.cells if c.name not in entry["cells"]]
    if missing or (entry["num_tasks"], entry["seed"]) != (suite.num_tasks, suite.seed):
        raise ValueError(f"the references of suite {suite.id} in {path} do not match the suite ({missing=}); {rebuild}")
    changed = [c.name for c in suite.cells if entry["cells"][c.name].get("rl2_checkpoint") != rl2_fingerprint(c)]
    if changed and rl2_current:
        raise ValueError(f"the shipped RL² agent of {suite.id} cell(s) {changed} changed since the references were "
                         f"computed; {rebuild}")
    return entry["cells"]


def rl2_fingerprint(cell: SuiteCell) -> str | None:
    """The SHA-256 of the shipped RL² agent of a cell's setting, ``None`` if there is none."""
    from agents.pretrained import find_recipe

    try:
        return find_recipe(cell.env_id, **cell.env_kwargs).fingerprint()
    except ValueError:
        return None


def cell_normalizer(cell: SuiteCell, results: Mapping[str, Mapping[str, Any]]) -> Normalizer:
    """The normaliser of a cell from its reference results (``results``: name -> summary)."""
    if cell.reference == BEST_BASELINE:
        baselines = {name: r["mean"] for name, r in results.items() if name not in NOT_BASELINES}
        reference = max(baselines, key=baselines.__getitem__)
    else:
        reference = cell.reference
    if "random" not in results or reference not in results:
        raise ValueError(f"cell {cell.name} has no stored result for 'random' or {reference!r}")
    return Normalizer(results["random"]["mean"], reference, results[reference]["mean"])


def reference_levels(env_id: str, env_kwargs: Mapping[str, Any]) -> dict[str, float]:
    """Mean trial returns to draw beside a learning curve of ``env_id`` with ``env_kwargs``.

    From the first suite cell with the same full setting: ``random``, ``greedy`` (where the
    family has it), the cell's reference (Bayes-optimal, Gittins, or the best classic
    baseline by its score there, e.g. ``beb``; left out while the stored results lack it)
    and the shipped ``rl2`` agent (left out while it differs from the one the references
    scored). From the paper: ``paper rl2``, its RL² score where Tables 1–2 have the setting.
    Empty if neither has it.

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: its kwargs (defaults are filled in before comparing).
    """
    from agents.benchmark.suites import SUITES
    from meta_envs.settings import env_setting

    from agents.evaluation.paper_tables import TABLE_LAYOUTS, load_paper_table

    setting = env_setting(env_id, env_kwargs)
    levels: dict[str, float] = {}
    for suite in SUITES.values():
        for cell in suite.cells:
            if not levels and cell.env_id == env_id and env_setting(cell.env_id, cell.env_kwargs) == setting:
                entry = load_references(suite, rl2_current=False)[cell.name]
                current = entry.get("rl2_checkpoint") == rl2_fingerprint(cell)
                try:
                    reference = (cell_normalizer(cell, entry["results"]).reference,)
                except ValueError:  # the cell's references are not computed yet
                    reference = ()
                names = ("random", "greedy", *reference, *(("rl2",) if current else ()))
                levels = {name: entry["results"][name]["mean"] for name in names if name in entry["results"]}
    for table_name, layout in TABLE_LAYOUTS.items():
        if layout.env_id != env_id:
            continue
        table = load_paper_table(table_name)
        name = table.cell_name(setting)
        # the cell name keeps only the table's kwargs: the rest must be at the paper's defaults
        if name in table.cells and env_setting(env_id, table.env_kwargs(name)) == setting and "rl2" in table.cells[name]:
            levels["paper rl2"] = float(table.cells[name]["rl2"])
    return levels
