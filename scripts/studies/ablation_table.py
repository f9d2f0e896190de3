"""Compare training runs at equal env steps: return, entropy, speed and the behavioural probe.

    python scripts/studies/ablation_table.py runs/ablation/* agents/pretrained/trpo_gru-bandit-k5-n100 \
        --at 5e6,10e6,20e6 --probe

For each run folder (``scripts/train.py``'s) and each budget in ``--at``: the training
return (``mean_trial_return`` of progress.csv, averaged over the iterations within ±2.5% of
the budget, so that one noisy batch does not decide a row), the policy entropy there, the
mean env steps/s up to it and the wall time; ``--probe`` adds the behavioural probe
(:mod:`agents.evaluation.probe`) of each run's latest checkpoint on ``--tasks`` held-out
tasks. Prints a Markdown table, each row labelled with the run's hyperparameters that
differ across the runs compared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see agents.training.cli.add_threads_flag

import numpy as np

from agents.evaluation.probe import PROBE_COLUMNS, probe
from agents.training.algorithms import ALGORITHMS, load_run_agent
from agents.training.cli import add_threads_flag
from agents.training.run_folder import RunFolder, read_progress


def at_budget(progress: dict[str, list[float]], column: str, steps: float) -> float:
    """Mean of ``column`` over the iterations within ±2.5% of ``steps`` env steps (NaN if none)."""
    env_steps = np.asarray(progress["env_steps"])
    near = np.abs(env_steps - steps) <= 0.025 * steps
    return float(np.mean(np.asarray(progress[column])[near])) if near.any() else math.nan


def settings(config: dict) -> dict:
    """A run's learner and every hyperparameter, defaults filled in (runs from before a field
    existed have the field's default)."""
    config_type = ALGORITHMS[config["algo"]].config_type
    return {"algo": config["algo"], **dataclasses.asdict(config_type(**config["hyperparameters"]))}


def differing_hyperparameters(configs: list[dict]) -> list[str]:
    """The names (learner or hyperparameter) whose values are not the same in every run."""
    filled = [settings(config) for config in configs]
    names = sorted({name for config in filled for name in config})
    return [n for n in names if len({json.dumps(c.get(n)) for c in filled}) > 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--at", default="5e6,10e6,20e6", help="comma-separated env-step budgets")
    parser.add_argument("--probe", action="store_true", help="probe each run's latest checkpoint")
    parser.add_argument("--tasks", type=int, default=1000, help="held-out tasks of the probe")
    add_threads_flag(parser)
    args = parser.parse_args()
    try:
        budgets = [float(b) for b in args.at.split(",")]
    except ValueError:
        parser.error(f"--at takes comma-separated env-step budgets such as 5e6,10e6, got {args.at!r}")
    missing = [str(run) for run in args.runs if not RunFolder(run).config.is_file()]
    if missing:
        parser.error(f"not run folders (no config.json): {', '.join(missing)}")
    configs = [json.loads(RunFolder(run).config.read_text()) for run in args.runs]
    differing = differing_hyperparameters(configs)

    header = ["run", *differing, "env steps", "return", "entropy", "steps/s", "wall h"]
    rows = []
    probes = {}
    for run, config in zip(args.runs, configs):
        progress = read_progress(RunFolder(run))
        label = [run.name, *(str(settings(config).get(n, "–")) for n in differing)]
        for steps in budgets:
            if max(progress["env_steps"]) < 0.975 * steps:
                continue
            reached = np.asarray(progress["env_steps"]) <= steps * 1.025
            iteration_s = np.asarray(progress["rollout_s"]) + np.asarray(progress["update_s"])
            wall = float(iteration_s[reached].sum())
            rows.append([*label, f"{steps / 1e6:g}M", f"{at_budget(progress, 'mean_trial_return', steps):.2f}",
                         f"{at_budget(progress, 'entropy', steps):.3f}",
                         f"{np.asarray(progress['env_steps'])[reached].max() / wall:,.0f}", f"{wall / 3600:.2f}"])
        if args.probe:
            agent, spec = load_run_agent(run)
            result = probe(agent, spec.env_id, spec.env_kwargs, num_tasks=args.tasks)
            probes[run.name] = (spec, max(progress["env_steps"]), result.statistics)

    print("| " + " | ".join(header) + " |\n" + "|---" * len(header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if probes:
        env_id = next(iter(probes.values()))[0].env_id
        columns = PROBE_COLUMNS[env_id]
        print(f"\nProbe of the latest checkpoints ({args.tasks} held-out tasks, seed 0):\n")
        print("| run | env steps | " + " | ".join(columns) + " |\n" + "|---" * (len(columns) + 2) + "|")
        for name, (_, steps, statistics) in probes.items():
            cells = ["—" if statistics[c] is None else f"{statistics[c]:.3f}" for c in columns]
            print(f"| {name} | {steps / 1e6:.1f}M | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
