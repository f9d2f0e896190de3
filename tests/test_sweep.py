"""Multi-seed sweeps on a local Ray (agents.training.sweep, scripts/sweep.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from agents.training.sweep import SweepSpec, grid, run_sweep, trial_name

REPO = Path(__file__).resolve().parent.parent

TINY = {"hidden_size": [8], "value_hidden_size": [8], "steps_per_iteration": [40]}


def test_grid_is_every_combination():
    assert grid({"a": [1, 2], "b": [3]}) == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]
    assert grid({}) == [{}]


def test_specs_are_checked_before_ray_starts():
    base = dict(kind="learner", name="trpo_gru", env_id="MetaBandit-v0", env_kwargs={}, configs=[{}], seeds=[0],
                iterations=1)
    with pytest.raises(ValueError, match="unknown learner 'ppo'"):
        SweepSpec(**{**base, "name": "ppo"})
    with pytest.raises(ValueError, match=r"unknown trpo_gru hyperparameter\(s\) \['kl'\]"):
        SweepSpec(**{**base, "configs": [{"kl": 0.1}]})
    with pytest.raises(ValueError, match="exactly one of timesteps and iterations"):
        SweepSpec(**{**base, "iterations": None})
    with pytest.raises(ValueError, match="distinct integers"):
        SweepSpec(**{**base, "seeds": [1, 1]})
    with pytest.raises(ValueError, match="has no kwarg"):
        SweepSpec(**{**base, "env_kwargs": {"arms": 3}})
    with pytest.raises(ValueError, match="eval_tasks must be an integer >= 1"):
        SweepSpec(**{**base, "eval_tasks": 0})
    with pytest.raises(ValueError, match="iterations must be an integer >= 1"):
        SweepSpec(**{**base, "iterations": -5})
    baseline = {**base, "kind": "baseline", "name": "ucb1", "iterations": None}
    with pytest.raises(ValueError, match=r"baseline 'ucb1' does not take \['epsilon'\]: its hyperparameters are \['ucb_c'\]"):
        SweepSpec(**{**baseline, "configs": [{"epsilon": 0.1}]})
    with pytest.raises(ValueError, match=r"'thompson' does not take \['c'\]: it has no hyperparameters"):
        SweepSpec(**{**baseline, "name": "thompson", "configs": [{"c": 1}]})
    with pytest.raises(ValueError, match=r"\['timesteps'\] are a learner's budget"):
        SweepSpec(**{**baseline, "timesteps": 100})


def test_learner_sweep_on_local_ray_reports_failures_and_reruns_only_what_is_missing(tmp_path, one_torch_thread):
    spec = SweepSpec("learner", "trpo_gru", "MetaBandit-v0", {"num_arms": 5, "num_episodes": 10},
                     configs=grid({**TINY, "max_kl": [0.01, 0.05]}), seeds=[0, 1], iterations=2, num_envs=4,
                     eval_tasks=20)
    # a trial that cannot write its run folder fails, is retried, and is reported, not dropped
    blocked = tmp_path / "runs" / trial_name("learner", "trpo_gru", 1, 1)
    blocked.parent.mkdir(parents=True)
    blocked.write_text("in the way")
    summary = run_sweep(spec, tmp_path, retries=1, verbose=0)
    assert list(summary["errors"]) == [blocked.name]
    assert [c["missing_seeds"] for c in summary["configs"]] == [[], [1]]
    assert summary["suite_cell"] == {"suite": "rl2-bandits-v0", "cell": "k=5,n=10", "reference": "bayes_optimal"}
    finished = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/eval.json")}
    assert len(finished) == 3
    run = tmp_path / "runs" / trial_name("learner", "trpo_gru", 0, 1)
    assert {"config.json", "progress.csv", "learning_curve.png"} <= {p.name for p in run.iterdir()}

    blocked.unlink()
    summary = run_sweep(spec, tmp_path, retries=0, verbose=0)
    assert summary["errors"] == {} and all(len(c["scores"]) == 2 for c in summary["configs"])
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # finished trials did not run again
    assert set(summary["aggregates"]) == {c["label"] for c in summary["configs"]}
    table = (tmp_path / "summary.md").read_text()
    assert "| c0 hidden_size=8," in table and "| c1 hidden_size=8," in table and "## failed trials" not in table
    assert (tmp_path / "aggregates.png").is_file() and (tmp_path / "performance_profile.png").is_file()
    with pytest.raises(ValueError, match="holds another sweep"):
        run_sweep(SweepSpec(**{**json.loads((tmp_path / "sweep.json").read_text()), "seeds": [0]}), tmp_path)


def test_baseline_sweep_scores_held_out_seeds_with_overridden_hyperparameters(tmp_path):
    spec = SweepSpec("baseline", "ucb1", "MetaBandit-v0", {"num_arms": 5, "num_episodes": 10},
                     configs=grid({"ucb_c": [0.1, 3.0]}), seeds=[0, 1], eval_tasks=100)
    summary = run_sweep(spec, tmp_path, verbose=0)
    low, high = summary["configs"]
    assert low["overrides"] == {"ucb_c": 0.1} and sorted(low["scores"]) == [0, 1]
    assert low["mean"] > high["mean"]  # c = 3 explores far too much for 10 pulls
    held_out = json.loads((tmp_path / "runs" / trial_name("baseline", "ucb1", 0, 1) / "eval.json").read_text())
    # normalised against the random policy and the cell's reference on the trial's own tasks
    assert held_out["seed"] == 1 and set(held_out["results"]) == {"ucb1", "random", "bayes_optimal"}
    results = {name: r["mean"] for name, r in held_out["results"].items()}
    assert low["normalized"][1] == pytest.approx(
        (results["ucb1"] - results["random"]) / (results["bayes_optimal"] - results["random"]))
    assert summary["suite_cell"] == {"suite": "rl2-bandits-v0", "cell": "k=5,n=10", "reference": "bayes_optimal"}


def test_sweep_cli_rejects_bad_input(capsys):
    spec = importlib.util.spec_from_file_location("sweep_cli", REPO / "scripts" / "sweep.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    for args, message in [
        (["--algo", "trpo_gru", "--out", "x"], "needs --timesteps or --iterations"),
        (["--algo", "nope", "--iterations", "1", "--out", "x"], "unknown learner 'nope'"),
        (["--baseline", "ucb1", "--grid", "ucb_c", "--out", "x"], "--grid must look like name=v1,v2"),
        (["--baseline", "ucb1", "--timesteps", "5", "--out", "x"], "are a learner's budget"),
        (["--algo", "trpo_gru", "--iterations", "1", "--env", "Nope-v0", "--out", "x"], "'Nope-v0' is not a registered env ID"),
        (["--algo", "trpo_gru", "--iterations", "1", "--seeds", "1,1", "--out", "x"], "seeds must be distinct"),
        (["--baseline", "ucb1", "--grid", "ucb_c=1", "--grid", "ucb_c=2", "--out", "x"], "names a hyperparameter twice"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            sweep.main(args)
        assert exit_.value.code == 2 and message in capsys.readouterr().err, args
