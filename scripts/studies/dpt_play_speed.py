"""How fast the in-context agent plays: cached keys and values against recomputing the window.

    python scripts/studies/dpt_play_speed.py                       # untrained model, k=5, n=100
    python scripts/studies/dpt_play_speed.py --run agents/pretrained/dpt-bandit-k5-n100

Scores the same model twice on the same held-out tasks with
:func:`agents.evaluation.evaluate`: once with a whole trial of context (the agent keeps each
trial's attention keys and values, one token's work per step) and once with a context one
step shorter (the window slides, so every step recomputes it: the cost of the agent before
the cache). Prints the wall time of each and their ratio.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gymnasium as gym
import torch

import meta_envs  # noqa: F401  (registers the IDs)
from agents.evaluation import evaluate
from agents.in_context.agent import InContextAgent
from agents.in_context.model import CausalTransformer, ModelConfig, input_scale
from agents.training.cli import add_threads_flag, parse_env_kwargs, positive_int
from meta_envs.settings import max_trial_length


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="a --algo dpt run folder (default: an untrained model of the default shape)")
    parser.add_argument("--env", default="MetaBandit-v0", help="without --run: the env")
    parser.add_argument("--env-kwargs", default="num_arms=5,num_episodes=100", help="without --run: its kwargs")
    parser.add_argument("--tasks", type=positive_int, default=500, help="held-out tasks played (default 500)")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.run:
        from agents.training.algorithms import load_run_agent

        agent, spec = load_run_agent(args.run)
        model, env_id, env_kwargs = agent.model, spec.env_id, spec.env_kwargs
    else:
        env_id, env_kwargs = args.env, parse_env_kwargs(args.env_kwargs)
        env = gym.make(env_id, **env_kwargs)
        torch.manual_seed(0)
        model = CausalTransformer(
            ModelConfig(gym.spaces.flatdim(env.observation_space), int(env.action_space.n),
                        max_trial_length(env_id, env_kwargs)),
            input_scale(env.observation_space),
        )
        env.close()
    seconds = {}
    for name, context in (("cached", model.config.max_length), ("window", model.config.max_length - 1)):
        player = InContextAgent(model, context, torch.device("cpu"))
        start = time.perf_counter()
        result = evaluate(player, env_id, env_kwargs, num_tasks=args.tasks, seed=0)
        seconds[name] = time.perf_counter() - start
        print(f"{name:>6} (context {context}): {seconds[name]:7.1f} s for {args.tasks} trials, mean return {result.mean:.2f}")
    print(f"cached / window speed: {seconds['window'] / seconds['cached']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
