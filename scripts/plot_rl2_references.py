"""Figures of the shipped RL² reference agents: learning curves per family, and fast learning.

    python scripts/plot_rl2_references.py            # writes docs/rl2_learning_curves_<family>.png, docs/rl2_fast_learning.png

* ``docs/rl2_learning_curves_<family>.png`` (bandit, mdp, maze): the mean trial return of
  each iteration's training trials against env steps, one panel per shipped run
  (``agents/pretrained/*/progress.csv``), with dashed lines for the random policy, greedy and
  the cell's reference on the 1000 held-out tasks, and the paper's RL² number where it has one.
* ``docs/rl2_fast_learning.png``: per suite cell with a shipped agent, the mean return of
  each episode index within the trial on the 1000 held-out tasks, the RL² agent against
  the family's classic yardstick (Gittins for bandits, PSRL for MDPs, the explorer for
  mazes) and the random policy, from ``agents/data/suite_references.json`` (rebuild it
  with ``scripts/build_suite_references.py`` after training).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from agents.benchmark.references import load_references, reference_levels
from agents.benchmark.suites import SUITES
from agents.evaluation.palette import draw_levels, method_style
from agents.pretrained import RECIPES, find_recipe
from agents.training.run_folder import RunFolder, read_progress

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _rl2_label(algo: str) -> str:
    """An RL² agent's name in a legend, by the rule that trained it: ``RL² (PPO-GRU)``."""
    return f"RL² ({algo.replace('_', '-').upper()})"


#: env ID -> (figure name, the classic yardstick)
FAMILIES = {
    "MetaBandit-v0": ("bandit", "gittins"),
    "MetaTabularMDP-v0": ("mdp", "psrl"),
    "MetaMaze-v0": ("maze", "explorer"),
    # no run of its own: the small-maze agent, tested on large mazes as in the paper
    "MetaMazeLarge-v0": ("maze", "explorer"),
}


def plot_learning_curves(out: Path) -> list[Path]:
    """One figure per family, a panel per shipped run: its training curve and the dashed
    reference levels (:func:`agents.benchmark.references.reference_levels`, less the run's own
    ``rl2``), written as ``rl2_learning_curves_<family>.png`` under ``out``."""
    written = []
    for env_id, (family, _) in FAMILIES.items():
        recipes = [r for r in RECIPES if r.env_id == env_id and not r.dataset and r.trained]
        if not recipes:
            continue
        fig, axes = plt.subplots(1, len(recipes), figsize=(4 * len(recipes), 3.2), dpi=110, squeeze=False)
        for ax, recipe in zip(axes[0], recipes):
            columns = read_progress(RunFolder(recipe.path))
            ax.plot(columns["env_steps"], columns["mean_trial_return"], lw=1.2, color=method_style("rl2").color,
                    label=f"{_rl2_label(recipe.algo)}, training trials")
            levels = reference_levels(recipe.env_id, recipe.env_kwargs)
            levels.pop("rl2", None)  # the curve is the shipped agent's own
            draw_levels(ax, levels)
            setting = ", ".join(f"{key}={value}" for key, value in recipe.env_kwargs.items())
            ax.set_title(f"{env_id} {setting}", fontsize=8)
            ax.set_xlabel("env steps", fontsize=8)
            ax.set_ylabel("mean trial return", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6)
        fig.tight_layout()
        path = out / f"rl2_learning_curves_{family}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def plot_fast_learning(out: Path) -> Path | None:
    """Per-episode returns of the RL² agents against each family's yardstick."""
    panels = []
    for suite in SUITES.values():
        references = load_references(suite)
        for cell in suite.cells:
            results = references[cell.name]["results"]
            if "rl2" in results and cell.env_id in FAMILIES:
                panels.append((suite, cell, results, FAMILIES[cell.env_id][1]))
    if not panels:
        return None
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), dpi=110, squeeze=False)
    for ax, (suite, cell, results, yardstick) in zip(axes.flat, panels):
        for name in ("rl2", yardstick, "random"):
            if name in results:
                curve = results[name]["per_episode"]
                label = _rl2_label(find_recipe(cell.env_id, **cell.env_kwargs).algo) if name == "rl2" else name
                ax.plot(range(1, len(curve) + 1), curve, ms=3, lw=1.2, label=label,
                        markevery=max(1, len(curve) // 10), **method_style(name).kwargs())
        ax.set_title(f"{cell.env_id} {cell.name}", fontsize=8)
        ax.set_xlabel("episode in trial", fontsize=8)
        ax.set_ylabel("mean return (1000 held-out tasks)", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    # one legend for the figure, below the panels: the same method has the same style everywhere,
    # and a legend inside a panel covers the curves of the long trials
    legend = {}
    for ax in axes.flat:
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.tight_layout()
    fig.legend(legend.values(), legend.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(legend),
               fontsize=8, frameon=False)
    path = out / "rl2_fast_learning.png"
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(DOCS), help="folder for the figures (default: docs/)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = plot_learning_curves(out) + [p for p in [plot_fast_learning(out)] if p is not None]
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
