"""What an agent's behaviour says about its memory, beside the baselines on the same tasks.

    python scripts/probe_agent.py --agent rl2 --env-kwargs num_arms=5,num_episodes=100
    python scripts/probe_agent.py --agent rl2 --env MetaTabularMDP-v0 --out results/probe_mdp
    python scripts/probe_agent.py --agent examples.bayes_ucb_agent:make_agent --env-kwargs num_arms=10,num_episodes=100

``--agent`` is ``rl2`` (the shipped RL² agent of the setting), a baseline's result name,
``win_stay_lose_shift`` or ``m_run`` (bandits) or an agent factory ``pkg.mod:make_agent``. Every agent
runs on the same held-out tasks (:func:`agents.evaluation.evaluate`); the statistics are
defined in :mod:`agents.evaluation.probe`. Prints a Markdown table; ``--out DIR`` also
writes ``probe.json`` and ``probe.png`` (bandits: the per-pull regret curves; tabular
MDPs: the per-episode returns).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see agents.training.cli.add_threads_flag

from tqdm.auto import tqdm

from agents.evaluation.probe import PROBE_COLUMNS, PROBE_ENV_IDS, PROBE_REFERENCES, make_agent, probe
from agents.training.cli import add_threads_flag, parse_env_kwargs


def format_probe_table(env_id: str, statistics: dict[str, dict]) -> str:
    """A Markdown table: one row per agent, the family's :data:`PROBE_COLUMNS`."""
    columns = PROBE_COLUMNS[env_id]
    lines = ["| agent | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, values in statistics.items():
        cells = ["—" if values[c] is None else f"{values[c]:.3f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_probe(env_id: str, env_kwargs: dict, curves: dict[str, dict], path: Path) -> None:
    """The family's curve of every agent in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agents.evaluation.palette import method_style

    name = "regret_per_pull" if env_id == "MetaBandit-v0" else "per_episode"
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for agent, agent_curves in curves.items():
        values = agent_curves[name]
        style = method_style(agent)
        ax.plot(range(1, len(values) + 1), values, label=agent, color=style.color, marker=style.marker,
                markevery=max(1, len(values) // 10), markersize=5)
    setting = ", ".join(f"{k}={v}" for k, v in env_kwargs.items())
    ax.set_xlabel("pull" if name == "regret_per_pull" else "episode of the trial")
    ax.set_ylabel("mean regret of the pull (max p − p of the arm)" if name == "regret_per_pull" else "mean return")
    ax.set_title(f"{env_id} ({setting}): {name.replace('_', ' ')}")
    if name == "regret_per_pull":
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", required=True, help="rl2, a baseline's name, or pkg.mod:make_agent")
    parser.add_argument("--env", default="MetaBandit-v0", choices=PROBE_ENV_IDS)
    parser.add_argument("--env-kwargs", type=parse_env_kwargs, default={}, help="e.g. num_arms=5,num_episodes=100")
    parser.add_argument("--compare", default=None,
                        help="comma-separated agents to show beside it (default: the family's references, "
                             f"{ {env: ','.join(names) for env, names in PROBE_REFERENCES.items()} })")
    parser.add_argument("--tasks", type=int, default=1000, help="held-out tasks (one trial each; >= 2)")
    parser.add_argument("--seed", type=int, default=0, help="held-out task seed")
    parser.add_argument("--out", type=Path, default=None, help="write probe.json and probe.png here")
    add_threads_flag(parser)
    args = parser.parse_args()

    if args.tasks < 2:  # the memory read-out is fitted on one half of the tasks, scored on the other
        parser.error(f"--tasks must be at least 2, got {args.tasks}")
    compare = args.compare.split(",") if args.compare else list(PROBE_REFERENCES[args.env])
    names = [args.agent] + [name for name in compare if name != args.agent]
    try:  # an unknown name, a missing shipped agent, bad kwargs: one line, no traceback
        built = {name: make_agent(name, args.env, args.env_kwargs, args.seed) for name in names}
    except (ValueError, TypeError, ImportError, KeyError) as error:
        parser.error(str(error))
    results = {}
    for name, agent in tqdm(built.items(), unit="agent", file=sys.stderr):
        results[name] = probe(agent, args.env, args.env_kwargs, num_tasks=args.tasks, seed=args.seed)
    setting = next(iter(results.values())).env_kwargs
    print(f"{args.env} {setting}, {args.tasks} held-out tasks, seed {args.seed}\n")
    print(format_probe_table(args.env, {name: dict(result.statistics) for name, result in results.items()}))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        document = {"env_id": args.env, "env_kwargs": dict(setting), "num_tasks": args.tasks, "seed": args.seed,
                    "agents": {name: result.to_dict() for name, result in results.items()}}
        (args.out / "probe.json").write_text(json.dumps(document, indent=1))
        plot_probe(args.env, dict(setting), {name: dict(result.curves) for name, result in results.items()},
                   args.out / "probe.png")
        print(f"\nwrote {args.out / 'probe.json'} and {args.out / 'probe.png'}")


if __name__ == "__main__":
    main()
