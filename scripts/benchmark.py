"""Score your own meta-RL agent on a benchmark suite, against the project's baselines and RL² agents.

    python scripts/benchmark.py --list                                   # the suites and their cells
    python scripts/benchmark.py --agent examples.bayes_ucb_agent:make_agent --suite rl2-bandits-v0 --out results/bucb
    python scripts/benchmark.py --agent my_pkg.my_module:make_agent --suite rl2-mdps-v0 --seeds 0,1,2
    python scripts/benchmark.py --from-json results/bucb/report.json --out results/bucb   # redraw a saved report

``--agent`` names a factory ``make_agent(env_id, env_kwargs, seed) -> agent``, importable
(the current directory is importable, so ``examples.<file>:make_agent`` works from the
repository root) or in a file (``path/to/my_agent.py:make_agent``, from any folder); the agent is anything with the batched ``reset(num_envs, seed)`` and
``act(observation)`` of :class:`agents.evaluation.Agent`. Every cell of the suite is run
once per seed on the suite's held-out tasks; the output folder gets ``report.json``
(schema ``meta_envs.benchmark/1``, :mod:`agents.benchmark.scoring`), ``report.md`` and
plots (:mod:`agents.benchmark.report`): per-cell normalised scores against our baselines
and RL² reference agents, the per-episode curve within a trial, rliable's aggregates
(mean, median, IQM, optimality gap, stratified-bootstrap CIs) and performance profiles.
"""

from __future__ import annotations

import argparse
import os
import sys

# see agents.training.cli.add_threads_flag
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from agents.benchmark import get_suite, list_suites, load_factory, load_report, score_suite
from agents.benchmark.report import write_outputs
from agents.training.cli import add_threads_flag, parse_seeds


def describe_suites() -> str:
    """Every suite with its cells, for ``--list``."""
    lines = []
    for suite_id in list_suites():
        suite = get_suite(suite_id)
        lines.append(f"{suite.id}: {suite.description} ({suite.num_tasks} held-out tasks per cell, seed {suite.seed})")
        lines.extend(f"  {cell.name:<10} {cell.env_id} {dict(cell.env_kwargs)}  normalised to 1 by {cell.reference}"
                     for cell in suite.cells)
    return "\n".join(lines)


def factory_name(path: str) -> str:
    """The short name of the factory ``"module.path:attribute"``: the module's last part."""
    return path.partition(":")[0].rpartition(".")[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--agent", help="an agent factory, 'module.path:make_agent' or 'path/to/file.py:make_agent'")
    source.add_argument("--from-json", metavar="REPORT", help="redraw the table and plots of a saved report.json")
    source.add_argument("--list", action="store_true", help="list the suites and their cells")
    parser.add_argument("--suite", default="rl2-bandits-v0", help="the suite (default: rl2-bandits-v0; see --list)")
    parser.add_argument("--seeds", type=parse_seeds, default=[0], help="the agent's seeds, e.g. 0,1,2 (default: 0)")
    parser.add_argument("--cell", action="append", dest="cells", help="a cell of the suite (repeatable; default: all)")
    parser.add_argument("--name", help="the agent's short name in the report and figures (default: the factory's "
                                       "module, e.g. bayes_ucb_agent for examples.bayes_ucb_agent:make_agent)")
    parser.add_argument("--out", help="output folder (default: benchmark-<suite>)")
    parser.add_argument("--also", default="", help="more stored references on the per-episode figure, "
                                                   "comma-separated (e.g. thompson,ucb1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    if args.list:
        print(describe_suites())
        return 0

    import torch

    torch.set_num_threads(args.threads)
    try:
        if args.from_json:
            report = load_report(args.from_json)
        else:
            suite = get_suite(args.suite)
            cells = args.cells
            for name in cells or ():  # an unknown cell fails before any run
                suite.cell(name)
            sys.path.insert(0, os.getcwd())
            factory = load_factory(args.agent)
            report = score_suite(factory, suite, args.seeds, cells, args.name or factory_name(args.agent), progress=not args.no_progress)
        out = args.out or f"benchmark-{report['suite']['id']}"
        paths = write_outputs(report, out, [name for name in args.also.split(",") if name])
    except (ValueError, TypeError) as error:
        parser.exit(2, f"benchmark.py: error: {error}\n")
    print(paths[1].read_text())
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
