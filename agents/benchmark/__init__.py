"""Benchmark your own meta-RL method: named suites, one scoring command, rliable aggregates.

* :mod:`.suites`: the named, versioned suites (cells, held-out tasks, normalisation);
* :mod:`.references`: what the project's baselines and RL² agents score on every cell;
* :mod:`.scoring`: score any agent factory on a suite; the report and its JSON schema;
* :mod:`.aggregate`: mean, median, IQM, optimality gap and performance profiles by rliable;
* :mod:`.report`: the report as markdown and plots.

``python scripts/benchmark.py --agent my_pkg.my_module:make_agent --suite rl2-bandits-v0``
runs all of it.
"""

from agents.benchmark.scoring import SCHEMA, load_factory, load_report, score_suite, write_report
from agents.benchmark.suites import SUITES, Suite, SuiteCell, get_suite, list_suites

__all__ = [
    "SCHEMA",
    "SUITES",
    "Suite",
    "SuiteCell",
    "get_suite",
    "list_suites",
    "load_factory",
    "load_report",
    "score_suite",
    "write_report",
]
