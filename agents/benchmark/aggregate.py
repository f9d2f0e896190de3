"""Aggregates of normalised scores across cells and seeds, by ``rliable`` (Agarwal et al. 2021).

Scores come as ``{method: array (runs, cells)}`` of normalised scores (0 random, 1 the
cell's reference). For every method this computes the mean, the median, the
interquartile mean (IQM) and the optimality gap (mean shortfall below 1) with 95%
stratified-bootstrap confidence intervals over runs (``rliable.library.get_interval_estimates``),
and performance profiles (the share of runs and cells scoring above τ, with their CIs).
A method with a single run (a deterministic reference, or an agent whose seeds all gave
the same run) has no spread over seeds; its interval is over the held-out tasks instead:
a bootstrap of its per-task scores, resampled within each cell (:func:`_task_bootstrap_draws`),
where it has them (the agent), else a normal approximation from its cells' standard
errors over the tasks (:func:`_normal_draws`; the stored references keep no per-task
scores), and without either it has none. Every aggregate says which (``"interval"``:
``"seeds"``, ``"tasks_bootstrap"``, ``"tasks_normal"`` or ``"none"``). Every draw is seeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: the aggregate metrics, in rliable's order of the score vector
METRICS = ("mean", "median", "iqm", "optimality_gap")


def _metrics(scores: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([
        metrics.aggregate_mean(scores),
        metrics.aggregate_median(scores),
        metrics.aggregate_iqm(scores),
        metrics.aggregate_optimality_gap(scores),
    ])


def _interval_estimates(matrices, func, reps: int, seed: int):
    """rliable's stratified-bootstrap estimates, reproducible for a seed.

    rliable's ``StratifiedBootstrap`` draws its resamples from NumPy's global legacy
    generator whatever ``random_state`` it is given, so the call seeds that generator and
    puts its previous state back afterwards.
    """
    from rliable import library as rly

    # a single run resamples to itself: its interval is its point (no bootstrap needed)
    single = {m: scores for m, scores in matrices.items() if scores.shape[0] == 1}
    points = {m: func(scores) for m, scores in single.items()}
    intervals = {m: np.stack([point, point]) for m, point in points.items()}
    several = {m: scores for m, scores in matrices.items() if m not in single}
    if several:
        saved = np.random.get_state()
        np.random.seed(seed)
        try:
            more_points, more_intervals = rly.get_interval_estimates(several, func, reps=reps)
        finally:
            np.random.set_state(saved)
        points.update(more_points)
        intervals.update(more_intervals)
    return {m: points[m] for m in matrices}, {m: intervals[m] for m in matrices}


def _task_bootstrap_draws(task_scores: Sequence[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """``(reps, cells)`` cell scores of a single run recomputed on its held-out tasks
    resampled with replacement, within each cell (stratified): each row is one resample.

    :param task_scores: per cell, the normalised score of each of its held-out tasks.
    :param reps: resamples.
    :param rng: draws the resampled task indices.
    """
    return np.stack([scores[rng.integers(len(scores), size=(reps, len(scores)))].mean(axis=1)
                     for scores in map(np.asarray, task_scores)], axis=1)


def _normal_draws(scores: np.ndarray, errors: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``(reps, cells)`` cell scores of a single run redrawn as ``Normal(score, error)``,
    independently per cell: each cell's score is a mean over its held-out tasks (central limit).

    :param scores: ``(1, cells)`` normalised scores.
    :param errors: ``(cells,)`` their standard errors over the tasks.
    :param reps: draws.
    :param rng: draws the normal deviates.
    """
    return scores[0] + errors * rng.standard_normal((reps, scores.shape[1]))


def _task_intervals(draws: np.ndarray) -> np.ndarray:
    """95% interval ``(2, len(METRICS))`` of a single run's metrics over the task sample:
    the 2.5 and 97.5 percentiles of the metrics of the rows of ``draws`` (``(reps, cells)``,
    :func:`_task_bootstrap_draws` or :func:`_normal_draws`). The normaliser's own sampling
    error is not included."""
    values = np.array([_metrics(row[None, :]) for row in draws])
    return np.percentile(values, [2.5, 97.5], axis=0)


def aggregate_scores(
    matrices: Mapping[str, np.ndarray],
    task_scores: Mapping[str, Sequence[np.ndarray]] | None = None,
    task_errors: Mapping[str, np.ndarray] | None = None,
    reps: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """``{method: {"runs": int, "cells": int, "interval": str, metric: {"point", "low", "high"}}}`` for
    :data:`METRICS`. ``interval`` is ``"seeds"`` (stratified bootstrap over runs);
    for a single run, ``"tasks_bootstrap"`` (with ``task_scores``: :func:`_task_bootstrap_draws`),
    else ``"tasks_normal"`` (with ``task_errors``: :func:`_normal_draws`), else ``"none"``
    (low and high are the point).

    :param matrices: method -> normalised scores ``(runs, cells)``.
    :param task_scores: method -> per cell, the normalised score of each held-out task
        (its single run's); used only for a method with one run.
    :param task_errors: method -> ``(cells,)`` standard errors of its scores over the tasks.
    :param reps: bootstrap replications (and normal draws).
    :param seed: seeds the bootstraps and draws.
    """
    task_scores = task_scores or {}
    task_errors = task_errors or {}
    points, intervals = _interval_estimates(matrices, _metrics, reps, seed)
    kinds = {}
    for method, scores in matrices.items():
        if scores.shape[0] > 1:
            kinds[method] = "seeds"
        elif method in task_scores:
            kinds[method] = "tasks_bootstrap"
            draws = _task_bootstrap_draws(task_scores[method], reps, np.random.default_rng(seed))
            intervals[method] = _task_intervals(draws)
        elif method in task_errors:
            kinds[method] = "tasks_normal"
            draws = _normal_draws(scores, np.asarray(task_errors[method]), reps, np.random.default_rng(seed))
            intervals[method] = _task_intervals(draws)
        else:
            kinds[method] = "none"
    return {
        method: {
            "runs": int(matrices[method].shape[0]),
            "cells": int(matrices[method].shape[1]),
            "interval": kinds[method],
            **{
                name: {"point": float(points[method][i]), "low": float(intervals[method][0, i]),
                       "high": float(intervals[method][1, i])}
                for i, name in enumerate(METRICS)
            },
        }
        for method in matrices
    }


def performance_profiles(
    matrices: Mapping[str, np.ndarray], taus: np.ndarray, reps: int = 2000, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's performance profiles: per method, the share of (run, cell) scores above
    each τ, and its ``(2, len(taus))`` 95% interval."""
    from rliable import library as rly

    return _interval_estimates(matrices, lambda scores: rly.score_distributions(scores, taus), reps, seed)


def coverage_labels(cells: Mapping[str, int]) -> dict[str, str]:
    """Each method's label in a figure: its name, with ``(m of n cells)`` where it is scored
    on fewer cells than the others (a reference shipped for some cells only).

    :param cells: method -> the number of cells its scores cover.
    """
    most = max(cells.values())
    return {m: m if n == most else f"{m} ({n} of {most} cells)" for m, n in cells.items()}


def plot_aggregates(aggregates: Mapping[str, Mapping[str, Any]], path, xlabel: str = "normalised score") -> None:
    """rliable's interval-estimate plot of :func:`aggregate_scores`' output, saved to
    ``path``, in each method's colour (:func:`agents.evaluation.palette.method_style`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    from agents.evaluation.palette import method_style

    labels = coverage_labels({m: values.get("cells", 1) for m, values in aggregates.items()})
    points = {labels[m]: np.array([v[k]["point"] for k in METRICS]) for m, v in aggregates.items()}
    intervals = {labels[m]: np.array([[v[k][side] for k in METRICS] for side in ("low", "high")])
                 for m, v in aggregates.items()}
    colors = {labels[m]: method_style(m).color for m in aggregates}
    fig, _ = plot_utils.plot_interval_estimates(points, intervals, metric_names=["Mean", "Median", "IQM", "Optimality gap"],
                                                algorithms=list(points), colors=colors, xlabel=xlabel)
    fig.savefig(path, bbox_inches="tight", dpi=110)
    plt.close(fig)


def plot_profiles(matrices: Mapping[str, np.ndarray], path, xlabel: str = r"normalised score $\tau$") -> None:
    """rliable's performance profiles of every method (with their 95% CIs), saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    from agents.evaluation.palette import method_style

    low = min(0.0, min(float(m.min()) for m in matrices.values()))
    high = max(1.2, max(float(m.max()) for m in matrices.values()))
    taus = np.linspace(low, high, 61)
    profiles, cis = performance_profiles(matrices, taus)
    labels = coverage_labels({m: scores.shape[1] for m, scores in matrices.items()})
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    plot_utils.plot_performance_profiles({labels[m]: p for m, p in profiles.items()}, taus,
                                         performance_profile_cis={labels[m]: c for m, c in cis.items()}, ax=ax,
                                         colors={labels[m]: method_style(m).color for m in matrices}, xlabel=xlabel,
                                         ylabel=r"fraction of runs (and cells) $> \tau$")
    # outside the axes: the profiles fill the whole plot
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def format_aggregates(aggregates: Mapping[str, Mapping[str, Any]]) -> str:
    """A markdown table: one row per method, ``point [low, high]`` per metric and what the
    95% interval is over (seeds, or tasks by bootstrap or normal approximation); the point
    alone where there is no interval."""
    header = "| method | runs | cells | 95% CI over | " + " | ".join(METRICS) + " |"
    lines = [header, "|---|---|---|---|" + "---|" * len(METRICS)]
    for method, values in aggregates.items():
        # reports written before "interval" existed: several runs meant a bootstrap over seeds
        kind = values.get("interval", "seeds" if values.get("runs", 2) > 1 else "none")
        cells = [f"{v['point']:.3f}" + (f" [{v['low']:.3f}, {v['high']:.3f}]" if kind != "none" else "")
                 for v in (values[m] for m in METRICS)]
        # "tasks": reports written before the task bootstrap, whose task intervals were all normal draws
        over = {"seeds": "seeds", "tasks_bootstrap": "held-out tasks (bootstrap)",
                "tasks_normal": "held-out tasks (normal approx.)", "tasks": "held-out tasks (normal approx.)",
                "none": "–"}[kind]
        lines.append(f"| {method} | {values.get('runs', '')} | {values.get('cells', '')} | {over} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)
