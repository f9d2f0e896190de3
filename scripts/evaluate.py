"""Evaluate a training run's latest checkpoint against the random policy on held-out tasks.

    python scripts/evaluate.py runs/my_run                       # the run's own eval settings
    python scripts/evaluate.py runs/my_run --tasks 1000 --seed 7 --json other_eval.json
    python scripts/evaluate.py runs/my_run --greedy              # argmax actions instead of sampled ones
    python scripts/evaluate.py runs/my_run --probe               # and its behaviour (bandits, tabular MDPs)
    python scripts/evaluate.py agents/pretrained/trpo_gru-bandit-k5-n100 --env-kwargs num_episodes=500
                                                                 # on longer trials than it trained on

Uses the one evaluation protocol (:func:`agents.evaluation.evaluate`) and prints the
results table; ``--probe`` adds the behavioural statistics of :mod:`agents.evaluation.probe`
measured on the same trials, ``--json`` also writes the results document.
"""

from __future__ import annotations

import argparse
import os
import sys

# OpenMP threads that spin while they wait for each other slow torch down 5-12x when
# other processes share the cores (measured on a 2-core machine); passive waiting does not.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gymnasium as gym
import torch

import meta_envs  # noqa: F401  (registers the IDs)
from agents.training.algorithms import load_run_agent
from agents.training.cli import add_threads_flag, parse_env_kwargs
from agents.evaluation import format_table, write_results
from agents.evaluation.probe import PROBE_ENV_IDS
from agents.training.run_folder import DEVICES, evaluate_with_random
from meta_envs.settings import env_setting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a run folder written by scripts/train.py")
    parser.add_argument("--tasks", type=int, default=None, help="held-out tasks (default: the run's eval_tasks)")
    parser.add_argument("--seed", type=int, default=None, help="held-out task seed (default: the run's eval_seed)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where the agent runs (default: auto)")
    add_threads_flag(parser)
    parser.add_argument("--temperature", type=float, default=None,
                        help="an in-context (dpt) run's play temperature (default: the run's own)")
    parser.add_argument("--greedy", action="store_true",
                        help="act by the argmax of the policy instead of sampling (reported as '<algo>-argmax')")
    parser.add_argument("--env", default=None, help="evaluate on another env than the run's (e.g. MetaMazeLarge-v0 "
                                                    "for a small-maze run; its kwargs start from the env's defaults)")
    parser.add_argument("--env-kwargs", type=parse_env_kwargs, default={},
                        help="kwargs over the run's own (or --env's defaults), e.g. num_episodes=500")
    parser.add_argument("--probe", action="store_true",
                        help="also record the agent's behaviour on the same trials (bandits and tabular MDPs)")
    parser.add_argument("--json", help="also write the results document here")
    args = parser.parse_args(argv)
    if args.greedy and args.temperature is not None:
        parser.error("--greedy and --temperature exclude each other: the argmax has no temperature")
    torch.set_num_threads(args.threads)
    try:
        agent, spec = load_run_agent(args.run_dir, args.device, greedy=args.greedy)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    if args.temperature is not None:
        if not hasattr(agent, "temperature"):
            parser.error(f"--temperature is for in-context (dpt) runs; {args.run_dir} is a {spec.algo} run")
        try:
            agent.temperature = args.temperature
        except ValueError as err:
            parser.error(str(err))
    tasks = spec.eval_tasks if args.tasks is None else args.tasks
    seed = spec.eval_seed if args.seed is None else args.seed
    name = f"{spec.algo}-argmax" if args.greedy else spec.algo
    env_id = spec.env_id if args.env is None else args.env
    if args.probe and env_id not in PROBE_ENV_IDS:
        parser.error(f"--probe: the behavioural probe knows {', '.join(PROBE_ENV_IDS)}, not {env_id}")
    if args.probe and tasks < 2:
        parser.error(f"--probe needs --tasks of at least 2 (its memory read-out is fitted on half the trials), got {tasks}")
    env_kwargs = {**(spec.env_kwargs if env_id == spec.env_id else {}), **args.env_kwargs}
    try:
        env_setting(env_id, env_kwargs)  # a clear error for an unknown ID or kwarg before building it
        env, trained_on = gym.make(env_id, **env_kwargs), gym.make(spec.env_id, **spec.env_kwargs)
    except (TypeError, ValueError) as err:
        parser.error(f"--env/--env-kwargs: {err}")
    if (env.observation_space, env.action_space) != (trained_on.observation_space, trained_on.action_space):
        parser.error(f"the run was trained on {spec.env_id} {spec.env_kwargs}; {env_id} {env_kwargs} has other "
                     f"observation or action spaces ({env.observation_space}, {env.action_space}), so the agent "
                     f"cannot play it")
    env.close()
    trained_on.close()
    document = evaluate_with_random(agent, name, env_id, env_kwargs, tasks, seed, probe=args.probe)
    print(format_table(document))
    if args.json:
        write_results(args.json, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
