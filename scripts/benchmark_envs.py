"""Environment throughput: env steps per second with random actions, resets included.

For each family it measures, in one run on this machine:
  * ``single``: one env through ``gymnasium.make`` (with Gymnasium's default wrappers),
  * ``sync``: ``gymnasium.vector.SyncVectorEnv`` over that env,
  * ``native``: the family's native vector env (``gymnasium.make_vec``),
  * ``gymnax``: the matching gymnax environment under ``jax.jit(jax.vmap(...))``,
    when ``gymnax`` is importable (``pip install -e ".[bench]"``),
and prints a table with the ratio native / sync at each batch size.

    python scripts/benchmark_envs.py                         # every family, default sizes
    python scripts/benchmark_envs.py --families bandit --num-envs 1,1024,16384 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

# One core, as the bars are stated: keep numpy's BLAS from spreading out.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np

import meta_envs  # noqa: F401  (registers the IDs)

#: family name -> (env ID, kwargs, gymnax ID or None)
FAMILIES: dict[str, tuple[str, dict, str | None]] = {
    "bandit": ("MetaBandit-v0", {}, "BernoulliBandit-misc"),
    "maze": ("MetaMaze-v0", {}, "MetaMaze-misc"),
    "maze_large": ("MetaMazeLarge-v0", {}, None),
}


def _timed(step: Callable[[int], None], seconds: float, batch: int) -> float:
    """Call ``step(i)`` until ``seconds`` have passed; return env steps per second."""
    step(0)  # warm-up (first reset, caches)
    calls, start = 0, time.perf_counter()
    while True:
        step(calls)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * batch / elapsed


def bench_single(env_id: str, kwargs: dict, seconds: float) -> float:
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, 1 << 16)

    def step(i: int) -> None:
        _, _, terminated, truncated, _ = env.step(int(actions[i & 0xFFFF]))
        if terminated or truncated:
            env.reset()

    return _timed(step, seconds, 1)


def bench_vector(envs: gym.vector.VectorEnv, seconds: float) -> float:
    envs.reset(seed=0)
    n = envs.num_envs
    actions = np.random.default_rng(0).integers(0, envs.single_action_space.n, (64, n))
    return _timed(lambda i: envs.step(actions[i & 63]), seconds, n)


def bench_gymnax(gymnax_id: str, num_envs: int, seconds: float) -> float | None:
    try:
        import gymnax
        import jax
    except ImportError:
        return None
    env, params = gymnax.make(gymnax_id)
    num_actions = env.action_space(params).n
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    key = jax.random.PRNGKey(0)
    keys = jax.random.split(key, num_envs)
    _, state = reset(keys, params)
    actions = jax.random.randint(key, (num_envs,), 0, num_actions)
    holder = {"state": state}

    def one(i: int) -> None:
        # the state comes second whether step returns 5 values (gymnax < 1.0) or 6 (>= 1.0)
        holder["state"] = step(keys, holder["state"], actions, params)[1]
        holder["state"].time.block_until_ready() if hasattr(holder["state"], "time") else None

    # step's output state can differ in dtype (weak types) from reset's, which retraces
    # and recompiles once: warm up on it too, outside the timed loop
    one(0)
    return _timed(one, seconds, num_envs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated: " + ", ".join(FAMILIES))
    parser.add_argument("--num-envs", default="1,1024,16384", help="comma-separated batch sizes")
    parser.add_argument("--sync-max", type=int, default=16384, help="largest batch for SyncVectorEnv")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--json", help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    families = args.families.split(",")
    for family in families:
        if family not in FAMILIES:
            parser.error(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    sizes = [int(x) for x in args.num_envs.split(",")]

    rows = []
    header = f"{'env':<28} {'num_envs':>8} {'single':>10} {'sync':>11} {'native':>13} {'gymnax':>11} {'native/sync':>11}"
    print(header)
    print("-" * len(header))
    for family in families:
        env_id, kwargs, gymnax_id = FAMILIES[family]
        label = env_id + ("" if not kwargs else " " + ",".join(f"{k}={v}" for k, v in kwargs.items()))
        single = bench_single(env_id, kwargs, args.seconds)
        for n in sizes:
            sync = None
            if n <= args.sync_max:
                sync = bench_vector(gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", **kwargs), args.seconds)
            native = bench_vector(gym.make_vec(env_id, num_envs=n, **kwargs), args.seconds)
            peer = bench_gymnax(gymnax_id, n, args.seconds) if gymnax_id else None
            ratio = native / sync if sync else None
            rows.append({"env_id": env_id, "env_kwargs": kwargs, "num_envs": n, "single_steps_per_s": single,
                         "sync_steps_per_s": sync, "native_steps_per_s": native,
                         "gymnax_steps_per_s": peer, "native_over_sync": ratio})
            fmt = lambda v, w: f"{v:>{w},.0f}" if v is not None else f"{'-':>{w}}"  # noqa: E731
            print(f"{label:<28} {n:>8} {fmt(single, 10)} {fmt(sync, 11)} {fmt(native, 13)} {fmt(peer, 11)} "
                  f"{(f'{ratio:,.0f}x' if ratio else '-'):>11}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
