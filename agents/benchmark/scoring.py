"""Score any agent factory on a suite: the benchmark report and its JSON schema.

An *agent factory* is any importable callable ``make_agent(env_id, env_kwargs, seed) ->
agent`` (:class:`agents.evaluation.Agent`): it is called once per cell and seed, may
train the agent there (with ``seed``) or build it from a checkpoint, and returns an
object the shared evaluation protocol runs on the cell's held-out tasks. Its name on the
command line is ``"module.path:attribute"`` or ``"path/to/file.py:attribute"`` (:func:`load_factory`).

Report (JSON, ``schema`` = :data:`SCHEMA`)::

    {"schema": "meta_envs.benchmark/1",
     "agent": str,                       # the factory's "module:attribute" (or a label)
     "suite": {"id", "description", "num_tasks", "seed", "cells": [{"name", "env_id", "env_kwargs", "reference"}]},
     "seeds": [int, ...],
     "created": "YYYY-mm-ddTHH:MM:SS",
     "versions": {"meta_envs": str, "python": str},
     "cells": {cell: {
         "normalizer": {"random": float, "reference": str, "reference_score": float},
         "runs": [{"seed": int, "mean": float, "ci95": float, "per_episode": [float, ...],
                   "per_episode_ci95": [float, ...], "task_returns": [float, ...],
                   "metrics": {...}, "normalized": float, "seconds": float,
                   "behaviour": {...}}, ...],
         "references": {name: {"mean", "ci95", "per_episode"[, "metrics"], "normalized"}}}},
     "aggregates": {method: {"runs", "cells", "interval",        # agents.benchmark.aggregate
                             metric: {"point", "low", "high"}}}}

``runs`` are the agent's (one per seed): the protocol's summary
(:meth:`agents.evaluation.EvaluationResult.summary`) and the total reward of each held-out
task's trial in task order (``task_returns``, for the bootstrap over tasks); the first
seed's run of a bandit or tabular-MDP cell also holds the behavioural probe's statistics
(``behaviour``, :mod:`agents.evaluation.probe`), computed on the same trials;
``references`` the project's own agents on the same tasks (:mod:`agents.benchmark.references`).
Normalised scores: 0 is the random policy, 1 the cell's reference. :func:`load_report`
reads a report back and says exactly what is wrong with a malformed one; reports written before ``per_episode_ci95`` and
``task_returns`` existed load too (their figures draw no per-episode band).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import meta_envs
from agents.benchmark.aggregate import METRICS, aggregate_scores
from agents.benchmark.references import Normalizer, cell_normalizer, load_references
from agents.benchmark.suites import Suite, get_suite
from agents.evaluation import Agent, check_agent, evaluate
from agents.evaluation.probe import PROBE_ENV_IDS, probe

#: the report format's name and version; bumped when the layout changes
SCHEMA = "meta_envs.benchmark/1"

AgentFactory = Callable[[str, dict[str, Any], int], Agent]


#: the forms ``--agent`` accepts, for error messages
FACTORY_FORMS = "'module.path:factory' (e.g. examples.bayes_ucb_agent:make_agent) or 'path/to/file.py:factory'"


def load_factory(path: str) -> AgentFactory:
    """Import ``"module.path:attribute"`` or load ``"path/to/file.py:attribute"``; the callable.

    :raises ValueError: for a malformed path, a module that does not import or a missing attribute.
    :raises TypeError: if the attribute is not callable.
    """
    # rpartition: a file path may hold a colon itself (a Windows drive)
    module_name, sep, attribute = path.rpartition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"--agent must look like {FACTORY_FORMS}, got {path!r}")
    try:
        module = _load_module(module_name)
    except Exception as error:  # any import-time failure is the user's module's, say which
        raise ValueError(
            f"could not import {module_name!r} for --agent {path!r} ({type(error).__name__}: {error}); "
            f"--agent takes {FACTORY_FORMS}"
        ) from error
    try:
        factory = getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attribute!r} (--agent {path!r})") from None
    if not callable(factory):
        raise TypeError(f"--agent {path!r} is a {type(factory).__name__}, not a callable make_agent(env_id, env_kwargs, seed)")
    return factory


def _load_module(name: str) -> ModuleType:
    """The module ``name`` names: a ``.py`` file or a dotted module path."""
    if not name.endswith(".py"):
        return importlib.import_module(name)
    file = Path(name)
    if not file.is_file():
        raise FileNotFoundError(f"no file {file}")
    # a name of its own: the stem alone could replace an imported module (a file json.py)
    module_name = f"agent_file_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)
    # registered before it runs, as an import would, so that its dataclasses resolve
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def score_suite(
    factory: AgentFactory,
    suite: Suite | str,
    seeds: Sequence[int] = (0,),
    cells: Sequence[str] | None = None,
    agent_name: str = "agent",
    progress: bool = True,
) -> dict[str, Any]:
    """Score ``factory``'s agents on every cell of ``suite`` for every seed; the report.

    :param factory: ``make_agent(env_id, env_kwargs, seed) -> agent``.
    :param suite: a :class:`Suite` or its ID.
    :param seeds: the agent's seeds (one run per seed and cell).
    :param cells: a subset of the suite's cell names (default: all).
    :param agent_name: the agent's label in the report.
    :param progress: a progress bar over cells x seeds.
    """
    from tqdm.auto import tqdm

    suite = get_suite(suite) if isinstance(suite, str) else suite
    chosen = suite.cells if cells is None else tuple(suite.cell(name) for name in cells)
    seeds = list(seeds)
    if not chosen or len({c.name for c in chosen}) != len(chosen):
        raise ValueError(f"cells must name distinct cells of {suite.id}, got {list(cells or [])}")
    if not seeds or len(set(seeds)) != len(seeds) or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be distinct integers >= 0, got {seeds}")
    references = load_references(suite)
    taken = sorted({name for cell in chosen for name in references[cell.name]["results"]} & {agent_name})
    if taken:
        raise ValueError(f"the agent's name {agent_name!r} is a reference's; pick another (--name)")
    # every normaliser before any run: a broken reference fails before minutes of evaluation
    normalizers = {cell.name: cell_normalizer(cell, references[cell.name]["results"]) for cell in chosen}
    report_cells = {}
    with tqdm(total=len(chosen) * len(seeds), unit="run", disable=not progress) as bar:
        for cell in chosen:
            results = references[cell.name]["results"]
            normalizer = normalizers[cell.name]
            runs = []
            for seed in seeds:
                bar.set_description(f"{cell.name} seed {seed}")
                start = time.perf_counter()
                agent = check_agent(factory(cell.env_id, dict(cell.env_kwargs), seed),
                                    f"what the factory returned for {cell.env_id} {dict(cell.env_kwargs)}")
                behaviour = None
                if seed == seeds[0] and cell.env_id in PROBE_ENV_IDS:  # the same trials, recorded
                    probed = probe(agent, cell.env_id, cell.env_kwargs, suite.num_tasks, suite.seed, agent_seed=seed)
                    result, behaviour = probed.evaluation, dict(probed.statistics)
                else:
                    result = evaluate(agent, cell.env_id, cell.env_kwargs, suite.num_tasks, suite.seed, agent_seed=seed)
                runs.append({"seed": seed, **result.summary(), "task_returns": result.trial_returns.tolist(),
                             "normalized": normalizer(result.mean),
                             "seconds": time.perf_counter() - start,
                             **({} if behaviour is None else {"behaviour": behaviour})})
                bar.update(1)
            report_cells[cell.name] = {
                "normalizer": {"random": normalizer.random, "reference": normalizer.reference,
                               "reference_score": normalizer.reference_score},
                "runs": runs,
                "references": {name: {**r, "normalized": normalizer(r["mean"])} for name, r in results.items()},
            }
    report = {
        "schema": SCHEMA,
        "agent": agent_name,
        "suite": {**suite.to_dict(), "cells": [cell.to_dict() for cell in chosen]},
        "seeds": list(seeds),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": {"meta_envs": meta_envs.__version__, "python": platform.python_version()},
        "cells": report_cells,
    }
    report["aggregates"] = aggregate_scores(score_matrices(report), task_scores(report), reference_errors(report))
    return report


def runs_identical(report: dict[str, Any]) -> bool:
    """Whether every seed's run equals the first in every cell (mean, per-episode and
    per-task returns): a deterministic agent, whose seeds carry no spread to estimate."""
    return all(run[key] == cell["runs"][0][key] for cell in report["cells"].values() for run in cell["runs"]
               for key in ("mean", "per_episode", "task_returns") if key in run)


#: references shown on the cells that have them even where other cells lack one (RL² is
#: shipped for some cells only); every other reference must be in every cell to be shown
PARTIAL_REFERENCES = ("rl2",)


def reference_cells(report: dict[str, Any]) -> dict[str, list[str]]:
    """The references compared with the agent and the cells each is scored on: those in
    every cell (but ``random``, 0 by definition), and :data:`PARTIAL_REFERENCES` on the
    cells that have them."""
    cells = report["cells"]
    shared = set.intersection(*(set(cell["references"]) for cell in cells.values())) - {"random"}
    partial = {name for cell in cells.values() for name in cell["references"] if name in PARTIAL_REFERENCES}
    return {name: [c for c, cell in cells.items() if name in cell["references"]] for name in sorted(shared | partial)}


def score_matrices(report: dict[str, Any]) -> dict[str, Any]:
    """Normalised scores per method as ``(runs, cells)`` arrays, in the report's cell order:
    the agent's (one row per seed, or a single row when :func:`runs_identical`) and each
    reference of :func:`reference_cells` (one row, on its cells only)."""
    import numpy as np

    cells = list(report["cells"].values())
    agent = np.array([[run["normalized"] for run in cell["runs"]] for cell in cells]).T
    matrices = {report["agent"]: agent[:1] if runs_identical(report) else agent}
    for name, names in reference_cells(report).items():
        matrices[name] = np.array([[report["cells"][c]["references"][name]["normalized"] for c in names]])
    return matrices


def task_scores(report: dict[str, Any]) -> dict[str, list[Any]]:
    """The agent's normalised score on each held-out task, per cell in the report's order:
    its first run's ``task_returns`` through the cell's normaliser (the bootstrap over tasks
    of :func:`agents.benchmark.aggregate.aggregate_scores`, used only when its runs are
    identical)."""
    import numpy as np

    return {report["agent"]: [Normalizer(**cell["normalizer"])(np.asarray(cell["runs"][0]["task_returns"]))
                              for cell in report["cells"].values()]}


def reference_errors(report: dict[str, Any]) -> dict[str, Any]:
    """Per reference of :func:`reference_cells`, the standard error of each of its cells'
    normalised score over the held-out tasks: the stored 95% half-width over tasks
    (``1.96 * std / sqrt(num_tasks)``) divided by 1.96 and by the cell's normaliser span.
    The stored references keep no per-task returns, so this is all there is to their
    interval over tasks (a normal approximation)."""
    import numpy as np

    def span(cell: dict[str, Any]) -> float:
        return cell["normalizer"]["reference_score"] - cell["normalizer"]["random"]

    cells = report["cells"]
    return {name: np.array([cells[c]["references"][name]["ci95"] / span(cells[c]) for c in names]) / 1.96
            for name, names in reference_cells(report).items()}


def write_report(report: dict[str, Any], path: str | Path) -> None:
    """Write a report as indented JSON."""
    Path(path).write_text(json.dumps(report, indent=1) + "\n")


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a report written by :func:`write_report`.

    :raises ValueError: if the file is not JSON, has another schema, or lacks a field
        (the message names the file and the field).
    """
    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except OSError as error:
        raise ValueError(f"cannot read the benchmark report {path}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a benchmark report: not valid JSON ({error})") from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        found = report.get("schema") if isinstance(report, dict) else type(report).__name__
        raise ValueError(f"{path} is not a benchmark report of schema {SCHEMA!r} (found {found!r})")
    for key, kind in (("agent", str), ("suite", dict), ("seeds", list), ("cells", dict), ("aggregates", dict)):
        if not isinstance(report.get(key), kind):
            raise ValueError(f"{path}: field {key!r} is missing or not a {kind.__name__}")
    if not report["cells"]:
        raise ValueError(f"{path}: the report has no cells")

    def need(where: str, entry: Any, keys: tuple[str, ...]) -> None:
        missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise ValueError(f"{path}: {where} lacks {missing}")

    runs_per_cell = set()
    for name, cell in report["cells"].items():
        need(f"cell {name!r}", cell, ("normalizer", "runs", "references"))
        need(f"the normalizer of cell {name!r}", cell["normalizer"], ("random", "reference", "reference_score"))
        if not isinstance(cell["runs"], list) or not cell["runs"]:
            raise ValueError(f"{path}: cell {name!r} has no runs")
        runs_per_cell.add(len(cell["runs"]))
        for run in cell["runs"]:
            need(f"a run of cell {name!r}", run, ("seed", "mean", "ci95", "per_episode", "normalized"))
            # newer fields, absent from older reports: checked where present
            if "per_episode_ci95" in run and len(run["per_episode_ci95"]) != len(run["per_episode"]):
                raise ValueError(f"{path}: a run of cell {name!r} has {len(run['per_episode_ci95'])} per_episode_ci95 "
                                 f"values for {len(run['per_episode'])} episodes")
        for reference, result in cell["references"].items():
            need(f"reference {reference!r} of cell {name!r}", result, ("mean", "per_episode", "normalized"))
    if len(runs_per_cell) != 1:
        raise ValueError(f"{path}: the cells have different numbers of runs {sorted(runs_per_cell)}")
    for method, metrics in report["aggregates"].items():
        for metric in METRICS:
            need(f"aggregate {metric!r} of {method!r}", metrics.get(metric) if isinstance(metrics, dict) else None,
                 ("point", "low", "high"))
    return report
