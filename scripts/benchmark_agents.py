"""Training throughput of the RL² learners: env steps per second of whole iterations.

Measured in one run, on the same env (MetaBandit-v0, k=5 arms, n=100 pulls per trial):

* ``trpo_gru``: :class:`agents.rl2.RL2Trainer` with the paper's hyperparameters
  (250,000 steps = 2,500 whole trials per iteration); the time of full iterations,
  rollout + value fit + TRPO step, after one warm-up iteration;
* ``trpo_gru_layernorm``: the same with the layer-normalised GRU
  (``cell="layernorm_gru"``, :class:`agents.rl2.policy.LayerNormGRUCell`), which has no
  fused kernel;
* ``ppo_gru_layernorm``: the same engine and batch with the PPO-clip rule
  (:class:`agents.rl2.PPOConfig` defaults: 4 epochs x 5 minibatches of whole trials);
* ``recurrent_ppo``: sb3-contrib's ``RecurrentPPO`` (``MultiInputLstmPolicy``, SB3
  defaults otherwise: LSTM 256, separate critic LSTM, 10 epochs) over SB3's
  ``DummyVecEnv`` with large batches (64 envs x 128 steps, one 8192-step minibatch);
  the time of ``learn`` over whole rollouts + updates, after one warm-up rollout;
* ``recurrent_ppo_native``: the same over the native vector env
  (:class:`agents.recurrent_ppo.sb3_vec_env.NativeVecEnv`): what the adapter saves;
* ``recurrent_ppo_rl2``: the same over the native vector env with the policy
  ``--algo recurrent_ppo`` trains (:class:`agents.recurrent_ppo.RL2RecurrentPolicy`, LSTM,
  the same sizes; whole sequences per RNN call).

It prints a table (whole iterations, and the rollouts alone: acting and env steps
without the update), the ratios of the layer-normalised learners to trpo_gru, the ratios
trpo_gru / recurrent_ppo and recurrent_ppo_native,
recurrent_ppo_rl2 / recurrent_ppo per device, and the TRPO-GRU iteration's profile:
seconds per phase (rollout, value forward, gradient, natural gradient, line search,
value fit) and a compute ceiling measured in the same run. The ceiling is the time one
forward + backward pass of the policy over the whole batch takes, times the number of
such passes' worth of network work the method needs (:func:`passes_per_iteration`, from
the GRU sizes and the config: one rollout forward, the gradient's forward + backward, the
Fisher-vector products on the subsample, the line search's full forwards, and the value
GRU's forward and fit).

    python scripts/benchmark_agents.py                    # CPU (+ CUDA when available)
    python scripts/benchmark_agents.py --devices cpu --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

# OpenMP threads that spin while they wait for each other slow torch down 5-12x when
# other processes share the cores (measured on a 2-core machine); passive waiting does not.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gymnasium as gym
import torch

import meta_envs  # noqa: F401  (registers the IDs)
from agents.training.cli import add_threads_flag
from agents.rl2 import PPOConfig, RL2Config, RL2Trainer, TRPOConfig
from agents.rl2.policy import RecurrentNet

ENV_ID = "MetaBandit-v0"
ENV_KWARGS = {"num_arms": 5, "num_episodes": 100}
#: the timed phases of a TRPO-GRU iteration (metrics of agents.rl2.trainer)
PHASES = ("rollout_s", "value_forward_s", "gradient_s", "natural_gradient_s", "line_search_s", "value_fit_s")


def recurrent_flops(net: RecurrentNet) -> int:
    """Multiply-adds per step of a network's GRU (input and hidden matmuls): its cost per step."""
    gru = net.gru
    return 3 * gru.hidden_size * (gru.input_size + gru.hidden_size)


def passes_per_iteration(config: TRPOConfig, trainer: RL2Trainer, line_search_forwards: float) -> dict[str, float]:
    """The network passes one TRPO-GRU iteration needs, in forward passes of the policy over
    the whole batch (a backward pass costs two forwards). Each entry is one phase."""
    f = config.fvp_subsample
    value = recurrent_flops(trainer.value) / recurrent_flops(trainer.policy)
    return {
        "rollout": 1.0,  # one GRU-cell step per env step
        "gradient": 3.0,  # forward + backward
        # jacobian route: one forward with graph, then per product two probe forwards and a backward
        "natural_gradient": f * (1 + (config.cg_iterations + 1) * 4),
        "line_search": line_search_forwards,
        "value_forward": value,  # the values for GAE
        "value_fit": value * 3 * config.value_epochs,
    }


def policy_forward_backward_seconds(trainer: RL2Trainer, data, repeats: int = 3) -> float:
    """Seconds for one forward + backward pass of the policy over a whole batch of trials
    (the fastest of ``repeats``)."""
    params = list(trainer.policy.parameters())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        logits = trainer.policy(data.observations)[0]
        torch.autograd.grad(logits.logsumexp(-1).sum(), params)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        best = min(best, time.perf_counter() - start)
    return best


def bench_gru_kernels(device: torch.device, steps: int, trials: int, hidden: int = 256, repeats: int = 3) -> dict[str, float]:
    """Seconds of a forward and a forward + backward pass over ``[steps, trials]`` of a GRU:
    ``nn.GRU``'s kernel against the loop of fused GRU-cell calls ``RecurrentNet.forward``
    uses on the CPU (the fastest of ``repeats``)."""
    gru = torch.nn.GRU(1 + 5 + 1 + 1, hidden).to(device)
    x = torch.randn(steps, trials, gru.input_size, device=device, generator=torch.Generator(device).manual_seed(0))
    h0 = torch.zeros(1, trials, hidden, device=device)
    weights = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)

    def cell_loop() -> torch.Tensor:
        h, out = h0[0], []
        for x_t in x.unbind(0):
            h = torch.gru_cell(x_t, h, *weights)
            out.append(h)
        return torch.stack(out)

    passes = {"nn.GRU": lambda: gru(x, h0)[0], "gru_cell loop": cell_loop}
    timings = {}
    for name, forward in passes.items():
        for backward in (False, True):
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                with torch.set_grad_enabled(backward):
                    out = forward()
                    if backward:
                        out.sum().backward()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                best = min(best, time.perf_counter() - start)
            timings[f"{name} {'forward+backward' if backward else 'forward'}"] = best
    return timings


def bench_trpo_gru(device: torch.device, iterations: int, steps_per_iteration: int) -> dict[str, Any]:
    """Full TRPO-GRU iterations at the paper's hyperparameters (after a warm-up one):
    env steps per second, of the rollouts alone, the time of each phase, and the
    forward+backward-bound ceiling (:func:`passes_per_iteration`)."""
    trial_length = ENV_KWARGS["num_episodes"]
    config = TRPOConfig(steps_per_iteration=steps_per_iteration)
    trainer = RL2Trainer(ENV_ID, ENV_KWARGS, config, steps_per_iteration // trial_length, 0, device)
    trainer.train_iteration()
    rows = [trainer.train_iteration() for _ in range(iterations)]
    data = trainer.collector.collect(trainer.policy, steps_per_iteration, trainer.generator).data
    fb_seconds = policy_forward_backward_seconds(trainer, data)
    trainer.close()
    steps = sum(row["env_steps_per_s"] * (row["rollout_s"] + row["update_s"]) for row in rows)
    seconds = sum(row["rollout_s"] + row["update_s"] for row in rows)
    phases = {name: sum(row[name] for row in rows) / len(rows) for name in PHASES}
    phases["other"] = seconds / len(rows) - sum(phases.values())
    passes = passes_per_iteration(config, trainer, sum(r["line_search_forwards"] for r in rows) / len(rows))
    fb_passes = sum(passes.values()) / 3
    return {
        "steps_per_s": steps / seconds,
        "rollout_steps_per_s": steps / sum(row["rollout_s"] for row in rows),
        "phase_seconds": phases,
        "passes": passes,
        "forward_backward_s": fb_seconds,
        "forward_backward_passes": fb_passes,
        "ceiling_steps_per_s": (steps / len(rows)) / (fb_passes * fb_seconds),
    }


def bench_rl2(device: torch.device, config: RL2Config, iterations: int) -> tuple[float, float]:
    """Env steps per second of whole iterations of an RL² engine config (after a warm-up
    one), and of its rollouts alone."""
    trainer = RL2Trainer(ENV_ID, ENV_KWARGS, config, config.steps_per_iteration // ENV_KWARGS["num_episodes"], 0, device)
    trainer.train_iteration()
    rows = [trainer.train_iteration() for _ in range(iterations)]
    trainer.close()
    steps = sum(row["env_steps_per_s"] * (row["rollout_s"] + row["update_s"]) for row in rows)
    return steps / sum(row["rollout_s"] + row["update_s"] for row in rows), steps / sum(row["rollout_s"] for row in rows)


def bench_recurrent_ppo(
    device: torch.device, rollouts: int, num_envs: int, n_steps: int, native: bool = False, rl2_policy: bool = False
) -> tuple[float, float]:
    """Env steps per second of RecurrentPPO's ``learn`` over ``rollouts`` rollouts + updates,
    and of the rollouts alone.

    :param native: step the native vector env through :class:`agents.recurrent_ppo.sb3_vec_env.NativeVecEnv`
        instead of SB3's ``DummyVecEnv`` of single envs.
    :param rl2_policy: train :class:`agents.recurrent_ppo.RL2RecurrentPolicy` instead of
        sb3-contrib's ``MultiInputLstmPolicy``.
    """
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.recurrent_ppo import RL2RecurrentPolicy
    from agents.recurrent_ppo.sb3_vec_env import make_native_vec_env

    if native:
        venv = make_native_vec_env(ENV_ID, num_envs, **ENV_KWARGS)
    else:
        venv = DummyVecEnv([lambda: gym.make(ENV_ID, **ENV_KWARGS) for _ in range(num_envs)])
    batch = num_envs * n_steps
    policy = RL2RecurrentPolicy if rl2_policy else "MultiInputLstmPolicy"
    model = RecurrentPPO(policy, venv, n_steps=n_steps, batch_size=batch, seed=0, device=device)
    class RolloutTimer(BaseCallback):
        seconds = 0.0

        def _on_rollout_start(self) -> None:
            self.start = time.perf_counter()

        def _on_rollout_end(self) -> None:
            self.seconds += time.perf_counter() - self.start

        def _on_step(self) -> bool:
            return True

    model.learn(batch)  # warm-up rollout + update
    timer = RolloutTimer()
    start = time.perf_counter()
    model.learn(rollouts * batch, callback=timer, reset_num_timesteps=False)
    elapsed = time.perf_counter() - start
    venv.close()
    return rollouts * batch / elapsed, rollouts * batch / timer.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_devices = "cpu,cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--devices", default=default_devices, help=f"comma-separated (default {default_devices})")
    add_threads_flag(parser)
    parser.add_argument("--trpo-iterations", type=int, default=2, help="timed TRPO-GRU iterations")
    parser.add_argument("--trpo-steps", type=int, default=250_000, help="steps per TRPO-GRU iteration (paper: 250,000)")
    parser.add_argument("--ppo-rollouts", type=int, default=2, help="timed RecurrentPPO rollouts")
    parser.add_argument("--ppo-envs", type=int, default=64, help="RecurrentPPO envs")
    parser.add_argument("--ppo-steps", type=int, default=128, help="RecurrentPPO n_steps (>= the 100-step trial)")
    parser.add_argument("--trpo-only", action="store_true", help="measure TRPO-GRU alone (its profile and ceiling)")
    parser.add_argument("--gru-kernels", action="store_true",
                        help="only time nn.GRU against the GRU-cell loop on the batch (forward, forward+backward)")
    parser.add_argument("--json", help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    print(f"{ENV_ID} {ENV_KWARGS}, torch threads {args.threads}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    for name in args.devices.split(","):
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            parser.error("--devices includes cuda but torch sees no CUDA device")
        if args.gru_kernels:
            trials = args.trpo_steps // ENV_KWARGS["num_episodes"]
            for kernel, seconds in bench_gru_kernels(device, ENV_KWARGS["num_episodes"], trials).items():
                print(f"GRU(256) over [{ENV_KWARGS['num_episodes']}, {trials}] on {name}: {kernel:<32} {seconds:6.2f} s")
            continue
        trpo = bench_trpo_gru(device, args.trpo_iterations, args.trpo_steps)
        measured = {"trpo_gru": (trpo["steps_per_s"], trpo["rollout_steps_per_s"])}
        if not args.trpo_only:
            layernorm = {"cell": "layernorm_gru", "update_gate_bias": 1.0, "steps_per_iteration": args.trpo_steps}
            measured.update({
                "trpo_gru_layernorm": bench_rl2(device, TRPOConfig(**layernorm), args.trpo_iterations),
                "ppo_gru_layernorm": bench_rl2(device, PPOConfig(**layernorm), args.trpo_iterations),
            })
            measured.update({
                "recurrent_ppo": bench_recurrent_ppo(device, args.ppo_rollouts, args.ppo_envs, args.ppo_steps),
                "recurrent_ppo_native": bench_recurrent_ppo(
                    device, args.ppo_rollouts, args.ppo_envs, args.ppo_steps, native=True
                ),
                "recurrent_ppo_rl2": bench_recurrent_ppo(
                    device, args.ppo_rollouts, args.ppo_envs, args.ppo_steps, native=True, rl2_policy=True
                ),
            })
        print(f"\n{'algo':<22} {'device':<8} {'steps/s':>12} {'rollout steps/s':>16}")
        for algo, (steps_per_s, rollout_steps_per_s) in measured.items():
            row = {"algo": algo, "device": name, "env_id": ENV_ID, "env_kwargs": ENV_KWARGS, "threads": args.threads,
                   "steps_per_s": steps_per_s, "rollout_steps_per_s": rollout_steps_per_s}
            if algo == "trpo_gru":
                row.update({k: v for k, v in trpo.items() if k not in row})
            rows.append(row)
            print(f"{algo:<22} {name:<8} {steps_per_s:>12,.0f} {rollout_steps_per_s:>16,.0f}")
        for algo in ("trpo_gru_layernorm", "ppo_gru_layernorm") if not args.trpo_only else ():
            ratios = [measured[algo][i] / measured["trpo_gru"][i] for i in (0, 1)]
            print(f"ratio {algo} / trpo_gru on {name}: {ratios[0]:.2f}x (rollouts {ratios[1]:.2f}x)")
        for algo in ("trpo_gru", "recurrent_ppo_native", "recurrent_ppo_rl2") if not args.trpo_only else ():
            ratios = [measured[algo][i] / measured["recurrent_ppo"][i] for i in (0, 1)]
            print(f"ratio {algo} / recurrent_ppo on {name}: {ratios[0]:.1f}x (rollouts {ratios[1]:.1f}x)")
        print(format_profile(trpo, args.trpo_steps), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)
    return 0


def format_profile(trpo: dict[str, Any], steps_per_iteration: int) -> str:
    """The TRPO-GRU iteration's phases and its forward+backward-bound ceiling, as text."""
    total = sum(trpo["phase_seconds"].values())
    lines = [f"\ntrpo_gru iteration ({steps_per_iteration:,} steps): {total:.2f} s"]
    for phase, seconds in trpo["phase_seconds"].items():
        name = phase.removesuffix("_s")
        count = trpo["passes"].get(name)
        note = "" if count is None else f"  network work of {count:.2f} policy forward passes"
        lines.append(f"  {name:<18} {seconds:7.2f} s  {100 * seconds / total:5.1f}%{note}")
    lines.append(
        f"ceiling: one policy forward+backward over the batch takes {trpo['forward_backward_s']:.2f} s; "
        f"the method needs {trpo['forward_backward_passes']:.2f} forward+backward passes' worth of network work "
        f"-> {trpo['ceiling_steps_per_s']:,.0f} steps/s; trpo_gru reaches "
        f"{trpo['steps_per_s'] / trpo['ceiling_steps_per_s']:.2f}x of it"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
