"""Benchmark suites, the references they are normalised by, scoring any agent factory, reports."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.baselines import RandomAgent
from agents.baselines.registry import make_baselines
from agents.benchmark import SCHEMA, get_suite, list_suites, load_factory, load_report, score_suite, write_report
from agents.benchmark.aggregate import aggregate_scores
from agents.benchmark.report import format_markdown, per_episode_band, plot_per_episode
from agents.benchmark.references import REFERENCES_PATH, build_references, cell_normalizer, load_references
from agents.benchmark.suites import Suite
from agents.pretrained import find_recipe, load_pretrained
from agents.evaluation import check_agent, evaluate

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # examples/ is importable from the repository root, as on the command line

from examples.bayes_ucb_agent import BayesUCBAgent, make_agent  # noqa: E402


def test_suites_are_listed_and_fix_their_cells():
    assert list_suites() == ["rl2-bandits-v0", "rl2-mazes-v0", "rl2-mdps-v0"]
    bandits = get_suite("rl2-bandits-v0")
    assert len(bandits.cells) == 9 and (bandits.num_tasks, bandits.seed) == (1000, 0)
    assert bandits.cell("k=50,n=500").env_kwargs == {"num_arms": 50, "num_episodes": 500}
    assert {c.reference for c in bandits.cells} == {"bayes_optimal", "gittins"}
    assert [c.env_kwargs["num_episodes"] for c in get_suite("rl2-mdps-v0").cells] == [10, 25, 50, 75, 100]
    assert [c.env_id for c in get_suite("rl2-mazes-v0").cells] == ["MetaMaze-v0", "MetaMazeLarge-v0"]
    with pytest.raises(ValueError, match=r"unknown suite 'rl2-bandits'; the suites are \['rl2-bandits-v0'"):
        get_suite("rl2-bandits")
    with pytest.raises(ValueError, match="has no cell 'k=7,n=10'"):
        bandits.cell("k=7,n=10")


def test_every_suite_cell_has_stored_references_for_its_normalisation():
    for suite_id in list_suites():
        suite = get_suite(suite_id)
        references = load_references(suite)
        for cell in suite.cells:
            normalizer = cell_normalizer(cell, references[cell.name]["results"])
            assert normalizer.reference_score > normalizer.random
    mdp = get_suite("rl2-mdps-v0")
    assert {cell_normalizer(c, load_references(mdp)[c.name]["results"]).reference for c in mdp.cells} == {"beb"}


def test_stored_references_are_what_the_baselines_score_now():
    # the file is computed, not typed: recompute one cell's random and reference exactly
    suite = get_suite("rl2-bandits-v0")
    cell = suite.cell("k=5,n=10")
    stored = load_references(suite)[cell.name]["results"]
    agents = make_baselines(cell.env_id, cell.env_kwargs, ["random", "bayes_optimal"])[0]
    for name, agent in agents.items():
        assert evaluate(agent, cell.env_id, cell.env_kwargs, suite.num_tasks, suite.seed).mean == stored[name]["mean"]


def test_rebuilding_only_the_rl2_references_keeps_the_baselines_and_refreshes_rl2(tmp_path):
    bandits = get_suite("rl2-bandits-v0")
    suite = Suite("tiny", 0, "one cell with a shipped RL² agent", (bandits.cell("k=5,n=10"),), num_tasks=20)
    stored = {"random": {"mean": -1.0}, "gittins": {"mean": -2.0}, "rl2": {"mean": -3.0}}  # not what they score
    cell = {"env_id": "MetaBandit-v0", "env_kwargs": {"num_arms": 5, "num_episodes": 10}, "results": stored}
    path = tmp_path / "refs.json"
    path.write_text(json.dumps({"suites": {suite.id: {"num_tasks": 20, "seed": 0, "cells": {"k=5,n=10": cell}}}}))
    built = build_references(suite, progress=False, rl2_only=True, path=path)["cells"]["k=5,n=10"]
    assert {name: built["results"][name] for name in ("random", "gittins")} == {"random": {"mean": -1.0},
                                                                                  "gittins": {"mean": -2.0}}
    rl2 = evaluate(load_pretrained("MetaBandit-v0", num_arms=5, num_episodes=10), "MetaBandit-v0",
                   {"num_arms": 5, "num_episodes": 10}, 20, 0)
    assert built["results"]["rl2"]["mean"] == rl2.mean
    assert built["rl2_checkpoint"] == find_recipe("MetaBandit-v0", num_arms=5, num_episodes=10).fingerprint()
    with pytest.raises(ValueError, match="no references for suite rl2-mazes-v0"):
        build_references(get_suite("rl2-mazes-v0"), progress=False, rl2_only=True, path=path)


def test_stale_references_are_an_error(tmp_path):
    path = tmp_path / "refs.json"
    path.write_text(json.dumps({"suites": {}}))
    with pytest.raises(ValueError, match="no references for suite rl2-mazes-v0; run `python scripts/build_suite_references.py"):
        load_references(get_suite("rl2-mazes-v0"), path)
    document = json.loads(REFERENCES_PATH.read_text())
    document["suites"]["rl2-mazes-v0"]["num_tasks"] = 10
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="do not match the suite"):
        load_references(get_suite("rl2-mazes-v0"), path)


def test_check_agent_says_what_is_missing():
    assert check_agent(RandomAgent(3)) is not None

    class NoAct:
        def reset(self, num_envs, seed): ...

    class BadReset:
        def reset(self): ...

        def act(self, observation): ...

    with pytest.raises(TypeError, match=r"\(NoAct\) is not an agent: no act\(\) method"):
        check_agent(NoAct())
    with pytest.raises(TypeError, match=r"reset\(\) does not take 2 positional argument"):
        check_agent(BadReset())


def test_load_factory_errors_are_clear():
    assert load_factory("examples.bayes_ucb_agent:make_agent") is make_agent
    with pytest.raises(ValueError, match="must look like 'module.path:factory'"):
        load_factory("examples.bayes_ucb_agent")
    with pytest.raises(ValueError, match="could not import 'no_such_package.agent'.*ModuleNotFoundError"):
        load_factory("no_such_package.agent:make_agent")
    with pytest.raises(ValueError, match="has no attribute 'make_it'"):
        load_factory("examples.bayes_ucb_agent:make_it")
    with pytest.raises(TypeError, match="is a module, not a callable"):
        load_factory("examples.bayes_ucb_agent:np")


def test_a_factory_that_returns_a_non_agent_is_rejected():
    with pytest.raises(TypeError, match=r"what the factory returned for MetaBandit-v0 .* \(dict\) is not an agent"):
        score_suite(lambda env_id, kwargs, seed: {}, "rl2-bandits-v0", cells=["k=5,n=10"], progress=False)


def test_bayes_ucb_example_scores_near_gittins_and_the_report_round_trips(tmp_path):
    assert isinstance(make_agent("MetaBandit-v0", {"num_arms": 5, "num_episodes": 10}, 0), BayesUCBAgent)
    with pytest.raises(ValueError, match="Bernoulli bandits"):
        make_agent("MetaTabularMDP-v0", {}, 0)
    report = score_suite(make_agent, "rl2-bandits-v0", seeds=[0, 1], cells=["k=5,n=10", "k=5,n=100"],
                         agent_name="bayes_ucb", progress=False)
    assert report["schema"] == SCHEMA and report["seeds"] == [0, 1]
    cell = report["cells"]["k=5,n=100"]
    assert cell["normalizer"]["reference"] == "gittins" and len(cell["runs"]) == 2
    assert 0.9 < cell["runs"][0]["normalized"] < 1.05  # Bayes-UCB is close to Gittins at k=5, n=100
    assert cell["references"]["random"]["normalized"] == 0
    assert set(report["aggregates"]) >= {"bayes_ucb", "gittins", "ucb1"}
    iqm = report["aggregates"]["bayes_ucb"]["iqm"]
    assert iqm["low"] <= iqm["point"] <= iqm["high"]
    # the first seed's runs carry the behavioural probe: an index policy stays after every win
    behaviour = cell["runs"][0]["behaviour"]
    assert behaviour["p_stay_after_win"] > 0.95 and behaviour["late_best"] > 0.85
    assert behaviour["trial_return"] == cell["runs"][0]["mean"] and "behaviour" not in cell["runs"][1]
    assert "## Behaviour" in format_markdown(report) and "| k=5,n=100 |" in format_markdown(report)
    write_report(report, tmp_path / "r.json")
    assert load_report(tmp_path / "r.json") == report


def test_malformed_reports_are_rejected_on_reload(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a benchmark report: not valid JSON"):
        load_report(path)
    path.write_text(json.dumps({"schema": "something/9"}))
    with pytest.raises(ValueError, match=r"not a benchmark report of schema 'meta_envs.benchmark/1' \(found 'something/9'\)"):
        load_report(path)
    path.write_text(json.dumps({"schema": SCHEMA, "agent": "a", "suite": {}, "seeds": [0], "cells": {"x": {"runs": []}},
                                "aggregates": {}}))
    with pytest.raises(ValueError, match=r"cell 'x' lacks \['normalizer', 'references'\]"):
        load_report(path)
    with pytest.raises(ValueError, match="cannot read the benchmark report"):
        load_report(tmp_path / "missing.json")


def test_aggregates_are_seeded_and_bracket_the_point():
    scores = {"a": np.random.default_rng(0).random((6, 3)), "b": np.array([[1.0, 1.0, 1.0]])}
    first, second = aggregate_scores(scores, reps=200, seed=3), aggregate_scores(scores, reps=200, seed=3)
    assert first == second
    assert first["a"]["mean"]["point"] == pytest.approx(scores["a"].mean())
    assert first["a"]["mean"]["low"] < first["a"]["mean"]["point"] < first["a"]["mean"]["high"]
    assert (first["a"]["runs"], first["b"]["runs"]) == (6, 1)
    assert first["b"]["optimality_gap"] == {"point": 0.0, "low": 0.0, "high": 0.0}
    assert aggregate_scores(scores, reps=200, seed=4)["a"] != first["a"]  # the seed is used


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_cli_lists_suites_scores_a_toy_agent_and_rejects_bad_input(tmp_path, capsys, one_torch_thread):
    benchmark = load_script("benchmark")
    assert benchmark.main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert "rl2-mdps-v0" in listing and "k=50,n=500" in listing
    out = tmp_path / "bench"
    assert benchmark.main(["--agent", "examples.bayes_ucb_agent:make_agent", "--cell", "k=5,n=10", "--out", str(out),
                           "--seeds", "0,1", "--no-progress", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "| k=5,n=10 |" in printed and "## Aggregates" in printed and "| bayes_ucb_agent | 2 |" in printed
    for name in ("report.json", "report.md", "cells.png", "per_episode.png", "aggregates.png", "performance_profile.png"):
        assert (out / name).stat().st_size > 0, name
    assert benchmark.main(["--from-json", str(out / "report.json"), "--out", str(tmp_path / "again"), "--threads", "1"]) == 0
    assert (tmp_path / "again" / "cells.png").is_file()
    for args, message in [
        (("--agent", "examples.bayes_ucb_agent:make_agent", "--suite", "rl2-nothing-v0"), "unknown suite 'rl2-nothing-v0'"),
        (("--agent", "nowhere.module:make_agent"), "could not import 'nowhere.module'"),
        (("--agent", "examples.bayes_ucb_agent:make_agent", "--cell", "k=7,n=3"), "has no cell 'k=7,n=3'"),
        (("--from-json", str(out / "report.md")), "not a benchmark report: not valid JSON"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            benchmark.main([*args, "--threads", "1"])
        assert exit_.value.code == 2 and message in capsys.readouterr().err, args


def test_score_suite_rejects_bad_cells_seeds_and_names_before_running():
    with pytest.raises(ValueError, match="'ucb1' is a reference's; pick another"):
        score_suite(make_agent, "rl2-bandits-v0", cells=["k=5,n=10"], agent_name="ucb1", progress=False)
    with pytest.raises(ValueError, match="cells must name distinct cells"):
        score_suite(make_agent, "rl2-bandits-v0", cells=[], progress=False)
    with pytest.raises(ValueError, match="cells must name distinct cells"):
        score_suite(make_agent, "rl2-bandits-v0", cells=["k=5,n=10", "k=5,n=10"], progress=False)
    with pytest.raises(ValueError, match="seeds must be distinct integers"):
        score_suite(make_agent, "rl2-bandits-v0", seeds=[0, 0], cells=["k=5,n=10"], progress=False)


class SeededRandomAgent:
    """Uniformly random arms from the generator ``reset`` seeds: a seeded stochastic agent."""

    def __init__(self, num_arms: int) -> None:
        self.num_arms = num_arms
        self.rng = np.random.default_rng(0)
        self.num_envs = 0

    def reset(self, num_envs: int, seed: int) -> None:
        self.num_envs, self.rng = num_envs, np.random.default_rng(seed)

    def act(self, observation):
        return self.rng.integers(self.num_arms, size=self.num_envs)


def test_two_seeds_of_a_seeded_stochastic_agent_differ_and_a_deterministic_agent_gets_task_intervals():
    def factory(env_id, env_kwargs, seed):
        return SeededRandomAgent(env_kwargs["num_arms"])

    report = score_suite(factory, "rl2-bandits-v0", seeds=[0, 1], cells=["k=5,n=10"], agent_name="seeded", progress=False)
    first, second = report["cells"]["k=5,n=10"]["runs"]
    assert first["mean"] != second["mean"] and first["per_episode"] != second["per_episode"]
    assert report["aggregates"]["seeded"]["interval"] == "seeds"
    # one arm to draw from: every seed gives the same run, a deterministic agent
    deterministic = score_suite(lambda env_id, kwargs, seed: SeededRandomAgent(1), "rl2-bandits-v0", seeds=[0, 1],
                                cells=["k=5,n=10"], agent_name="first_arm", progress=False)
    aggregate = deterministic["aggregates"]["first_arm"]
    assert aggregate["runs"] == 1 and aggregate["interval"] == "tasks_bootstrap"
    assert aggregate["mean"]["low"] < aggregate["mean"]["point"] < aggregate["mean"]["high"]
    assert deterministic["aggregates"]["gittins"]["interval"] == "tasks_normal"  # stored: no per-task returns
    markdown = format_markdown(deterministic)
    assert "gave identical runs in every cell (a deterministic agent)" in markdown
    assert "95% CIs over held-out tasks (bootstrap)" in markdown
    assert "| first_arm | 1 | 1 | held-out tasks (bootstrap) |" in markdown
    assert "| gittins | 1 | 1 | held-out tasks (normal approx.) |" in markdown
    assert "identical runs" not in format_markdown(report)


def test_the_task_bootstrap_of_a_deterministic_agent_resamples_its_per_task_returns(tmp_path):
    from agents.benchmark.scoring import reference_errors, score_matrices, task_scores

    report = score_suite(lambda env_id, kwargs, seed: SeededRandomAgent(1), "rl2-bandits-v0", seeds=[0, 1],
                         cells=["k=5,n=10", "k=10,n=10", "k=5,n=100"], agent_name="first_arm", progress=False)
    for cell in report["cells"].values():  # one trial return per held-out task, kept in every run
        assert all(len(run["task_returns"]) == report["suite"]["num_tasks"] for run in cell["runs"])
        assert np.mean(cell["runs"][0]["task_returns"]) == pytest.approx(cell["runs"][0]["mean"])

    def agent_aggregate(report):
        return aggregate_scores(score_matrices(report), task_scores(report), reference_errors(report))["first_arm"]

    before = agent_aggregate(report)
    assert before == report["aggregates"]["first_arm"]  # the report's interval is this bootstrap
    for metric in ("mean", "median", "iqm", "optimality_gap"):
        assert before[metric]["low"] < before[metric]["high"], metric  # not degenerate
        assert before[metric]["low"] <= before[metric]["point"] <= before[metric]["high"], metric
    # the same cell means with every task's return twice as far from its cell's mean: the
    # point stays, the interval over tasks widens
    for cell in report["cells"].values():
        for run in cell["runs"]:
            returns = np.array(run["task_returns"])
            run["task_returns"] = (returns.mean() + 2 * (returns - returns.mean())).tolist()
    after = agent_aggregate(report)
    assert after["mean"]["point"] == before["mean"]["point"]
    width = {name: aggregate["mean"]["high"] - aggregate["mean"]["low"] for name, aggregate in
             (("before", before), ("after", after))}
    assert width["after"] == pytest.approx(2 * width["before"], rel=1e-9)  # the same resamples, twice the spread


def test_the_per_episode_band_is_the_ci_over_tasks_of_one_seed_or_the_envelope_of_several():
    one = [{"per_episode": [1.0, 2.0], "per_episode_ci95": [0.5, 0.25]}]
    low, high = per_episode_band(one)
    np.testing.assert_allclose(low, [0.5, 1.75])
    np.testing.assert_allclose(high, [1.5, 2.25])
    two = one + [{"per_episode": [1.2, 1.5], "per_episode_ci95": [0.1, 0.5]}]
    low, high = per_episode_band(two)
    np.testing.assert_allclose(low, [0.5, 1.0])  # the lowest mean - CI over seeds
    np.testing.assert_allclose(high, [1.5, 2.25])  # the highest mean + CI
    assert per_episode_band([{"per_episode": [1.0, 2.0]}]) is None  # a report from before the CI


def test_reports_and_references_without_the_per_episode_ci_and_task_returns_still_load(tmp_path):
    # references built before the per-episode CI (those of the MDP suite) load without it
    stored = load_references(get_suite("rl2-mdps-v0"))
    assert any("per_episode_ci95" not in result for cell in stored.values() for result in cell["results"].values())
    report = score_suite(make_agent, "rl2-bandits-v0", seeds=[0], cells=["k=5,n=10"], agent_name="bayes_ucb",
                         progress=False)
    run = report["cells"]["k=5,n=10"]["runs"][0]
    assert len(run["per_episode_ci95"]) == len(run["per_episode"]) == 10
    assert report["aggregates"]["bayes_ucb"]["interval"] == "tasks_bootstrap"
    # the report as written before the two fields and the task bootstrap existed
    for key in ("per_episode_ci95", "task_returns"):
        del run[key]
    for aggregate in report["aggregates"].values():
        aggregate["interval"] = "tasks"
    write_report(report, tmp_path / "old.json")
    old = load_report(tmp_path / "old.json")
    assert "| bayes_ucb | 1 | 1 | held-out tasks (normal approx.) |" in format_markdown(old)
    plot_per_episode(old, tmp_path / "per_episode.png")
    assert (tmp_path / "per_episode.png").stat().st_size > 0
    run["per_episode_ci95"] = [0.1] * 3
    write_report(report, tmp_path / "bad.json")
    with pytest.raises(ValueError, match=r"a run of cell 'k=5,n=10' has 3 per_episode_ci95 values for 10 episodes"):
        load_report(tmp_path / "bad.json")


def test_methods_keep_their_style_and_partial_rl2_is_shown_on_its_cells():
    from agents.benchmark.aggregate import coverage_labels
    from agents.benchmark.scoring import reference_cells, score_matrices
    from agents.evaluation.palette import STYLES, method_style

    assert method_style("random") == STYLES["random"] and method_style("my_agent") == method_style("my_agent")
    assert method_style("my_agent") not in STYLES.values()
    report = score_suite(make_agent, "rl2-bandits-v0", seeds=[0], cells=["k=5,n=100", "k=50,n=100"],
                         agent_name="bayes_ucb", progress=False)
    assert reference_cells(report)["rl2"] == ["k=5,n=100"]  # no shipped RL² agent at k=50,n=100
    assert score_matrices(report)["rl2"].shape == (1, 1) and report["aggregates"]["rl2"]["cells"] == 1
    assert coverage_labels({"bayes_ucb": 2, "rl2": 1}) == {"bayes_ucb": "bayes_ucb", "rl2": "rl2 (1 of 2 cells)"}


def test_reference_levels_fill_in_defaults_and_come_from_the_stored_references():
    from agents.benchmark.references import reference_levels

    stored = load_references(get_suite("rl2-bandits-v0"))["k=5,n=10"]["results"]
    levels = reference_levels("MetaBandit-v0", {"num_arms": 5, "num_episodes": 10})
    assert levels == {**{name: stored[name]["mean"] for name in ("random", "greedy", "bayes_optimal", "rl2")}, "paper rl2": 6.7}
    assert reference_levels("MetaBandit-v0", {"num_arms": 7, "num_episodes": 10}) == {}
    mdp = reference_levels("MetaTabularMDP-v0", {"num_episodes": 25})
    assert mdp["paper rl2"] == 445.7
    # the best classic baseline of an MDP cell is named, not the cell's "best_baseline" marker
    mdp_stored = load_references(get_suite("rl2-mdps-v0"))["n=25"]["results"]
    assert mdp["beb"] == mdp_stored["beb"]["mean"] == max(mdp[name] for name in ("random", "greedy", "beb"))
    assert "paper rl2" not in reference_levels("MetaTabularMDP-v0", {"num_episodes": 25, "horizon": 5})


def test_a_learning_curve_of_a_setting_whose_rl2_agent_trains_on_drops_only_the_rl2_line(monkeypatch):
    """A run ends with its curve while another run retrains the setting's RL² agent: the
    stale rl2 level is left out, the rest drawn; a benchmark report still refuses it."""
    from agents.benchmark import references

    current = references.reference_levels("MetaBandit-v0", {"num_arms": 5, "num_episodes": 10})
    monkeypatch.setattr(references, "rl2_fingerprint", lambda cell: "retrained")
    stale = references.reference_levels("MetaBandit-v0", {"num_arms": 5, "num_episodes": 10})
    assert "rl2" in current and stale == {name: level for name, level in current.items() if name != "rl2"}
    with pytest.raises(ValueError, match="changed since the references were computed"):
        load_references(get_suite("rl2-bandits-v0"))


def test_the_per_episode_figure_draws_the_references_asked_for(tmp_path, monkeypatch):
    from agents.benchmark.report import write_outputs
    from agents.evaluation import palette

    report = score_suite(make_agent, "rl2-bandits-v0", seeds=[0], cells=["k=5,n=10"], agent_name="bayes_ucb",
                         progress=False)
    drawn: list[str] = []
    style = palette.method_style
    monkeypatch.setattr(palette, "method_style", lambda name: drawn.append(name) or style(name))
    plot_per_episode(report, tmp_path / "per_episode.png", also=["thompson"])
    assert drawn == ["bayes_ucb", "rl2", "bayes_optimal", "thompson", "random"]
    with pytest.raises(ValueError, match=r"no stored reference named \['thompsn'\] in the report; known: .*thompson"):
        write_outputs(report, tmp_path / "bad", also=["thompsn"])
    assert not (tmp_path / "bad").exists()
