"""Run agents on every setting of one of the paper's tables and compare with the paper.

Used by ``scripts/baselines.py`` (one setting) and ``scripts/reproduce.py`` (a whole
table). Agents come from an *agent source*: a function ``(env_id, env_kwargs) ->
(agents, unavailable)`` (result name -> agent, and result name -> why it does not apply).
``--agents`` names a source in :data:`AGENT_SOURCES`; ``"baselines"`` is the classic
baselines of :mod:`agents.baselines.registry`. Trained RL² agents (run directories) will
be one more source: :func:`agent_source` is where a path will be turned into one.

A grid's JSON (``run_table``) is ``{"table", "paper_source", "num_tasks", "seed",
"seconds", "unavailable": {cell: {name: reason}}, "ceilings": {cell: exact optimal
expected return}, "cells": [results document, ...]}``, each cell a results document of
:mod:`agents.evaluation`; ``ceilings`` has the cells where the optimum is known exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from agents.baselines.registry import exact_ceiling, make_baselines
from agents.evaluation import Agent, EvaluationResult, evaluate, results_document
from agents.paper_tables import PaperTable

AgentSource = Callable[[str, Mapping[str, Any]], tuple[dict[str, Agent], dict[str, str]]]

#: ``--agents`` value -> agent source
AGENT_SOURCES: dict[str, AgentSource] = {"baselines": make_baselines}

#: a cell is flagged when ours and the paper's differ by more than this fraction
TOLERANCE = 0.03


def agent_source(spec: str) -> AgentSource:
    """The agent source named by ``--agents``.

    :param spec: a key of :data:`AGENT_SOURCES`.
    """
    if spec in AGENT_SOURCES:
        return AGENT_SOURCES[spec]
    if Path(spec).exists():
        raise ValueError(
            f"--agents {spec!r} is a path: evaluating RL² run directories is not supported yet; "
            f"use one of {sorted(AGENT_SOURCES)}"
        )
    raise ValueError(f"unknown --agents {spec!r}; use one of {sorted(AGENT_SOURCES)}")


def evaluate_agents(
    agents: Mapping[str, Agent],
    env_id: str,
    env_kwargs: Mapping[str, Any],
    num_tasks: int,
    seed: int,
    progress: tqdm | None = None,
) -> dict[str, EvaluationResult]:
    """Evaluate each agent on the same held-out task set (:func:`agents.evaluation.evaluate`).

    :param progress: a progress bar to advance by one per agent.
    """
    results = {}
    for name, agent in agents.items():
        if progress is not None:
            progress.set_postfix_str(name)
        results[name] = evaluate(agent, env_id, env_kwargs, num_tasks, seed)
        if progress is not None:
            progress.update(1)
    return results


def run_table(
    table: PaperTable, source: AgentSource, num_tasks: int, seed: int, progress: bool = True
) -> dict[str, Any]:
    """Evaluate the source's agents on every cell of a paper table.

    :param table: the paper's table (its cells are the settings).
    :param source: builds the agents of a setting.
    :param num_tasks: held-out tasks per cell.
    :param seed: held-out seed.
    :param progress: show a tqdm progress bar (one step per agent and cell).
    :return: the grid document (see the module docstring).
    """
    start = time.perf_counter()
    settings = {cell: table.env_kwargs(cell) for cell in table.cells}
    built = {}
    first = next(iter(settings))
    built[first] = source(table.env_id, settings[first])  # fail early, before any run
    per_cell = sum(len(part) for part in built[first])
    bar = tqdm(total=len(settings) * per_cell, unit="run", disable=not progress)
    cells, unavailable, ceilings = [], {}, {}
    for cell, env_kwargs in settings.items():
        bar.set_description(cell)
        agents, skipped = built.pop(cell) if cell in built else source(table.env_id, env_kwargs)
        if skipped:
            unavailable[cell] = skipped
            bar.update(len(skipped))
        results = evaluate_agents(agents, table.env_id, env_kwargs, num_tasks, seed, bar)
        cells.append(results_document(table.env_id, env_kwargs, num_tasks, seed, results))
        ceiling = exact_ceiling(table.env_id, env_kwargs)
        if ceiling is not None:
            ceilings[cell] = ceiling
    bar.close()
    return {
        "table": table.name,
        "paper_source": table.source,
        "num_tasks": num_tasks,
        "seed": seed,
        "seconds": time.perf_counter() - start,
        "unavailable": unavailable,
        "ceilings": ceilings,
        "cells": cells,
    }


def format_comparison(table: PaperTable, grid: Mapping[str, Any]) -> str:
    """Our number and the paper's side by side in every cell, then the cells that differ.

    A cell is listed below the table when ours and the paper's differ by more than
    :data:`TOLERANCE` of the paper's number.
    """
    ours = {table.cell_name(doc["env_kwargs"]): doc["results"] for doc in grid["cells"]}
    run_names = list(dict.fromkeys(name for results in ours.values() for name in results))
    paper_names = list(dict.fromkeys(name for cell in table.cells.values() for name in cell))
    names = [n for n in paper_names if n in run_names] + [n for n in run_names if n not in paper_names]
    width = max(14, *(len(n) + 1 for n in names))
    lines = [
        f"{table.env_id}: mean total reward per trial, ours / paper "
        f"(ours: {grid['num_tasks']} tasks per cell, seed {grid['seed']})",
        f"paper: {table.source}",
        f"{'setting':<12}" + "".join(f"{name:>{width}}" for name in names),
    ]
    flagged = []
    for cell, paper in table.cells.items():
        row = f"{cell:<12}"
        for name in names:
            result = ours.get(cell, {}).get(name)
            mine = "-" if result is None else f"{result['mean']:.2f}"
            theirs = "-" if name not in paper else f"{paper[name]:g}"
            row += f"{mine + '/' + theirs:>{width}}"
            if result is not None and name in paper:
                diff = result["mean"] - paper[name]
                if abs(diff) > TOLERANCE * abs(paper[name]):
                    inside = "inside" if abs(diff) <= result["ci95"] else "outside"
                    flagged.append(
                        f"  {cell:<11} {name:<15} ours {result['mean']:8.2f} ± {result['ci95']:.2f}  "
                        f"paper {paper[name]:g}  ({100 * diff / paper[name]:+.1f}%; paper {inside} our 95% CI)"
                    )
        lines.append(row)
    lines.append("")
    if flagged:
        lines.append(f"cells more than {TOLERANCE:.0%} from the paper:")
        lines.extend(flagged)
    else:
        lines.append(f"every cell within {TOLERANCE:.0%} of the paper")
    if grid.get("ceilings"):
        lines.append("exact optimum (the Bayes-optimal expected trial return, by dynamic programming):")
        lines.extend(f"  {cell:<11} {ceiling:.3f}" for cell, ceiling in grid["ceilings"].items())
    if grid.get("unavailable"):
        lines.append("not run:")
        for cell, skipped in grid["unavailable"].items():
            lines.extend(f"  {cell:<11} {name}: {reason}" for name, reason in skipped.items())
    lines.append(f"{grid['seconds']:.1f} s for the whole grid")
    return "\n".join(lines)
