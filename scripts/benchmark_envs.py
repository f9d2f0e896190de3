"""Environment throughput: env steps per second with random actions, resets included.

For each family it measures, in one run on this machine:
  * ``single``: one env through ``gymnasium.make`` (with Gymnasium's default wrappers),
  * ``sync``: ``gymnasium.vector.SyncVectorEnv`` over that env,
  * ``native``: the family's native vector env (``gymnasium.make_vec``),
  * ``gymnax``: the matching gymnax environment under ``jax.jit(jax.vmap(...))``,
    when ``gymnax`` is importable (``pip install -e ".[bench]"``),
  * ``numpy``: for families listed in ``NUMPY_PEERS``, an optimised bare-numpy loop
    doing the family's work (no trial layer, no checks, no RL² observation): its steps
    and, as the env does at trial ends, new tasks (``--numpy-steps-only``: steps only),
and prints a table with the ratios native / sync and native / numpy at each batch size.

    python scripts/benchmark_envs.py                         # every family, default sizes
    python scripts/benchmark_envs.py --families bandit --num-envs 1,1024,16384 --json out.json
    python scripts/benchmark_envs.py --families tabular_mdp --num-envs 16384 --numpy-steps-only
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
from meta_envs.tabular_mdp import TabularMDPTaskDistribution, inverse_cdf_table

#: family name -> (env ID, kwargs, gymnax ID or None)
FAMILIES: dict[str, tuple[str, dict, str | None]] = {
    "bandit": ("MetaBandit-v0", {}, "BernoulliBandit-misc"),
    "tabular_mdp": ("MetaTabularMDP-v0", {}, None),
    "maze": ("MetaMaze-v0", {}, "MetaMaze-misc"),
    "maze_large": ("MetaMazeLarge-v0", {}, None),
}


#: the clock of every measurement (``--cpu-time``: this process's CPU time)
_clock: Callable[[], float] = time.perf_counter


def _timed(step: Callable[[int], None], seconds: float, batch: int) -> float:
    """Call ``step(i)`` until ``seconds`` have passed; return env steps per second."""
    for i in range(3):  # warm-up: first reset, caches, jit compilations (gymnax compiles twice)
        step(i)
    calls, start = 0, _clock()
    while True:
        step(calls)
        calls += 1
        elapsed = _clock() - start
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
    """gymnax's env under ``jit(vmap(step))``; its step resets finished envs itself."""
    try:
        import gymnax
        import jax
    except ImportError:
        return None
    env, params = gymnax.make(gymnax_id)
    num_actions = env.action_space(params).n
    keys = jax.random.split(jax.random.PRNGKey(0), num_envs)
    _, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    actions = jax.random.randint(jax.random.PRNGKey(1), (64, num_envs), 0, num_actions)

    @jax.jit
    def advance(keys, state, action):
        keys = jax.vmap(lambda k: jax.random.split(k)[0])(keys)
        # (obs, state, reward, done, info), or (..., terminated, truncated, info) in gymnax >= 1.0
        out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)
        return keys, out[1], out[2]

    carry = [keys, state]

    def one(i: int) -> None:
        carry[0], carry[1], reward = advance(carry[0], carry[1], actions[i & 63])
        reward.block_until_ready()

    return _timed(one, seconds, num_envs)


def bench_numpy_tabular_mdp(kwargs: dict, num_envs: int, seconds: float, task_draws: bool = True) -> float:
    """The tabular-MDP work as one bare numpy loop over ``num_envs`` MDPs.

    Per step: gather the reward means, one normal draw, one inverse-CDF next-state draw
    (one uniform against the gathered cumulative rows), write the one-hot state
    observation. Every ``horizon`` steps the states go back to the initial state and,
    with ``task_draws``, every ``horizon * num_episodes`` steps new tasks are drawn with
    the env's own sampler, as the env does at its trial ends. The same task arrays and
    numpy operations as the env's dynamics, without the trial layer around them.
    """
    params = {"num_states": 10, "num_actions": 5, "horizon": 10, "num_episodes": 10, "initial_state": 0} | kwargs
    s, a, horizon = params["num_states"], params["num_actions"], params["horizon"]
    if isinstance(params["initial_state"], str):
        raise ValueError("the numpy peer runs a fixed initial state (an int initial_state)")
    trial_steps = horizon * params["num_episodes"]
    distribution = TabularMDPTaskDistribution(s, a, params["initial_state"])
    rng = np.random.default_rng(0)
    transitions, means = np.empty((s, num_envs, s, a)), np.empty(num_envs * s * a)
    thresholds = np.empty((num_envs * s * a, s - 1))

    def draw_tasks() -> None:
        distribution.draw(rng, transitions, means.reshape(num_envs, s, a))
        inverse_cdf_table(transitions.reshape(s, -1), thresholds)

    draw_tasks()
    row_base = np.arange(num_envs, dtype=np.int64) * (s * a)
    below, ones = np.empty((num_envs, s - 1), np.float32), np.ones(s - 1, np.float32)
    one_hot, obs = np.eye(s, dtype=np.float32), np.empty((num_envs, s), np.float32)
    actions = np.random.default_rng(0).integers(0, a, (64, num_envs))
    holder = {"states": np.full(num_envs, params["initial_state"], np.int64)}

    def step(i: int) -> None:
        rows = holder["states"] * a
        rows += actions[i & 63]
        rows += row_base
        rewards = means.take(rows)
        rewards += rng.standard_normal(num_envs)
        u = rng.random(num_envs)
        np.less_equal(thresholds.take(rows, axis=0), u[:, None], out=below, casting="unsafe")
        states = (below @ ones).astype(np.int64)
        if (i + 1) % horizon == 0:
            states[:] = params["initial_state"]
            if task_draws and (i + 1) % trial_steps == 0:
                draw_tasks()
        one_hot.take(states, axis=0, out=obs)
        holder["states"] = states

    return _timed(step, seconds, num_envs)


#: family name -> bare-numpy peer ``f(env_kwargs, num_envs, seconds, task_draws) -> steps/s``
NUMPY_PEERS: dict[str, Callable[[dict, int, float, bool], float]] = {"tabular_mdp": bench_numpy_tabular_mdp}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated: " + ", ".join(FAMILIES))
    parser.add_argument("--num-envs", default="1,1024,16384", help="comma-separated batch sizes")
    parser.add_argument("--sync-max", type=int, default=16384, help="largest batch for SyncVectorEnv")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--json", help="write the rows to this JSON file")
    parser.add_argument("--numpy-steps-only", action="store_true", help="numpy peers draw no new tasks")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure native and numpy this many times, alternating, and keep the best")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this process's CPU time, steadier on a shared machine "
                             "(single-threaded numpy only: multi-threaded gymnax would be overcounted)")
    args = parser.parse_args(argv)
    global _clock
    if args.cpu_time:
        _clock = time.process_time
    families = args.families.split(",")
    for family in families:
        if family not in FAMILIES:
            parser.error(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    sizes = [int(x) for x in args.num_envs.split(",")]

    rows = []
    header = (f"{'env':<28} {'num_envs':>8} {'single':>10} {'sync':>11} {'native':>13} {'gymnax':>11} "
              f"{'numpy':>13} {'native/sync':>11} {'native/numpy':>12}")
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
            native = bare = 0.0
            for _ in range(args.repeats):  # on a shared machine the best of a few is the least disturbed
                native = max(native, bench_vector(gym.make_vec(env_id, num_envs=n, **kwargs), args.seconds))
                if family in NUMPY_PEERS:
                    bare = max(bare, NUMPY_PEERS[family](kwargs, n, args.seconds, not args.numpy_steps_only))
            bare = bare or None
            peer = bench_gymnax(gymnax_id, n, args.seconds) if gymnax_id else None
            ratio = native / sync if sync else None
            over_bare = native / bare if bare else None
            rows.append({"env_id": env_id, "env_kwargs": kwargs, "num_envs": n, "single_steps_per_s": single,
                         "sync_steps_per_s": sync, "native_steps_per_s": native,
                         "gymnax_steps_per_s": peer, "numpy_steps_per_s": bare,
                         "numpy_task_draws": None if bare is None else not args.numpy_steps_only,
                         "native_over_sync": ratio, "native_over_numpy": over_bare})
            fmt = lambda v, w: f"{v:>{w},.0f}" if v is not None else f"{'-':>{w}}"  # noqa: E731
            print(f"{label:<28} {n:>8} {fmt(single, 10)} {fmt(sync, 11)} {fmt(native, 13)} {fmt(peer, 11)} "
                  f"{fmt(bare, 13)} {(f'{ratio:,.0f}x' if ratio else '-'):>11} "
                  f"{(f'{over_bare:.2f}x' if over_bare else '-'):>12}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
