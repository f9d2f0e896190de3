"""Evaluate every classic baseline of an env family on one setting and print the table.

    python scripts/baselines.py --env MetaBandit-v0 --env-kwargs num_arms=5,num_episodes=10 \
        --tasks 1000 --seed 0 [--json PATH] [--only ucb1,gittins]

The baselines and their tuned hyperparameters come from :mod:`agents.baselines.registry`;
all are scored by :func:`agents.evaluation.evaluate` on the same held-out task set.
"""

from __future__ import annotations

import argparse
import time

from tqdm.auto import tqdm

from agents.baselines.registry import exact_ceiling, make_baselines
from agents.evaluation import format_table, results_document, write_results
from agents.evaluation.reproduction import evaluate_agents
from agents.training.cli import parse_env_kwargs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="MetaBandit-v0", help="a meta_envs ID with registered baselines")
    parser.add_argument("--env-kwargs", type=parse_env_kwargs, default={}, help="e.g. num_arms=5,num_episodes=10")
    parser.add_argument("--tasks", type=int, default=1000, help="held-out tasks (one trial each)")
    parser.add_argument("--seed", type=int, default=0, help="held-out task seed")
    parser.add_argument("--only", default=None, help="comma-separated result names (default: all)")
    parser.add_argument("--json", default=None, help="write the results document here")
    args = parser.parse_args()

    names = args.only.split(",") if args.only else None
    try:  # unknown env or baseline, bad env kwargs: one clear line, no traceback
        agents, unavailable = make_baselines(args.env, args.env_kwargs, names)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    start = time.perf_counter()
    with tqdm(total=len(agents), unit="agent") as bar:
        results = evaluate_agents(agents, args.env, args.env_kwargs, args.tasks, args.seed, bar)
    document = results_document(args.env, args.env_kwargs, args.tasks, args.seed, results)
    print(format_table(document))
    for name, reason in unavailable.items():
        print(f"{name}: not run ({reason})")
    ceiling = exact_ceiling(args.env, args.env_kwargs)
    if ceiling is not None:
        print(f"exact optimum (Bayes-optimal expected trial return): {ceiling:.3f}")
    print(f"{time.perf_counter() - start:.1f} s")
    if args.json:
        write_results(args.json, document)


if __name__ == "__main__":
    main()
