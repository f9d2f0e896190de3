"""Does a bandit agent treat every arm alike? Its pulls and its win-stay, arm by arm.

    python scripts/studies/arm_preference.py agents/pretrained/trpo_gru-bandit-k50-n100
    python scripts/studies/arm_preference.py docs/ablations/trpo_ln_k50n100_tied_head --favourites 5

Arms are exchangeable under the task distribution, so an agent that learnt the task's
structure plays every arm alike: over many tasks its pulls spread evenly, and it stays on
an arm that just paid equally often whichever arm it is. An agent whose network learnt
"stay" for a few arms only keeps coming back to those. The script runs the agent through
the behavioural probe (:func:`agents.evaluation.probe.probe`: the held-out tasks of the
protocol) and prints, for its ``--favourites`` most-pulled arms and for the rest: the share
of all pulls, of first pulls and of switches that go to them, and P(stay | win) and
P(stay | loss) after pulls of them. It also prints the probe's ``p_switch_to_new`` and
``arms_tried``. (Index-order baselines such as Greedy or m-run are not label-symmetric
either: they start at arm 0. The question is for learnt agents.)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see agents.training.cli.add_threads_flag

import numpy as np

from agents.evaluation.probe import make_agent, probe
from agents.training.cli import add_threads_flag
from agents.training.run_folder import RunFolder
from meta_envs.settings import env_setting


def arm_preference(
    actions: np.ndarray, rewards: np.ndarray, num_arms: int, favourites: int
) -> dict[str, dict[str, float]]:
    """Pull shares and stay rates on the ``favourites`` most-pulled arms and on the others.

    :param actions: ``(num_tasks, n)`` arms pulled.
    :param rewards: ``(num_tasks, n)`` their rewards.
    :param num_arms: the bandit's arms.
    :param favourites: how many of the most-pulled arms form the first group (< ``num_arms``).
    :return: ``{"favourites": {...}, "others": {...}}`` with ``arms``, ``pulls``, ``first_pulls``,
        ``switch_targets``, ``p_stay_after_win``, ``p_stay_after_loss``.
    """
    counts = np.bincount(actions.ravel(), minlength=num_arms)
    top = np.argsort(-counts, kind="stable")[:favourites]
    stayed = actions[:, 1:] == actions[:, :-1]
    won = rewards[:, :-1] > 0.5
    switch_targets = actions[:, 1:][~stayed]
    rows = {}
    for name, members in (("favourites", np.isin(actions, top)), ("others", ~np.isin(actions, top))):
        before = members[:, :-1]
        rows[name] = {
            "arms": float(len(top) if name == "favourites" else num_arms - len(top)),
            "pulls": float(members.mean()),
            "first_pulls": float(members[:, 0].mean()),
            "switch_targets": float(np.isin(switch_targets, top).mean() if name == "favourites"
                                    else (~np.isin(switch_targets, top)).mean()),
            "p_stay_after_win": float(stayed[before & won].mean()) if (before & won).any() else float("nan"),
            "p_stay_after_loss": float(stayed[before & ~won].mean()) if (before & ~won).any() else float("nan"),
        }
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run folder of scripts/train.py trained on MetaBandit-v0")
    parser.add_argument("--favourites", type=int, default=5, help="how many most-pulled arms count as favourites")
    parser.add_argument("--tasks", type=int, default=1000, help="held-out tasks")
    parser.add_argument("--seed", type=int, default=0, help="held-out task seed")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    if not Path(args.run, "config.json").is_file():
        parser.error(f"{args.run} is not a run folder (no config.json)")
    spec = RunFolder(args.run).read_spec()
    if spec.env_id != "MetaBandit-v0":
        parser.error(f"{args.run} was trained on {spec.env_id}; this study is for MetaBandit-v0")
    num_arms = int(env_setting(spec.env_id, spec.env_kwargs)["num_arms"])  # defaults filled in
    if not 1 <= args.favourites < num_arms:
        parser.error(f"--favourites must be in [1, {num_arms - 1}] (fewer than the arms), got {args.favourites}")
    result = probe(make_agent(args.run, spec.env_id, spec.env_kwargs), spec.env_id, spec.env_kwargs,
                   num_tasks=args.tasks, seed=args.seed)
    trajectories = result.trajectories
    rows = arm_preference(trajectories.actions, trajectories.rewards, num_arms, args.favourites)
    columns = ["arms", "pulls", "first_pulls", "switch_targets", "p_stay_after_win", "p_stay_after_loss"]
    print(f"{args.run}: {spec.env_kwargs}, {args.tasks} held-out tasks of seed {args.seed}; trial return "
          f"{result.statistics['trial_return']:.2f}, arms tried {result.statistics['arms_tried']:.2f}, "
          f"p_switch_to_new {result.statistics['p_switch_to_new']:.3f}\n")
    print("| group | " + " | ".join(columns) + " |\n" + "|---" * (len(columns) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.3g}" for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
