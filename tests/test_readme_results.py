"""The README's table of shipped RL² agents is the stored results, row by row.

Its scores come from ``scripts/build_suite_references.py`` (1000 held-out tasks, seed 0, the
protocol of ``scripts/reproduce.py --agents rl2``), stored in ``agents/data/suite_references.json``
with the fingerprint of the checkpoint that scored them; its paper column from the paper's
tables, its probe column from the run folder's evaluation file, and its budget columns
(iterations × steps, env steps, wall time and sessions) from the run folder's
``progress.csv`` and ``sessions.json``. A row that drifts from those files, or a shipped
setting without a row, fails here.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path
from typing import Any

import pytest

import agents.pretrained as pretrained
from agents.benchmark.references import load_references
from agents.benchmark.suites import SUITES
from agents.evaluation.paper_tables import PACKAGED_TABLES, TABLE_LAYOUTS, load_paper_table
from agents.evaluation.probe import PROBE_COLUMNS, PROBE_ENV_IDS
from meta_envs.settings import env_setting

README = Path(__file__).resolve().parents[1] / "README.md"
HEADER = "| run folder | setting | ours ± ci95 | paper RL² | within 2% | probe |"
#: env ID -> the paper table that has its RL² numbers
PAPER_TABLES = {layout.env_id: name for name, layout in TABLE_LAYOUTS.items()}


def _label(env_id: str, env_kwargs: dict[str, Any]) -> str:
    """How the table names a setting: ``k=5, n=100``, ``n=10``, or the env ID."""
    setting = env_setting(env_id, env_kwargs)
    if env_id == "MetaBandit-v0":
        return f"k={setting['num_arms']}, n={setting['num_episodes']}"
    if env_id == "MetaTabularMDP-v0":
        return f"n={setting['num_episodes']}"
    return env_id


def _number(text: str) -> tuple[float, int]:
    """A printed number and its decimals (the README writes minus signs as U+2212)."""
    text = text.strip().replace("−", "-").replace(",", "")
    return float(text), len(text.split(".")[1]) if "." in text else 0


def _rows() -> list[list[str]]:
    lines = README.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(HEADER)]
    assert len(starts) == 1, f"README.md should have one table whose header starts {HEADER!r}"
    start = starts[0]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@functools.cache
def _served() -> dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, Any]]]:
    """(run folder, setting label) -> (env ID, kwargs, stored rl2 result) for every suite cell
    whose RL² reference is shipped."""
    served = {}
    for suite in SUITES.values():
        references = load_references(suite)
        for cell in suite.cells:
            try:
                recipe = pretrained.find_recipe(cell.env_id, **cell.env_kwargs)
            except ValueError:
                continue
            if recipe.trained:
                result = references[cell.name]["results"]["rl2"]
                served[(recipe.name, _label(cell.env_id, cell.env_kwargs))] = (cell.env_id, dict(cell.env_kwargs), result)
    return served


def test_every_shipped_setting_has_one_row_and_every_row_is_shipped():
    rows = [(row[0].strip("`"), row[1]) for row in _rows()]
    assert len(rows) == len(set(rows))
    assert sorted(rows) == sorted(_served())


@pytest.mark.parametrize("row", _rows(), ids=lambda row: f"{row[0].strip('`')}@{row[1]}")
def test_a_row_is_its_stored_result(row):
    name, label, ours, paper, within, behaviour, iterations, env_steps, wall_time = row
    assert (name.strip("`"), label) in _served(), f"row {name} {label}: no shipped agent serves that setting"
    env_id, env_kwargs, result = _served()[(name.strip("`"), label)]
    recipe = next(r for r in pretrained.RECIPES if r.name == name.strip("`"))
    assert recipe.eval_path(env_id, env_kwargs).is_file(), recipe.evaluate_command(env_id, env_kwargs)
    statistics = json.loads(recipe.eval_path(env_id, env_kwargs).read_text()).get("behaviour", {}).get(recipe.algo)
    if statistics is None:
        assert behaviour == "–"
    else:
        key, shown = ("late_best", "late best") if env_id == "MetaBandit-v0" else ("model_optimal", "model-optimal")
        assert behaviour == f"{shown} {statistics[key]:.3f}"
    mean, ci95 = (_number(part) for part in ours.split("±"))
    assert abs(mean[0] - result["mean"]) <= 0.5 * 10 ** -mean[1], (ours, result["mean"])
    assert abs(ci95[0] - result["ci95"]) <= 0.5 * 10 ** -ci95[1], (ours, result["ci95"])
    _check_budget(recipe, env_id, env_kwargs, iterations, env_steps, wall_time)
    if env_id not in PAPER_TABLES:
        assert paper == "–"
        return
    table = load_paper_table(PAPER_TABLES[env_id], PACKAGED_TABLES)
    expected = table.cells[table.cell_name(env_kwargs)]["rl2"]
    assert _number(paper)[0] == expected
    gap = 100 * (result["mean"] - expected) / expected
    verdict = "yes" if abs(gap) <= 2 else "no"
    assert within == f"{verdict} ({gap:+.1f}%)".replace("-", "−"), (within, gap)


def _check_budget(recipe: pretrained.Recipe, env_id: str, env_kwargs: dict[str, Any], iterations: str,
                  env_steps: str, wall_time: str) -> None:
    """The row's budget columns are the run folder's: for its training setting the iterations and
    steps per iteration (``~`` where they vary) and env steps of ``progress.csv``, and the wall time
    (minutes, and the sessions where more than one) of ``sessions.json``; dashes for a setting it
    serves without retraining."""
    if recipe.eval_path(env_id, env_kwargs).name != "eval.json":
        assert iterations.endswith("not retrained") and env_steps == wall_time == "–"
        return
    with (recipe.path / "progress.csv").open() as f:
        rows = list(csv.DictReader(f))
    sessions = json.loads((recipe.path / "sessions.json").read_text())
    total = int(rows[-1]["env_steps"])
    per_iteration = total / len(rows)
    steps = f"{per_iteration:,.0f}" if per_iteration.is_integer() else f"~{round(per_iteration, -3):,.0f}"
    assert iterations == f"{len(rows):,} × {steps}"
    assert env_steps == f"{total / 1e6:.1f}M"
    minutes = round(sum(session["wall_seconds"] for session in sessions) / 60)
    assert wall_time == f"{minutes} min" + (f" ({len(sessions)} sessions)" if len(sessions) > 1 else "")


@pytest.mark.parametrize("served", sorted(_served()), ids=lambda served: f"{served[0]}@{served[1]}")
def test_each_served_setting_has_its_evaluation_with_the_behaviour_in_the_run_folder(served):
    """The run folder's evaluation of each setting it serves (``eval.json``, ``eval-<setting>.json``:
    scripts/evaluate.py) and the suite references score the same agent on the same 1000 tasks
    of seed 0: the same numbers; on bandits and MDPs it holds the agent's behavioural probe."""
    env_id, env_kwargs, result = _served()[served]
    recipe = next(r for r in pretrained.RECIPES if r.name == served[0])
    path = recipe.eval_path(env_id, env_kwargs)
    assert path.is_file(), f"{path} is missing; write it with {recipe.evaluate_command(env_id, env_kwargs)}"
    document = json.loads(path.read_text())
    assert (document["num_tasks"], document["seed"]) == (1000, 0), path
    assert env_setting(document["env_id"], document["env_kwargs"]) == env_setting(env_id, env_kwargs), path
    assert document["results"][recipe.algo]["mean"] == pytest.approx(result["mean"], abs=1e-9), path
    if env_id in PROBE_ENV_IDS:
        behaviour = document["behaviour"][recipe.algo]
        assert behaviour["trial_return"] == pytest.approx(result["mean"], abs=1e-9), path
        assert set(PROBE_COLUMNS[env_id]) <= set(behaviour), path
