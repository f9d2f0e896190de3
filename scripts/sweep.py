"""Run seeds x configs of a learner or a baseline on Ray Tune; aggregate with rliable.

    # TRPO-GRU: 3 seeds x 2 KL bounds on the local machine (ray.init() with the cores at hand)
    python scripts/sweep.py --algo trpo_gru --env MetaBandit-v0 --env-kwargs num_arms=5,num_episodes=10 \\
        --seeds 0,1,2 --grid max_kl=0.01,0.02 --timesteps 1000000 --out sweeps/kl
    # a baseline's hyperparameter on 4 held-out task sets
    python scripts/sweep.py --baseline ucb1 --env MetaBandit-v0 --env-kwargs num_arms=5,num_episodes=100 \\
        --seeds 0,1,2,3 --grid ucb_c=0.1,0.2,0.4 --out sweeps/ucb
    # the same on a running Ray cluster (see docs/sweeps.md); --out must be shared by the nodes
    python scripts/sweep.py ... --address auto --out /shared/sweeps/kl

Every (config, seed) is one Ray Tune trial with one CPU and its own run folder
(``<out>/runs/<trial>/``, the layout of ``scripts/train.py``). A failed trial is retried
(``--retries``) and, if it still fails, listed in the summary (exit code 1). Running the
same command again runs only the trials that did not finish. At the end ``<out>`` gets
``summary.json``, ``summary.md`` and, when the setting is a benchmark-suite cell,
normalised scores with rliable's aggregates and ``aggregates.png`` (:mod:`agents.training.sweep`).
"""

from __future__ import annotations

import argparse
import os
import sys

# see agents.training.cli.add_threads_flag (the trials run with one torch thread each)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from agents.training.cli import parse_env_kwargs, parse_seeds, parse_value
from agents.training.sweep import SweepSpec, format_summary, grid, run_sweep


def parse_axis(text: str) -> tuple[str, list]:
    """``"max_kl=0.01,0.02"`` -> ``("max_kl", [0.01, 0.02])`` (ints, floats, bools as in --env-kwargs)."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"--grid must look like name=v1,v2,..., got {text!r}")
    return name.strip(), [parse_value(value.strip()) for value in values.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--algo", help="a registered learner (trpo_gru, recurrent_ppo)")
    what.add_argument("--baseline", help="a classic baseline's result name (e.g. ucb1, psrl, explorer)")
    parser.add_argument("--env", default="MetaBandit-v0", help="a meta_envs ID (default: MetaBandit-v0)")
    parser.add_argument("--env-kwargs", default="", help="the family's kwargs, e.g. num_arms=5,num_episodes=10")
    parser.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2], help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--grid", type=parse_axis, action="append", default=[],
                        help="a hyperparameter and its values, name=v1,v2 (repeatable: the configs are every combination)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--timesteps", type=int, help="a learner's env-step budget per trial")
    budget.add_argument("--iterations", type=int, help="a learner's iteration budget per trial")
    parser.add_argument("--num-envs", type=int, help="a learner's sub-envs (default: the algo's)")
    parser.add_argument("--eval-tasks", type=int, default=1000, help="held-out tasks per trial (default: 1000)")
    parser.add_argument("--eval-seed", type=int, default=0, help="a learner's held-out task seed (default: 0)")
    parser.add_argument("--out", required=True, help="the sweep folder (re-run the same command to finish a sweep)")
    parser.add_argument("--address", help="a running Ray cluster (e.g. auto, ray://head:10001); default: local Ray")
    parser.add_argument("--retries", type=int, default=1, help="retries of a failed trial (default: 1)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Ray Tune's verbosity")
    args = parser.parse_args(argv)

    try:
        env_kwargs = parse_env_kwargs(args.env_kwargs)
        learner = args.algo is not None
        if learner and args.timesteps is None and args.iterations is None:
            parser.error("a learner sweep needs --timesteps or --iterations")
        names = [name for name, _ in args.grid]
        if len(set(names)) != len(names):
            parser.error(f"--grid names a hyperparameter twice: {names}")
        spec = SweepSpec(
            kind="learner" if learner else "baseline", name=args.algo or args.baseline, env_id=args.env,
            env_kwargs=env_kwargs, configs=grid(dict(args.grid)), seeds=args.seeds, timesteps=args.timesteps,
            iterations=args.iterations, num_envs=args.num_envs, eval_tasks=args.eval_tasks, eval_seed=args.eval_seed,
        )
        summary = run_sweep(spec, args.out, args.address, args.retries, args.verbose)
    except (ValueError, TypeError) as error:
        parser.exit(2, f"sweep.py: error: {error}\n")
    print(format_summary(summary))
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
