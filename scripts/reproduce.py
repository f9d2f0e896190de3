"""Reproduce one of the RL² paper's tables: our number and the paper's in every cell.

    python scripts/reproduce.py --table bandit --agents baselines [--tasks 1000] [--seed 0] [--json PATH]
    python scripts/reproduce.py --table bandit --agents rl2        # the shipped RL² reference agents
    python scripts/reproduce.py --table mdp --agents all           # baselines and RL² together
    python scripts/reproduce.py --table maze --agents all          # the paper's Table 3 statistics
    python scripts/reproduce.py --table bandit --agents rl2 --train   # first train the cells not shipped

``--table bandit`` is Table 1 (k in {5, 10, 50} x n in {10, 100, 500}), ``--table mdp``
Table 2 (n in {10, 25, 50, 75, 100}), ``--table maze`` the maze statistics of Table 3
(small and large mazes; the RL² agent is trained on the small one, as in the paper).
``--agents rl2`` evaluates the RL² reference agents shipped in ``agents/pretrained/``
(:mod:`agents.pretrained`); a cell without one is listed under "not run" with the command
that trains it, which ``--train`` runs first (one ``scripts/train.py`` process per cell;
a cell takes minutes to hours on a CPU). The paper's numbers are read from
``../shared/paper_tables.json`` beside the checkout when it exists, else from the packaged
copy ``agents/data/paper_tables.json`` (``--paper-tables`` overrides). The JSON holds
every cell's results document under ``"cells"`` (see :mod:`agents.evaluation.reproduction`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# see agents.training.cli.add_threads_flag
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from agents.evaluation import write_results
from agents.evaluation.paper_tables import MAZE_SETTINGS, TABLE_LAYOUTS, load_paper_table
from agents.evaluation.reproduction import AGENT_SOURCES, agent_source, format_comparison, format_maze_table, run_maze_table, run_table

TABLES = (*sorted(TABLE_LAYOUTS), "maze")


def train_missing(settings: list[tuple[str, dict]]) -> None:
    """Train, one ``scripts/train.py`` process each, the RL² recipes of ``settings`` not shipped yet."""
    from agents.pretrained import find_recipe

    for env_id, env_kwargs in settings:
        try:
            recipe = find_recipe(env_id, **env_kwargs)
        except ValueError:
            print(f"{env_id} {env_kwargs}: no RL² recipe, nothing to train")
            continue
        if recipe.trained:
            continue
        started = recipe.checkpoint.is_file()  # a run stopped before its evaluation: continue it
        argv = recipe.resume_argv() if started else recipe.train_argv()
        print(f"{'continuing' if started else 'training'} {recipe.name}: python scripts/train.py {' '.join(argv)}", flush=True)
        train = Path(__file__).resolve().parent / "train.py"
        if subprocess.run([sys.executable, str(train), *argv]).returncode != 0:
            raise SystemExit(f"reproduce.py: training {recipe.name} did not finish; run the command above to continue it")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, choices=TABLES, help="which paper table")
    parser.add_argument("--agents", default="baselines", help=f"agent source: one of {sorted(AGENT_SOURCES)}")
    parser.add_argument("--tasks", type=int, default=1000, help="held-out tasks per cell (the paper: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="held-out task seed")
    parser.add_argument("--train", action="store_true", help="first train the RL² cells that are not shipped")
    parser.add_argument("--paper-tables", default=None, help="the paper's numbers (JSON)")
    parser.add_argument("--json", default=None, help="write the grid document here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    try:  # an unknown agent source or a table without agents: say so, no traceback
        source = agent_source(args.agents)
        if args.table == "maze":
            settings = list(MAZE_SETTINGS.values())
        else:
            table = load_paper_table(args.table, args.paper_tables)
            settings = [(table.env_id, table.env_kwargs(cell)) for cell in table.cells]
        source(*settings[0])
    except ValueError as error:
        parser.exit(2, f"reproduce.py: error: table {args.table!r} is not available: {error}\n")
    if args.train:
        if args.agents not in ("rl2", "all"):
            parser.error("--train trains RL² reference agents: use it with --agents rl2 or --agents all")
        train_missing(settings)
    if args.table == "maze":
        grid = run_maze_table(source, args.tasks, args.seed, progress=not args.no_progress)
        print(format_maze_table(grid))
    else:
        grid = run_table(table, source, args.tasks, args.seed, progress=not args.no_progress)
        print(format_comparison(table, grid))
    if args.json:
        write_results(args.json, grid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
