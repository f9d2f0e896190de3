"""Draw one MetaMaze-v0 trial as the README's picture (docs/maze.png), optionally as a GIF.

The trial shows what a meta-learner should do: in episode 1 the agent does not know
where the goal is and explores (here by following the wall on its right, using only
its egocentric observation); in episode 2 it walks the shortest path to the goal it
found (here the map-knowing shortest path, the ceiling a learner can reach).

    python scripts/render_maze.py                          # writes docs/maze.png
    python scripts/render_maze.py --seed 1 --gif trial.gif # also a GIF of the whole trial
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import meta_envs  # noqa: E402,F401  (registers the IDs)
from meta_envs.maze import FORWARD, TURN_LEFT, TURN_RIGHT, save_gif  # noqa: E402
from meta_envs.maze.rendering import egocentric_pixels  # noqa: E402


def wall_follower_action(obs, view_size: int, pending: list[int]) -> int:
    """Right-hand rule from the symbolic view: turn right where the right side is open."""
    if pending:
        return pending.pop()
    walls = obs["obs"].reshape(2, view_size, view_size)[0]
    me = view_size // 2
    if not walls[-1, me + 1]:  # open on the right: turn, then step into it
        pending.append(FORWARD)
        return TURN_RIGHT
    if not walls[-2, me]:
        return FORWARD
    return TURN_LEFT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=6, help="seed of the maze")
    parser.add_argument("--out", default="docs/maze.png", help="PNG to write")
    parser.add_argument("--gif", help="also write the whole trial to this GIF")
    args = parser.parse_args(argv)

    env = gym.make("MetaMaze-v0", render_mode="rgb_array")
    if args.gif:
        env = gym.wrappers.RenderCollection(env)
    maze_env = env.unwrapped
    view_size = maze_env.view_size
    obs, info = env.reset(seed=args.seed)

    # Episode 1: explore; keep the last picture before the goal and the first pixel view
    # that has the goal in it.
    pending: list[int] = []
    steps_1, in_sight, before_goal = 0, None, None
    while not info["episode_done"]:
        walls, goal = obs["obs"].reshape(2, 1, -1)
        if in_sight is None and goal.any():
            in_sight = egocentric_pixels(walls + 2 * goal, view_size)[0]
        before_goal = maze_env.render()
        obs, _, _, _, info = env.step(wall_follower_action(obs, view_size, pending))
        steps_1 += 1
    # Episode 2: straight to the goal.
    actions_2 = maze_env.task.shortest_path_actions()
    for action in actions_2:
        obs, _, terminated, _, info = env.step(action)
    if not terminated:
        raise RuntimeError("the trial should be over after two episodes")

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.9), gridspec_kw={"width_ratios": [1, 1, 0.62]})
    panels = [
        (before_goal, f"episode 1: explore ({steps_1} steps)"),
        (maze_env.render(), f"episode 2: go straight ({len(actions_2)} steps)"),
        (in_sight, "the agent's view (rgb obs)\nwhen the goal comes in sight"),
    ]
    for ax, (image, title) in zip(axes, panels):
        ax.imshow(image)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"MetaMaze-v0, one trial of 2 episodes in a 5x5-cell maze (shortest path "
        f"{info['shortest_path_length']} moves, {info['optimal_episode_length']} actions with turns)",
        fontsize=10,
    )
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}: episode 1 took {steps_1} steps, episode 2 {len(actions_2)}")
    if args.gif:
        print(f"wrote {save_gif(env.render(), args.gif, fps=8)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
