"""Grid-search the tabular-MDP baselines' hyperparameters per setting, as the RL² paper did.

    python scripts/tune_mdp_baselines.py [--episodes 10 25 50 75 100] [--tasks 1000] [--seed 1] \
        [--json agents/data/tabular_mdp_tuning.json]

For every ``num_episodes`` and every candidate of
:data:`agents.baselines.tabular_mdp_hyperparameters.TUNING_GRID`, the baseline that
hyperparameter belongs to is scored by :func:`agents.evaluation.evaluate` on a held-out
task set of seed ``--seed`` (keep it away from the reporting seed 0); the best mean trial
return wins. Prints every score and the winners as the ``TUNED`` dict of
:mod:`agents.baselines.tabular_mdp_hyperparameters`; ``--json`` keeps every score.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from agents.baselines.tabular_mdp_hyperparameters import (
    TUNED_BASELINE,
    TUNING_GRID,
    TabularMDPHyperparameters,
    make_mdp_baseline,
)
from agents.evaluation import evaluate

ENV_ID = "MetaTabularMDP-v0"


def tune(num_episodes: int, num_tasks: int, seed: int) -> dict:
    """Every candidate's score at one ``num_episodes`` and the best value of each hyperparameter."""
    env_kwargs = {"num_episodes": num_episodes}
    scores: dict[str, dict[str, float]] = {}
    best = {}
    for field, candidates in TUNING_GRID.items():
        scores[field] = {}
        for value in candidates:
            hyperparameters = dataclasses.replace(TabularMDPHyperparameters(), **{field: value})
            agent = make_mdp_baseline(TUNED_BASELINE[field], env_kwargs, hyperparameters)
            result = evaluate(agent, ENV_ID, env_kwargs, num_tasks, seed)
            scores[field][str(value)] = round(result.mean, 3)
            print(f"n={num_episodes:<4} {field:<14} {value!s:<6} {result.mean:10.3f} ± {result.ci95:.3f}", flush=True)
        best[field] = max(candidates, key=lambda v: scores[field][str(v)])
    return {"best": best, "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, nargs="+", default=[10, 25, 50, 75, 100], help="num_episodes settings")
    parser.add_argument("--tasks", type=int, default=1000, help="held-out tasks per candidate")
    parser.add_argument("--seed", type=int, default=1, help="held-out task seed (not the reporting seed 0)")
    parser.add_argument("--json", default=None, help="write every score and the winners here")
    args = parser.parse_args()

    start = time.perf_counter()
    cells = {f"n={n}": tune(n, args.tasks, args.seed) for n in args.episodes}
    seconds = time.perf_counter() - start
    print("TUNED = {")
    for n in args.episodes:
        values = ", ".join(f"{field}={value!r}" for field, value in cells[f"n={n}"]["best"].items())
        print(f"    {n}: TabularMDPHyperparameters({values}),")
    print("}")
    print(f"{seconds:.1f} s")
    if args.json:
        document = {
            "source": f"scripts/tune_mdp_baselines.py --tasks {args.tasks} --seed {args.seed}",
            "env_id": ENV_ID,
            "num_tasks": args.tasks,
            "seed": args.seed,
            "grid": {field: list(values) for field, values in TUNING_GRID.items()},
            "seconds": round(seconds, 1),
            "cells": cells,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
