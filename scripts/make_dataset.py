"""Write a learning-history dataset: whole trials of source agents on training tasks, in Minari's format.

    python scripts/make_dataset.py --env MetaBandit-v0 --env-kwargs num_arms=5,num_episodes=100 \\
        --sources gittins,ucb1,thompson,rl2,random --tasks 10000 --seed 1 --out datasets/bandit-k5-n100-v0
    python scripts/make_dataset.py --env MetaTabularMDP-v0 --sources psrl,random --tasks 1000 --out datasets/mdp-n10-v0
    python scripts/make_dataset.py --env MetaMaze-v0 --sources explorer,oracle,random --tasks 1000 --out datasets/maze-v0

``--sources`` takes any baseline of the family, ``rl2`` (the shipped RL² agent of the
setting), a run folder of ``scripts/train.py`` or an agent factory ``pkg.mod:make_agent``.
The folder's name is the Minari dataset ID (``NAME-vN``): ``minari.load_dataset(NAME-vN)``
finds it with ``MINARI_DATASETS_PATH`` set to its parent. Schema, tasks and seeds:
:mod:`agents.in_context.generation`; ``pip install -e ".[datasets]"`` installs Minari.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# OpenMP threads that spin while they wait slow torch down when other processes share the
# cores (an RL² source runs a GRU), as in scripts/train.py
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

from agents.in_context.generation import DEFAULT_FORMAT, FORMATS, generate_dataset
from agents.training.cli import add_threads_flag, parse_env_kwargs, positive_int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", default="MetaBandit-v0", help="a meta_envs ID (default: MetaBandit-v0)")
    parser.add_argument("--env-kwargs", default="", help="the family's kwargs, e.g. num_arms=5,num_episodes=100")
    parser.add_argument("--sources", required=True, help="comma-separated source agents, e.g. gittins,thompson,random")
    parser.add_argument("--tasks", type=positive_int, default=1000, help="training tasks; every source plays each (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (>= 0): tasks, noise and agent seeds (default: 0)")
    parser.add_argument("--out", required=True, help="the dataset folder, PARENT/NAME-vN (must not exist)")
    parser.add_argument("--batch-size", type=positive_int, default=1000, help="trials run at once (default: 1000)")
    parser.add_argument("--format", choices=FORMATS, default=DEFAULT_FORMAT,
                        help=f"Minari storage backend (default: {DEFAULT_FORMAT}; see the README's dataset card)")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sources = [source.strip() for source in args.sources.split(",") if source.strip()]
    start = time.perf_counter()
    try:
        meta = generate_dataset(args.out, args.env, parse_env_kwargs(args.env_kwargs), sources, args.tasks, args.seed,
                                args.batch_size, args.format)
    except (ValueError, TypeError, FileNotFoundError) as err:
        parser.error(str(err))
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    print(f"{args.out}: {args.tasks * len(sources):,} trials of {', '.join(sources)} on {meta['env_id']} "
          f"{meta['setting']}, {size / 1e6:.1f} MB ({args.format}), {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
