"""Reproduce one of the RL² paper's baseline tables: our number and the paper's in every cell.

    python scripts/reproduce.py --table bandit --agents baselines [--tasks 1000] [--seed 0] [--json PATH]

``--table bandit`` is Table 1 (k in {5, 10, 50} x n in {10, 100, 500}); ``--table mdp``
(Table 2) runs once the tabular-MDP family and its baselines are registered. The paper's
numbers are read from ``../shared/paper_tables.json`` beside the checkout when it exists,
else from the packaged copy ``agents/data/paper_tables.json`` (``--paper-tables`` overrides).
The JSON holds every cell's results document under ``"cells"`` (see :mod:`agents.reproduction`).
"""

from __future__ import annotations

import argparse

from agents.evaluation import write_results
from agents.paper_tables import TABLE_LAYOUTS, load_paper_table
from agents.reproduction import AGENT_SOURCES, agent_source, format_comparison, run_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, choices=sorted(TABLE_LAYOUTS), help="which paper table")
    parser.add_argument("--agents", default="baselines", help=f"agent source: one of {sorted(AGENT_SOURCES)}")
    parser.add_argument("--tasks", type=int, default=1000, help="held-out tasks per cell (the paper: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="held-out task seed")
    parser.add_argument("--paper-tables", default=None, help="the paper's numbers (JSON)")
    parser.add_argument("--json", default=None, help="write the grid document here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args()

    table = load_paper_table(args.table, args.paper_tables)
    try:  # a table whose family or agents are not there yet: say so, no traceback
        source = agent_source(args.agents)
        source(table.env_id, table.env_kwargs(next(iter(table.cells))))
    except ValueError as error:
        parser.exit(2, f"reproduce.py: error: table {args.table!r} is not available: {error}\n")
    grid = run_table(table, source, args.tasks, args.seed, progress=not args.no_progress)
    print(format_comparison(table, grid))
    if args.json:
        write_results(args.json, grid)


if __name__ == "__main__":
    main()
