"""Run agents on every setting of one of the paper's tables and compare with the paper.

Used by ``scripts/baselines.py`` (one setting) and ``scripts/reproduce.py`` (a whole
table). Agents come from an *agent source*: a function ``(env_id, env_kwargs) ->
(agents, unavailable)`` (result name -> agent, and result name -> why it does not apply).
``--agents`` names a source in :data:`AGENT_SOURCES`: ``"baselines"`` (the classic
baselines of :mod:`agents.baselines.registry`), ``"rl2"`` (the shipped RL² reference
agents of :mod:`agents.pretrained`, under the paper's result name ``rl2``) or ``"all"``.

A grid's JSON (``run_table``) is ``{"table", "paper_source", "num_tasks", "seed",
"seconds", "unavailable": {cell: {name: reason}}, "ceilings": {cell: exact optimal
expected return}, "cells": [results document, ...]}``, each cell a results document of
:mod:`agents.evaluation`; ``ceilings`` has the cells where the optimum is known exactly.

The maze "table" (:func:`run_maze_table`) holds the paper's Table 3 statistics instead of
trial returns (:mod:`agents.evaluation.maze_metrics`) for ``MetaMaze-v0`` and ``MetaMazeLarge-v0``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from agents.baselines.registry import exact_ceiling, make_baselines
from agents.evaluation import Agent, EvaluationResult, evaluate, results_document
from agents.evaluation.paper_tables import MAZE_SETTINGS, PaperTable, load_maze_table

AgentSource = Callable[[str, Mapping[str, Any]], tuple[dict[str, Agent], dict[str, str]]]

#: a cell is flagged when ours and the paper's differ by more than this fraction
TOLERANCE = 0.03

#: the RL² reference agents' target: within this fraction of the paper's RL² column
RL2_TOLERANCE = 0.02


def rl2_agents(env_id: str, env_kwargs: Mapping[str, Any]) -> tuple[dict[str, Agent], dict[str, str]]:
    """The shipped RL² reference agent of a setting as ``{"rl2": agent}``, or why there is none."""
    from agents.pretrained import find_recipe, load_pretrained

    try:
        recipe = find_recipe(env_id, **env_kwargs)
    except ValueError:
        return {}, {"rl2": "no RL² reference recipe for this setting"}
    if not recipe.trained:
        return {}, {"rl2": f"not trained yet; `python scripts/reproduce.py --train` runs: {recipe.command}"}
    return {"rl2": load_pretrained(env_id, **env_kwargs)}, {}


def all_agents(env_id: str, env_kwargs: Mapping[str, Any]) -> tuple[dict[str, Agent], dict[str, str]]:
    """The classic baselines and the RL² reference agent together."""
    agents, unavailable = make_baselines(env_id, env_kwargs)
    rl2, missing = rl2_agents(env_id, env_kwargs)
    return {**agents, **rl2}, {**unavailable, **missing}


#: ``--agents`` value -> agent source
AGENT_SOURCES: dict[str, AgentSource] = {"baselines": make_baselines, "rl2": rl2_agents, "all": all_agents}


def agent_source(spec: str) -> AgentSource:
    """The agent source named by ``--agents``.

    :param spec: a key of :data:`AGENT_SOURCES`.
    """
    if spec in AGENT_SOURCES:
        return AGENT_SOURCES[spec]
    if Path(spec).exists():
        raise ValueError(
            f"--agents {spec!r} is a path: score a run folder with `python scripts/evaluate.py {spec}`; "
            f"--agents takes one of {sorted(AGENT_SOURCES)}"
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
    settings = {cell: (table.env_id, table.env_kwargs(cell)) for cell in table.cells}
    return run_settings(table.name, table.source, settings, source, num_tasks, seed, progress)


def run_settings(
    name: str,
    paper_source: str,
    settings: Mapping[str, tuple[str, dict[str, Any]]],
    source: AgentSource,
    num_tasks: int,
    seed: int,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate the source's agents on named settings; the grid document of :func:`run_table`.

    :param name: the table's name.
    :param paper_source: where the paper's numbers come from.
    :param settings: cell name -> ``(env_id, env_kwargs)``.
    """
    start = time.perf_counter()
    built = {}
    first = next(iter(settings))
    built[first] = source(*settings[first])  # fail early, before any run
    per_cell = sum(len(part) for part in built[first])
    bar = tqdm(total=len(settings) * per_cell, unit="run", disable=not progress)
    cells, unavailable, ceilings = [], {}, {}
    for cell, (env_id, env_kwargs) in settings.items():
        bar.set_description(cell)
        agents, skipped = built.pop(cell) if cell in built else source(env_id, env_kwargs)
        if skipped:
            unavailable[cell] = skipped
            bar.update(len(skipped))
        results = evaluate_agents(agents, env_id, env_kwargs, num_tasks, seed, bar)
        cells.append(results_document(env_id, env_kwargs, num_tasks, seed, results))
        ceiling = exact_ceiling(env_id, env_kwargs)
        if ceiling is not None:
            ceilings[cell] = ceiling
    bar.close()
    return {
        "table": name,
        "paper_source": paper_source,
        "num_tasks": num_tasks,
        "seed": seed,
        "seconds": time.perf_counter() - start,
        "unavailable": unavailable,
        "ceilings": ceilings,
        "cells": cells,
    }


def run_maze_table(source: AgentSource, num_tasks: int, seed: int, progress: bool = True) -> dict[str, Any]:
    """Evaluate the source's agents on the small and large maze (:data:`agents.evaluation.paper_tables.MAZE_SETTINGS`);
    the grid document of :func:`run_table`, each result with the paper's maze statistics."""
    table = load_maze_table()
    return run_settings("maze", table["source"], MAZE_SETTINGS, source, num_tasks, seed, progress)


def format_maze_table(grid: Mapping[str, Any]) -> str:
    """The maze statistics of every agent beside the paper's (Table 3, ViZDoom steps)."""
    paper = load_maze_table()
    lines = [
        f"mazes: the paper's Table 3 statistics (ours: {grid['num_tasks']} mazes per setting, seed {grid['seed']})",
        f"paper: {paper['source']}",
    ]
    header = (f"{'agent':<12} {'trial return':>16} {'success ep1/ep2':>16} {'successful length ep1/ep2':>26} "
              f"{'ep2 no longer':>14}")
    for (cell, (env_id, _)), document in zip(MAZE_SETTINGS.items(), grid["cells"]):
        lines += ["", f"{cell}: {env_id} {document['env_kwargs']}", header]
        for name, result in sorted(document["results"].items(), key=lambda kv: -kv[1]["mean"]):
            metrics = result["metrics"]
            success = "/".join(f"{rate:.3f}" for rate in metrics["success_rate"][:2])
            length = "/".join("-" if x is None else f"{x:.1f}" for x in metrics["successful_length"][:2])
            lines.append(
                f"{name:<12} {result['mean']:>9.3f} ± {result['ci95']:<4.2f} {success:>16} {length:>26} "
                f"{metrics.get('episode2_no_longer', float('nan')):>14.3f}"
            )
        ours = paper[env_id]
        length = "/".join(f"{x:g}" for x in ours["successful_length"])
        lines.append(
            f"{'paper rl2':<12} {'-':>16} {'~' + format(ours['success_rate'], 'g'):>16} {length:>26} "
            f"{ours['episode2_no_longer']:>14g}"
        )
    lines.append("")
    lines.append("paper lengths are ViZDoom steps with another action model: compare shapes, not numbers")
    lines.extend(_not_run(grid))
    lines.append(f"{grid['seconds']:.1f} s for both settings")
    return "\n".join(lines)


def _not_run(grid: Mapping[str, Any]) -> list[str]:
    """The lines listing the agents a grid could not run, and why."""
    if not grid.get("unavailable"):
        return []
    return ["not run:"] + [
        f"  {cell:<11} {name}: {reason}" for cell, skipped in grid["unavailable"].items() for name, reason in skipped.items()
    ]


def _ceiling_line(cell: str, ceiling: float, results: Mapping[str, Mapping[str, Any]]) -> str:
    """A cell's exact optimum and the agents scoring above it, each with whether its 95% CI
    reaches down to the optimum (sampling noise) or not (worth a look)."""
    above = [
        f"{name} {result['mean']:.3f} ± {result['ci95']:.3f} "
        f"({'optimum inside its 95% CI' if result['mean'] - result['ci95'] <= ceiling else 'optimum BELOW its 95% CI'})"
        for name, result in results.items()
        if result["mean"] > ceiling
    ]
    return f"  {cell:<11} {ceiling:.3f}" + (f"; above it on these tasks: {', '.join(above)}" if above else "")


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
    rl2 = [(cell, results["rl2"], table.cells[cell].get("rl2")) for cell, results in ours.items() if "rl2" in results]
    if rl2:
        lines.append(f"RL² reference agents against the paper's RL² (target: within {RL2_TOLERANCE:.0%}):")
        for cell, result, paper in rl2:
            if paper is None:
                continue
            met = "met" if abs(result["mean"] - paper) <= RL2_TOLERANCE * abs(paper) else "NOT met"
            lines.append(
                f"  {cell:<11} ours {result['mean']:8.2f} ± {result['ci95']:.2f}  paper {paper:g}  "
                f"({100 * (result['mean'] - paper) / paper:+.1f}%, {met})"
            )
    if grid.get("ceilings"):
        lines.append(
            "exact optimum (the Bayes-optimal trial return by dynamic programming, an expectation over the "
            f"task prior: a mean over {grid['num_tasks']} sampled tasks scatters around it and can exceed it):"
        )
        lines.extend(_ceiling_line(cell, ceiling, ours.get(cell, {})) for cell, ceiling in grid["ceilings"].items())
    lines.extend(_not_run(grid))
    lines.append(f"{grid['seconds']:.1f} s for the whole grid")
    return "\n".join(lines)
