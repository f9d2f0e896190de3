"""Training throughput of the RL² learners: env steps per second of whole iterations.

Measured in one run, on the same env (MetaBandit-v0, k=5 arms, n=100 pulls per trial):

* ``trpo_gru``: :class:`agents.trpo_gru.TRPOTrainer` with the paper's hyperparameters
  (250,000 steps = 2,500 whole trials per iteration); the time of full iterations,
  rollout + value fit + TRPO step, after one warm-up iteration;
* ``recurrent_ppo``: sb3-contrib's ``RecurrentPPO`` (``MultiInputLstmPolicy``, SB3
  defaults otherwise: LSTM 256, separate critic LSTM, 10 epochs) over SB3's
  ``DummyVecEnv`` with large batches (64 envs x 128 steps, one 8192-step minibatch);
  the time of ``learn`` over whole rollouts + updates, after one warm-up rollout;
* ``recurrent_ppo_native``: the same over the native vector env
  (:class:`agents.sb3_vec_env.NativeVecEnv`): what the adapter saves;
* ``recurrent_ppo_rl2``: the same over the native vector env with the policy
  ``--algo recurrent_ppo`` trains (:class:`agents.recurrent_ppo.RL2RecurrentPolicy`, LSTM,
  the same sizes; whole sequences per RNN call).

It prints a table (whole iterations, and the rollouts alone: acting and env steps
without the update) and the ratios trpo_gru / recurrent_ppo and recurrent_ppo_native,
recurrent_ppo_rl2 / recurrent_ppo per device.

    python scripts/benchmark_agents.py                    # CPU (+ CUDA when available)
    python scripts/benchmark_agents.py --devices cpu --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# OpenMP threads that spin while they wait for each other slow torch down 5-12x when
# other processes share the cores (measured on a 2-core machine); passive waiting does not.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gymnasium as gym
import torch

import meta_envs  # noqa: F401  (registers the IDs)
from agents.trpo_gru import TRPOConfig, TRPOTrainer

ENV_ID = "MetaBandit-v0"
ENV_KWARGS = {"num_arms": 5, "num_episodes": 100}


def bench_trpo_gru(device: torch.device, iterations: int, steps_per_iteration: int) -> tuple[float, float]:
    """Env steps per second of ``iterations`` full TRPO-GRU iterations (after a warm-up one),
    and of their rollouts alone."""
    trial_length = ENV_KWARGS["num_episodes"]
    config = TRPOConfig(steps_per_iteration=steps_per_iteration)
    trainer = TRPOTrainer(ENV_ID, ENV_KWARGS, config, steps_per_iteration // trial_length, 0, device)
    trainer.train_iteration()
    steps, start, rollout_s = trainer.env_steps, time.perf_counter(), 0.0
    for _ in range(iterations):
        rollout_s += trainer.train_iteration()["rollout_s"]
    elapsed = time.perf_counter() - start
    trainer.close()
    return (trainer.env_steps - steps) / elapsed, (trainer.env_steps - steps) / rollout_s


def bench_recurrent_ppo(
    device: torch.device, rollouts: int, num_envs: int, n_steps: int, native: bool = False, rl2_policy: bool = False
) -> tuple[float, float]:
    """Env steps per second of RecurrentPPO's ``learn`` over ``rollouts`` rollouts + updates,
    and of the rollouts alone.

    :param native: step the native vector env through :class:`agents.sb3_vec_env.NativeVecEnv`
        instead of SB3's ``DummyVecEnv`` of single envs.
    :param rl2_policy: train :class:`agents.recurrent_ppo.RL2RecurrentPolicy` instead of
        sb3-contrib's ``MultiInputLstmPolicy``.
    """
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.recurrent_ppo import RL2RecurrentPolicy
    from agents.sb3_vec_env import make_native_vec_env

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
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads (default: all cores)")
    parser.add_argument("--trpo-iterations", type=int, default=2, help="timed TRPO-GRU iterations")
    parser.add_argument("--trpo-steps", type=int, default=250_000, help="steps per TRPO-GRU iteration (paper: 250,000)")
    parser.add_argument("--ppo-rollouts", type=int, default=2, help="timed RecurrentPPO rollouts")
    parser.add_argument("--ppo-envs", type=int, default=64, help="RecurrentPPO envs")
    parser.add_argument("--ppo-steps", type=int, default=128, help="RecurrentPPO n_steps (>= the 100-step trial)")
    parser.add_argument("--json", help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    print(f"{ENV_ID} {ENV_KWARGS}, torch threads {args.threads}")
    print(f"{'algo':<22} {'device':<8} {'steps/s':>12} {'rollout steps/s':>16}")
    for name in args.devices.split(","):
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            parser.error("--devices includes cuda but torch sees no CUDA device")
        measured = {
            "trpo_gru": bench_trpo_gru(device, args.trpo_iterations, args.trpo_steps),
            "recurrent_ppo": bench_recurrent_ppo(device, args.ppo_rollouts, args.ppo_envs, args.ppo_steps),
            "recurrent_ppo_native": bench_recurrent_ppo(
                device, args.ppo_rollouts, args.ppo_envs, args.ppo_steps, native=True
            ),
            "recurrent_ppo_rl2": bench_recurrent_ppo(
                device, args.ppo_rollouts, args.ppo_envs, args.ppo_steps, native=True, rl2_policy=True
            ),
        }
        for algo, (steps_per_s, rollout_steps_per_s) in measured.items():
            rows.append({"algo": algo, "device": name, "env_id": ENV_ID, "env_kwargs": ENV_KWARGS,
                         "steps_per_s": steps_per_s, "rollout_steps_per_s": rollout_steps_per_s})
            print(f"{algo:<22} {name:<8} {steps_per_s:>12,.0f} {rollout_steps_per_s:>16,.0f}", flush=True)
        for algo in ("trpo_gru", "recurrent_ppo_native", "recurrent_ppo_rl2"):
            ratios = [measured[algo][i] / measured["recurrent_ppo"][i] for i in (0, 1)]
            print(f"ratio {algo} / recurrent_ppo on {name}: {ratios[0]:.1f}x (rollouts {ratios[1]:.1f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
