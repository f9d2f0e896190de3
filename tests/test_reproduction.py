"""The paper's tables as data and the table reproduction (agents.evaluation.paper_tables, agents.evaluation.reproduction)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.evaluation import results_document
from agents.evaluation.paper_tables import PACKAGED_TABLES, PaperTable, default_tables_path, load_paper_table
from agents.evaluation.reproduction import agent_source, format_comparison, run_table

REPO = Path(__file__).resolve().parent.parent


def test_packaged_copy_matches_the_shared_tables():
    shared = REPO.parent / "shared" / "paper_tables.json"
    if not shared.is_file():
        pytest.skip("no ../shared/paper_tables.json beside this checkout to compare with")
    assert json.loads(PACKAGED_TABLES.read_text()) == json.loads(shared.read_text())


def test_bandit_table_cells_map_to_env_kwargs(tmp_path):
    table = load_paper_table("bandit", PACKAGED_TABLES)
    assert table.env_id == "MetaBandit-v0"
    assert len(table.cells) == 9
    assert table.env_kwargs("k=50,n=500") == {"num_arms": 50, "num_episodes": 500}
    assert table.cell_name({"num_arms": 50, "num_episodes": 500}) == "k=50,n=500"
    assert table.cells["k=10,n=500"]["gittins"] == 437.8
    with pytest.raises(ValueError, match="no cell"):
        table.env_kwargs("k=7,n=10")
    with pytest.raises(ValueError, match="unknown table"):
        load_paper_table("maze")
    assert default_tables_path(tmp_path / "checkout") == PACKAGED_TABLES  # no shared/ beside it


def test_agent_sources():
    assert all(callable(agent_source(name)) for name in ("baselines", "rl2", "all"))
    with pytest.raises(ValueError, match="is a path: score a run folder with `python scripts/evaluate.py"):
        agent_source(str(REPO))
    with pytest.raises(ValueError, match="unknown --agents"):
        agent_source("nonsense")


def test_run_table_and_comparison_on_two_cells():
    full = load_paper_table("bandit", PACKAGED_TABLES)
    cells = {cell: full.cells[cell] for cell in ("k=5,n=10", "k=5,n=100")}
    table = PaperTable("bandit", full.layout, cells, full.source)
    grid = run_table(table, agent_source("baselines"), num_tasks=20, seed=0, progress=False)
    assert [doc["env_kwargs"] for doc in grid["cells"]] == [table.env_kwargs(c) for c in cells]
    assert "bayes_optimal" in grid["cells"][0]["results"]
    assert "bayes_optimal" in grid["unavailable"]["k=5,n=100"]
    text = format_comparison(table, grid)
    assert "k=5,n=10" in text and "k=5,n=100" in text and "gittins" in text


def test_comparison_flags_cells_beyond_three_percent():
    full = load_paper_table("bandit", PACKAGED_TABLES)
    table = PaperTable("bandit", full.layout, {"k=5,n=10": {"random": 5.0, "ucb1": 6.7}}, "test")

    class Fixed:  # an EvaluationResult-like summary
        def __init__(self, mean):
            self.mean = mean

        def summary(self):
            return {"mean": self.mean, "ci95": 0.1, "per_episode": [self.mean / 10] * 10}

    kwargs = table.env_kwargs("k=5,n=10")
    doc = results_document("MetaBandit-v0", kwargs, 1000, 0, {"random": Fixed(5.05), "ucb1": Fixed(6.0)})
    text = format_comparison(table, {"num_tasks": 1000, "seed": 0, "seconds": 1.0, "cells": [doc]})
    assert "5.05/5" in text and "6.00/6.7" in text
    flagged = text.split("cells more than 3% from the paper:")[1]
    assert "ucb1" in flagged and "random" not in flagged


def test_comparison_says_a_task_sample_can_score_above_the_exact_optimum():
    full = load_paper_table("bandit", PACKAGED_TABLES)
    table = PaperTable("bandit", full.layout, {"k=5,n=10": {"gittins": 6.6}}, "test")

    class Fixed:  # an EvaluationResult-like summary
        def __init__(self, mean):
            self.mean = mean

        def summary(self):
            return {"mean": self.mean, "ci95": 0.1, "per_episode": [self.mean / 10] * 10}

    results = {"gittins": Fixed(6.73), "rl2": Fixed(6.9), "random": Fixed(5.0)}
    doc = results_document("MetaBandit-v0", table.env_kwargs("k=5,n=10"), 1000, 0, results)
    grid = {"num_tasks": 1000, "seed": 0, "seconds": 1.0, "cells": [doc], "ceilings": {"k=5,n=10": 6.66}}
    text = format_comparison(table, grid)
    assert "an expectation over the task prior: a mean over 1000 sampled tasks scatters around it and can exceed it" in text
    line = next(line for line in text.splitlines() if line.split()[:2] == ["k=5,n=10", "6.660;"])
    assert "gittins 6.730 ± 0.100 (optimum inside its 95% CI)" in line
    assert "rl2 6.900 ± 0.100 (optimum BELOW its 95% CI)" in line and "random" not in line


def test_reproduce_cli_runs_the_mdp_table_and_rejects_unknown_tables():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run([sys.executable, "scripts/reproduce.py", "--table", "mdp", "--tasks", "3"],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    for name in ("random", "greedy", "epsilon_greedy", "psrl", "opsrl", "ucrl2", "beb"):
        assert name in completed.stdout
    assert "n=100" in completed.stdout and "1939.5" in completed.stdout  # the paper's PSRL at n=100
    completed = subprocess.run([sys.executable, "scripts/reproduce.py", "--table", "lunar"],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and "invalid choice: 'lunar'" in completed.stderr
    completed = subprocess.run([sys.executable, "scripts/reproduce.py", "--table", "mdp", "--train"],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and "--train trains RL² reference agents" in completed.stderr


def test_reproduce_cli_prints_the_maze_statistics_beside_the_papers(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "scripts/reproduce.py", "--table", "maze", "--tasks", "4", "--json", str(tmp_path / "m.json")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "small: MetaMaze-v0" in out and "large: MetaMazeLarge-v0" in out
    assert "explorer" in out and "oracle" in out and "52.4/39.1" in out and "180.1/151.8" in out
    grid = json.loads((tmp_path / "m.json").read_text())
    assert [doc["env_id"] for doc in grid["cells"]] == ["MetaMaze-v0", "MetaMazeLarge-v0"]
    assert grid["cells"][0]["results"]["oracle"]["metrics"]["success_rate"] == [1.0, 1.0]
