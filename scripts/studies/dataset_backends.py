"""Minari's HDF5 and Arrow backends on one learning-history dataset: size, write and read times.

    python scripts/studies/dataset_backends.py --env-kwargs num_arms=5,num_episodes=100 \\
        --sources gittins,ucb1,thompson,rl2,random --tasks 2000 --out /tmp/backends

Writes the same dataset (same tasks, seeds and trials) once per backend and reports, per
backend: its size on disk, the generation's wall time and the part of it spent writing
(``write_seconds``), the time to read every episode back through Minari
(``iterate_episodes``), and the times of :func:`agents.in_context.loader.load_histories`
without its cache (Minari's reader plus flattening) and from the cache it then wrote.
The README's dataset card quotes this study.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import minari
import torch

from agents.in_context.generation import FORMATS, generate_dataset
from agents.in_context.loader import CACHE_NAME, load_histories
from agents.training.cli import add_threads_flag, parse_env_kwargs, positive_int


def folder_bytes(path: Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="MetaBandit-v0")
    parser.add_argument("--env-kwargs", default="num_arms=5,num_episodes=100")
    parser.add_argument("--sources", default="gittins,ucb1,thompson,rl2,random")
    parser.add_argument("--tasks", type=positive_int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="a folder for the datasets (must not exist)")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if out.exists():
        parser.error(f"{out} exists; pick a new folder")
    sources = args.sources.split(",")
    rows = {}
    for data_format in FORMATS:
        path = out / f"{data_format}-v0"
        meta = generate_dataset(path, args.env, parse_env_kwargs(args.env_kwargs), sources, args.tasks, args.seed,
                                data_format=data_format)
        size = folder_bytes(path)
        start = time.perf_counter()
        steps = sum(len(episode) for episode in minari.MinariDataset(path.resolve() / "data").iterate_episodes())
        iterate = time.perf_counter() - start
        start = time.perf_counter()
        load_histories(path)  # no cache yet: Minari's reader, then the cache is written
        uncached = time.perf_counter() - start
        start = time.perf_counter()
        histories = load_histories(path)
        cached = time.perf_counter() - start
        assert len(histories.actions) == steps
        rows[data_format] = {
            "trials": len(histories.lengths), "steps": steps, "megabytes": round(size / 1e6, 1),
            "generation_s": meta["seconds"], "write_s": meta["write_seconds"], "minari_iterate_s": round(iterate, 2),
            "load_uncached_s": round(uncached, 2), "load_cached_s": round(cached, 3),
            "cache_megabytes": round((path / CACHE_NAME).stat().st_size / 1e6, 1),
        }
        print(data_format, rows[data_format], flush=True)
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
