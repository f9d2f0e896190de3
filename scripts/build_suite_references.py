"""Compute the reference results of the benchmark suites: every baseline and shipped RL²
agent on every cell's held-out tasks, into ``agents/data/suite_references.json``.

    python scripts/build_suite_references.py                      # every suite
    python scripts/build_suite_references.py --suite rl2-mazes-v0
    python scripts/build_suite_references.py --suite rl2-mdps-v0 --rl2-only   # after retraining an RL² agent

Run it again whenever a baseline or a shipped RL² reference agent changes (the
normalised scores of ``scripts/benchmark.py`` are built on these numbers).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

# see agents.training.cli.add_threads_flag
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

from agents.benchmark.references import REFERENCES_PATH, build_references, write_references
from agents.benchmark.suites import get_suite, list_suites
from agents.training.cli import add_threads_flag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", action="append", help=f"a suite (repeatable; default: all of {list_suites()})")
    parser.add_argument("--rl2-only", action="store_true",
                        help="evaluate only the shipped RL² agents; keep the baselines' results from the file")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        suites = [get_suite(name) for name in (args.suite or list_suites())]
    except ValueError as error:
        parser.error(str(error))
    try:
        built = {suite.id: build_references(suite, rl2_only=args.rl2_only) for suite in suites}
    except ValueError as error:  # --rl2-only without references to keep
        parser.error(str(error))
    argv = sys.argv[1:] if argv is None else argv
    write_references(built, shlex.join(["python", "scripts/build_suite_references.py", *argv]))
    print(f"wrote the references of {', '.join(built)} to {REFERENCES_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
