"""A benchmark report as a markdown table and plots.

:func:`write_outputs` writes, into one folder: ``report.json`` (the report,
:mod:`agents.benchmark.scoring`), ``report.md`` (per-cell table and aggregates),
``cells.png`` (normalised score per cell: the agent against the RL² reference and the
strongest baselines), ``per_episode.png`` (mean return of each episode index within the
trial, the picture of fast learning, with the agent's 95% CI over the held-out tasks),
``aggregates.png`` (rliable's interval estimates) and ``performance_profile.png``
(rliable's performance profiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.benchmark.aggregate import format_aggregates, plot_aggregates, plot_profiles
from agents.benchmark.scoring import runs_identical, score_matrices, write_report

#: how many baselines the per-cell plots show beside the agent and RL²
SHOWN_BASELINES = 4


def format_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: per-cell scores, then the aggregates."""
    suite, agent = report["suite"], report["agent"]
    lines = [
        f"# {agent} on {suite['id']}",
        "",
        f"{suite['description']}; {suite['num_tasks']} held-out tasks per cell (seed {suite['seed']}); "
        f"agent seeds {report['seeds']}. Normalised score: 0 = random, 1 = the cell's reference.",
        "",
        "| cell | random | reference | rl2 | agent (mean ± 95% CI over tasks, first seed) | agent normalised (mean over seeds) |",
        "|---|---|---|---|---|---|",
    ]
    for name, cell in report["cells"].items():
        norm, refs, runs = cell["normalizer"], cell["references"], cell["runs"]
        rl2 = f"{refs['rl2']['mean']:.2f} ({refs['rl2']['normalized']:.3f})" if "rl2" in refs else "–"
        normalized = np.mean([run["normalized"] for run in runs])
        lines.append(
            f"| {name} | {norm['random']:.2f} | {norm['reference_score']:.2f} ({norm['reference']}) | {rl2} | "
            f"{runs[0]['mean']:.2f} ± {runs[0]['ci95']:.2f} | {normalized:.3f} |"
        )
    seeds = report["seeds"]
    if len(seeds) > 1 and runs_identical(report):
        lines += ["", f"**The agent's {len(seeds)} seeds {seeds} gave identical runs in every cell (a deterministic "
                      "agent): its intervals below are 95% CIs over held-out tasks (bootstrap), not over seeds.**"]
    elif len(seeds) == 1:
        lines += ["", "One agent seed: its intervals below are 95% CIs over held-out tasks (bootstrap); its spread "
                      "over seeds is not measured (--seeds 0,1,2)."]
    lines += format_behaviour(report)
    lines += ["", "## Aggregates (normalised scores; rliable. 95% CIs: a stratified bootstrap over seeds where a "
                  "method has several distinct runs; for a single run, over held-out tasks: the agent's by bootstrap "
                  "(its per-task returns resampled within each cell), a stored reference's by normal approximation "
                  "(it keeps no per-task returns))", "",
              format_aggregates(report["aggregates"]), ""]
    return "\n".join(lines)


def format_behaviour(report: dict[str, Any]) -> list[str]:
    """Markdown lines of the agent's behavioural statistics per cell (first seed); none if
    no cell was probed (another family, or a report written before the probe existed)."""
    from agents.evaluation.probe import PROBE_COLUMNS

    probed = {name: cell for name, cell in report["cells"].items() if "behaviour" in cell["runs"][0]}
    if not probed:
        return []
    env_id = report["suite"]["cells"][0]["env_id"]
    columns = PROBE_COLUMNS[env_id]
    lines = ["", "## Behaviour (first seed; definitions in agents/evaluation/probe.py; the baselines' values: "
                 "scripts/probe_agent.py --agent gittins ...)", "",
             "| cell | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, cell in probed.items():
        values = cell["runs"][0]["behaviour"]
        lines.append(f"| {name} | " + " | ".join("–" if values.get(c) is None else f"{values[c]:.3f}" for c in columns)
                     + " |")
    return lines


def _shown_methods(report: dict[str, Any]) -> list[str]:
    """The agent, ``rl2`` where any cell has it, and the strongest baselines common to
    every cell (by mean normalised score)."""
    matrices = score_matrices(report)
    agent = report["agent"]
    baselines = [m for m in matrices if m not in (agent, "rl2")]
    baselines.sort(key=lambda m: -float(matrices[m].mean()))
    return [agent] + (["rl2"] if "rl2" in matrices else []) + baselines[:SHOWN_BASELINES]


def plot_cells(report: dict[str, Any], path: Path) -> None:
    """Grouped bars of the normalised score per cell (the agent's: mean over seeds, with
    the range of its seeds as an error bar), each method in its palette colour; a cell
    without a method's result (RL² is shipped for some cells only) is marked "n/a"."""
    import matplotlib.pyplot as plt

    from agents.evaluation.palette import method_style

    cells = list(report["cells"])
    methods = _shown_methods(report)
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cells) + 2), 4), dpi=120)
    for i, method in enumerate(methods):
        x = np.arange(len(cells)) + (i - (len(methods) - 1) / 2) * width
        if method == report["agent"]:
            values = np.array([[r["normalized"] for r in report["cells"][c]["runs"]] for c in cells])
            heights = values.mean(axis=1)
            # the seeds' range; clipped at 0 where rounding puts the mean a hair outside it
            error = np.clip(np.stack([heights - values.min(axis=1), values.max(axis=1) - heights]), 0, None)
        else:
            refs = [report["cells"][c]["references"].get(method) for c in cells]
            heights = np.array([np.nan if r is None else r["normalized"] for r in refs])
            error = None
            for xi in x[np.isnan(heights)]:
                ax.text(xi, 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize=6,
                        color=method_style(method).color)
        ax.bar(x, np.nan_to_num(heights), width, yerr=error, label=method, capsize=2,
               color=method_style(method).color)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(cells)), cells, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("normalised score\n(0 random, 1 reference)")
    ax.set_title(f"{report['agent']} on {report['suite']['id']}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def per_episode_band(runs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The band ``(low, high)`` around the agent's per-episode curve: its 95% CI over the
    held-out tasks, from the lowest (mean − CI) to the highest (mean + CI) over its runs
    (one run: mean ± CI); ``None`` for runs stored without ``per_episode_ci95``.

    :param runs: a report cell's ``runs``.
    """
    if not all("per_episode_ci95" in run for run in runs):
        return None
    means = np.array([run["per_episode"] for run in runs])
    cis = np.array([run["per_episode_ci95"] for run in runs])
    return (means - cis).min(axis=0), (means + cis).max(axis=0)


def plot_per_episode(report: dict[str, Any], path: Path, also: Sequence[str] = ()) -> None:
    """Per cell, the mean return of each episode index within the trial: the agent, RL²,
    the cell's reference, the stored references named in ``also`` (e.g. ``thompson``) and
    random, each in its palette colour and marker; one legend for the figure, whose title
    says what the band is.

    The agent's line is the mean over its seeds, shaded with its 95% CI over the held-out
    tasks (:func:`per_episode_band`: one seed, mean ± CI; several, from the lowest
    mean − CI to the highest mean + CI over the seeds). A report written before the
    per-episode CI existed gets no band. The stored references are drawn as lines
    without bands: they keep no per-episode CI.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from agents.evaluation.palette import method_style

    cells = list(report["cells"])
    columns = min(3, len(cells))
    rows = -(-len(cells) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), dpi=110, squeeze=False)
    handles = {}
    style = method_style(report["agent"])
    bands = {name: per_episode_band(cell["runs"]) for name, cell in report["cells"].items()}
    banded = all(band is not None for band in bands.values())
    for ax, name in zip(axes.flat, cells):
        cell = report["cells"][name]
        means = np.array([run["per_episode"] for run in cell["runs"]])
        episodes = np.arange(1, means.shape[1] + 1)
        every = max(1, len(episodes) // 10)  # about ten markers per line, whatever the trial length
        handles[report["agent"]], = ax.plot(episodes, means.mean(axis=0), lw=1.8, markevery=every, ms=4,
                                            **style.kwargs())
        if banded:
            ax.fill_between(episodes, *bands[name], color=style.color, alpha=0.25, lw=0)
        for method in dict.fromkeys(("rl2", cell["normalizer"]["reference"], *also, "random")):
            if method in cell["references"]:
                handles[method], = ax.plot(episodes, cell["references"][method]["per_episode"], lw=1.0,
                                           markevery=every, ms=4, **method_style(method).kwargs())
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("episode in trial", fontsize=8)
        ax.set_ylabel("mean return", fontsize=8)
    for ax in list(axes.flat)[len(cells):]:
        ax.set_visible(False)
    seeds = len(report["seeds"])
    if banded:
        handles[f"{report['agent']}: 95% CI over held-out tasks"] = Patch(color=style.color, alpha=0.25, lw=0)
        band = ("band: 1.96 × standard error over held-out tasks of each episode's return"
                + (f", from the lowest mean − CI to the highest mean + CI of {seeds} seeds" if seeds > 1 else ""))
    else:
        band = "no band: the report has no per-episode CI"
    fig.tight_layout()
    # below the panels, so it covers no curve
    fig.legend(list(handles.values()), list(handles), fontsize=7, ncol=min(len(handles), 5), loc="upper center",
               bbox_to_anchor=(0.5, 0.0), title=f"{band}; references: stored means, no band", title_fontsize=7)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def write_outputs(report: dict[str, Any], out: str | Path, also: Sequence[str] = ()) -> list[Path]:
    """Write the report's JSON, markdown and plots into ``out`` (created); the paths written.

    :param also: more stored references for the per-episode figure (:func:`plot_per_episode`).
    :raises ValueError: for a name in ``also`` that no cell of the report has.
    """
    unknown = [name for name in also if not any(name in cell["references"] for cell in report["cells"].values())]
    if unknown:
        known = sorted({name for cell in report["cells"].values() for name in cell["references"]})
        raise ValueError(f"no stored reference named {unknown} in the report; known: {', '.join(known)}")
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md", out / "cells.png", out / "per_episode.png",
             out / "aggregates.png", out / "performance_profile.png"]
    write_report(report, paths[0])
    paths[1].write_text(format_markdown(report))
    plot_cells(report, paths[2])
    plot_per_episode(report, paths[3], also)
    plot_aggregates(report["aggregates"], paths[4])
    plot_profiles(score_matrices(report), paths[5])
    return paths
