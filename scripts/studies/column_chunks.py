"""How wide a whole-trial pass should be on the CPU: TRPO iterations with the batch's trials
run in chunks of different widths (``agents.rl2.policy.CPU_COLUMN_CHUNK``).

    python scripts/studies/column_chunks.py                       # chunks of 2500 (one pass), 512, 256
    python scripts/studies/column_chunks.py --chunks 2500,512 --iterations 1

MetaBandit k=5, n=100 at the paper's batch (250,000 steps = 2,500 trials per iteration),
both recurrent cores (``gru``, ``layernorm_gru`` with the memory-biased update gate; and the
latter with a plain-GRU value baseline), one warm-up iteration and then ``--iterations`` timed ones each. Prints env steps per second
and the seconds of each phase of the iteration, and the layer-normalised core's speed as a
fraction of the plain GRU's at the same chunk width and at one pass (the engine before
chunking).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

import agents.rl2.policy as policy_module
import meta_envs  # noqa: F401  (registers the IDs)
from agents.rl2.config import TRPOConfig
from agents.rl2.trainer import RL2Trainer
from agents.training.cli import add_threads_flag, positive_int

ENV_ID, ENV_KWARGS = "MetaBandit-v0", {"num_arms": 5, "num_episodes": 100}
PHASES = ("rollout_s", "value_forward_s", "gradient_s", "natural_gradient_s", "line_search_s", "value_fit_s")
CORES = {
    "gru": {},
    "layernorm_gru": {"cell": "layernorm_gru", "update_gate_bias": 1.0},
    # the policy's core normalised, the value baseline's the fused plain GRU (TRPOConfig.value_cell)
    "layernorm+gru_value": {"cell": "layernorm_gru", "update_gate_bias": 1.0, "value_cell": "gru"},
}


def measure(chunk: int, core: str, iterations: int, steps: int) -> tuple[float, dict[str, float]]:
    """Env steps per second of ``iterations`` TRPO iterations (after a warm-up one) with whole-trial
    passes ``chunk`` trials wide, and the mean seconds of each phase."""
    policy_module.CPU_COLUMN_CHUNK = chunk
    config = TRPOConfig(steps_per_iteration=steps, **CORES[core])
    trainer = RL2Trainer(ENV_ID, ENV_KWARGS, config, steps // ENV_KWARGS["num_episodes"], 0, torch.device("cpu"))
    trainer.train_iteration()
    rows = [trainer.train_iteration() for _ in range(iterations)]
    trainer.close()
    seconds = sum(row["rollout_s"] + row["update_s"] for row in rows)
    phases = {name: sum(row[name] for row in rows) / iterations for name in PHASES}
    return steps * iterations / seconds, phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", default="2500,512,256", help="comma-separated chunk widths (trials)")
    parser.add_argument("--iterations", type=positive_int, default=2, help="timed iterations per measurement")
    parser.add_argument("--steps", type=positive_int, default=250_000, help="steps per iteration (paper: 250,000)")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    chunks = [positive_int(c) for c in args.chunks.split(",")]
    speed: dict[tuple[int, str], float] = {}
    print(f"{ENV_ID} {ENV_KWARGS}, {args.steps:,} steps per iteration, torch threads {args.threads}")
    print(f"{'chunk':>6} {'core':<20} {'steps/s':>9}  " + " ".join(f"{p[:-2]:>17}" for p in PHASES))
    for chunk in chunks:
        for core in CORES:
            speed[chunk, core], phases = measure(chunk, core, args.iterations, args.steps)
            print(f"{chunk:>6} {core:<20} {speed[chunk, core]:>9,.0f}  "
                  + " ".join(f"{phases[p]:>16.2f}s" for p in PHASES), flush=True)
    widest = max(chunks)
    for chunk in chunks:
        for core in list(CORES)[1:]:
            ratio = speed[chunk, core] / speed[chunk, "gru"]
            before = speed[chunk, core] / speed[widest, "gru"]
            print(f"chunk {chunk}: {core} / gru {ratio:.2f}x at this width, {before:.2f}x of gru at {widest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
