"""How many trials the TRPO-GRU Fisher-vector products need: the natural-gradient step
computed on a subsample of a batch against the one computed on the whole batch.

    python scripts/studies/fvp_subsample.py                      # MetaBandit k=5, n=100, paper batch
    python scripts/studies/fvp_subsample.py --fractions 1,0.1,0.05 --warmup-iterations 5
    python scripts/studies/fvp_subsample.py --run docs/ablations/trpo_gru_k50n100_from_k50n10 \
        --num-envs 500 --steps 50000 --fractions 1,0.25,0.05

A trainer with the paper's hyperparameters runs ``--warmup-iterations`` iterations (so
the policy is no longer uniform), or, with ``--run``, takes a TRPO run's env,
hyperparameters and latest networks as they are; it collects one more batch and computes
the full TRPO step (conjugate gradient on Fisher-vector products, scaled to
``½ sᵀFs = max_kl``) with the Fisher matrix averaged over each fraction of the batch's
trials. For each fraction it prints the seconds taken, the cosine between that step and
the whole-batch step, their norm ratio, the mean KL of the full step measured on the whole
batch, and what the trainer's line search makes of the step: the first backtrack whose
whole-batch KL is within ``max_kl`` and whose surrogate improves (``-`` if none, a
rollback), with that KL and gain. This is the measurement behind
``TRPOConfig.fvp_subsample``'s default.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time

# see agents.training.cli.add_threads_flag
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

import meta_envs  # noqa: F401  (registers the IDs)
from agents.training.cli import add_threads_flag, parse_env_kwargs
from agents.training.run_folder import RunFolder
from agents.rl2 import RL2Trainer, TRPOConfig
from agents.rl2.trials import masked_mean
from agents.rl2.trpo import (
    assign_flat_parameters_,
    categorical_kl,
    flat_parameters,
    line_search,
    natural_gradient_step,
    surrogate_gradient,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=None,
                        help="a trpo_gru run folder: study its latest networks with its env and hyperparameters "
                             "(--env, --env-kwargs and --warmup-iterations are then not used; the batch is still "
                             "--steps over --num-envs, so give the run's own)")
    parser.add_argument("--env", default="MetaBandit-v0", help="a meta_envs ID")
    parser.add_argument("--env-kwargs", default="num_arms=5,num_episodes=100", help="the family's kwargs")
    parser.add_argument("--steps", type=int, default=250_000, help="steps per iteration (paper: 250,000)")
    parser.add_argument("--num-envs", type=int, default=2500, help="sub-envs (2,500 x 100-pull trials = 250,000 steps)")
    parser.add_argument("--warmup-iterations", type=int, default=3, help="training iterations before the study")
    parser.add_argument("--fractions", default="1,0.2,0.1,0.05,0.02,0.01", help="subsample fractions, the first is the reference")
    parser.add_argument("--fvp", default=None, choices=["jacobian", "kl_grad_diff", "exact"],
                        help="the Fisher-vector product's route (default: the config's)")
    parser.add_argument("--seed", type=int, default=0)
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    fractions = [float(f) for f in args.fractions.split(",")]
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        parser.error(f"--fractions must be numbers in (0, 1], got {args.fractions!r}")
    if args.run is None:
        env_id, env_kwargs = args.env, parse_env_kwargs(args.env_kwargs)
        config = TRPOConfig(steps_per_iteration=args.steps)
    else:
        try:
            spec = RunFolder(args.run).read_spec()
        except FileNotFoundError as error:
            parser.error(str(error))
        if spec.algo != "trpo_gru":
            parser.error(f"--run {args.run} is a {spec.algo} run; this study is of the TRPO step (trpo_gru)")
        if not RunFolder(args.run).latest_checkpoint.is_file():
            parser.error(f"--run {args.run} has no checkpoint yet ({RunFolder(args.run).latest_checkpoint})")
        env_id, env_kwargs = spec.env_id, spec.env_kwargs
        config = TRPOConfig(**{**spec.hyperparameters, "steps_per_iteration": args.steps})

    if args.fvp is not None:
        config = dataclasses.replace(config, fvp=args.fvp)
    trainer = RL2Trainer(env_id, env_kwargs, config, num_envs=args.num_envs, seed=args.seed, device=torch.device("cpu"))
    if args.run is None:
        for _ in range(args.warmup_iterations):
            trainer.train_iteration()
    else:
        trainer.load_networks(args.run)
    data = trainer.collector.collect(trainer.policy, args.steps, trainer.generator).data
    with torch.no_grad():
        values = trainer.value.values(data.observations)
    advantages = trainer.advantages(data, values)[0]
    policy = trainer.policy
    gradient, old_logits, old_log_prob, loss_before = surrogate_gradient(policy, data, advantages, config.entropy_coef)
    theta = flat_parameters(policy)
    generator = torch.Generator().manual_seed(args.seed)
    print(f"{env_id} {env_kwargs}: {data.num_trials} trials, {int(data.mask.sum())} steps")
    print(f"{'fraction':>8} {'trials':>7} {'seconds':>8} {'cosine':>7} {'norm ratio':>10} {'batch KL of full step':>22}"
          f" {'accepted backtrack':>18} {'its KL':>8} {'its gain':>9}")
    reference = None
    for fraction in fractions:
        start = time.perf_counter()
        chosen = torch.randperm(data.num_trials, generator=generator)[: max(1, math.ceil(fraction * data.num_trials))]
        step = natural_gradient_step(policy, data.columns(chosen), gradient, config)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            assign_flat_parameters_(policy, theta + step)
            kl = masked_mean(categorical_kl(old_logits, policy(data.observations)[0]), data.mask).item()
            assign_flat_parameters_(policy, theta)
        reference = step if reference is None else reference
        cosine = (step @ reference / (step.norm() * reference.norm())).item()
        ratio = (step.norm() / reference.norm()).item()
        # the trainer's line search, judged on the whole batch (no subsample screening)
        backtracks, accepted_kl, gain = line_search(
            policy, data, step, old_logits, old_log_prob, advantages, loss_before, config
        )[:3]
        assign_flat_parameters_(policy, theta)
        print(f"{fraction:>8g} {len(chosen):>7} {seconds:>8.1f} {cosine:>7.3f} {ratio:>10.3f} {kl:>22.4f}"
              f" {'-' if backtracks is None else backtracks:>18} {accepted_kl:>8.4f} {gain:>9.2e}", flush=True)
    trainer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
