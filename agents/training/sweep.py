"""Multi-seed sweeps on Ray Tune: seeds × configs of a registered learner or a classic baseline.

A sweep (:class:`SweepSpec`) is one setting (env ID and kwargs), one learner (a key of
:data:`agents.training.algorithms.ALGORITHMS`) or baseline (a result name of
:mod:`agents.baselines.registry`), a list of *configs* (hyperparameter overrides) and a
list of seeds. Every (config, seed) pair is one Ray Tune trial, run by :func:`run_trial`
on whichever worker Ray picks, with one CPU each:

* a learner trains with that seed (``agents.training.algorithms``: the same run folder as
  ``scripts/train.py``) and is scored on the held-out tasks of ``eval_seed``;
* a baseline is scored on the held-out tasks of that seed (its only randomness).

Each trial writes a run folder ``<out>/runs/<trial>/`` ending in ``eval.json`` (the
results document of :mod:`agents.evaluation`, the trial's agent beside ``random``). A
trial whose folder already has ``eval.json`` reports it without running again, and Tune's
own experiment state (``<out>/ray``) is restored on a re-run (``Tuner.restore``), so
re-running the same sweep runs only what is missing. Ray retries a failed trial
(``FailureConfig(max_failures=retries)``); one that still fails is listed in the summary
with its error, and the command exits non-zero.

What is sent to a worker: the trial's config (a small JSON-able dict: the spec, the
config index and the seed) and a reference to :func:`run_trial`, which the worker imports,
so every node needs ``meta_envs`` installed. Workers write the run folders themselves:
on a cluster ``out`` must be a filesystem every node sees (NFS or similar).

:func:`summarize` aggregates the finished trials per config: mean trial return over
seeds, normalised scores when the setting is a benchmark-suite cell (0 random, 1 the
cell's reference, both scored on the trial's own held-out tasks), and rliable's IQM,
mean, median and optimality gap with stratified-bootstrap CIs over seeds.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agents.training.cli import format_kwargs
from meta_envs.settings import env_setting
from meta_envs.validation import check_int

KINDS = ("learner", "baseline")


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """Everything that defines a sweep (saved as ``<out>/sweep.json``).

    :param kind: ``"learner"`` or ``"baseline"``.
    :param name: the learner's algo name or the baseline's result name.
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: its kwargs.
    :param configs: hyperparameter overrides, one dict per config (``[{}]``: the defaults).
    :param seeds: one trial per seed and config.
    :param timesteps: a learner's env-step budget (or ``None`` with ``iterations``).
    :param iterations: a learner's iteration budget (or ``None``).
    :param num_envs: a learner's sub-envs (``None``: the algo's default).
    :param eval_tasks: held-out tasks of each trial's evaluation.
    :param eval_seed: a learner's held-out seed (a baseline uses the trial's seed).
    """

    kind: Literal["learner", "baseline"]
    name: str
    env_id: str
    env_kwargs: dict[str, Any]
    configs: list[dict[str, Any]]
    seeds: list[int]
    timesteps: int | None = None
    iterations: int | None = None
    num_envs: int | None = None
    eval_tasks: int = 1000
    eval_seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        env_setting(self.env_id, self.env_kwargs)  # an unknown ID or kwarg fails here
        if not self.configs or not self.seeds:
            raise ValueError("a sweep needs at least one config and one seed")
        if len(set(self.seeds)) != len(self.seeds) or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be distinct integers >= 0, got {self.seeds}")
        check_int("eval_tasks", self.eval_tasks, 1)
        check_int("eval_seed", self.eval_seed, 0)
        if self.kind == "learner":
            from agents.training.algorithms import ALGORITHMS

            if self.name not in ALGORITHMS:
                raise ValueError(f"unknown learner {self.name!r}; known: {sorted(ALGORITHMS)}")
            if (self.timesteps is None) == (self.iterations is None):
                raise ValueError("a learner sweep needs exactly one of timesteps and iterations")
            for name in ("timesteps", "iterations", "num_envs"):
                if getattr(self, name) is not None:
                    check_int(name, getattr(self, name), 1)
            for config in self.configs:  # unknown or invalid hyperparameters fail before Ray starts
                ALGORITHMS[self.name].hyperparameters(self.env_id, self.env_kwargs, config)
        else:
            from agents.baselines.registry import make_baseline

            given = [name for name in ("timesteps", "iterations", "num_envs") if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{given} are a learner's budget; a baseline sweep takes none")
            for config in self.configs:
                make_baseline(self.env_id, self.name, self.env_kwargs, config)

    def trials(self) -> list[dict[str, Any]]:
        """One Tune config per (config, seed)."""
        return [{"spec": dataclasses.asdict(self), "config": index, "seed": seed}
                for index, seed in itertools.product(range(len(self.configs)), self.seeds)]


def grid(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values: ``{"a": [1, 2], "b": [3]}`` -> ``[{a: 1, b: 3}, {a: 2, b: 3}]``."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))] or [{}]


def trial_name(kind: str, name: str, config: int, seed: int) -> str:
    """The run folder name of one trial."""
    return f"{kind}-{name}-c{config}-s{seed}"


def run_trial(tune_config: dict[str, Any]) -> None:
    """Run one trial (a Tune function trainable; see the module docstring) and report its score.

    :param tune_config: ``{"trial": one of SweepSpec.trials() with "out" added}``.
    """
    import torch
    from ray import tune

    trial = tune_config["trial"]
    torch.set_num_threads(1)  # one CPU per trial (tune.with_resources)
    spec = SweepSpec(**trial["spec"])
    folder = Path(trial["out"]) / "runs" / trial_name(spec.kind, spec.name, trial["config"], trial["seed"])
    eval_path = folder / "eval.json"
    if not eval_path.is_file():
        if spec.kind == "learner":
            _train_and_evaluate(spec, trial, folder)
        else:
            _evaluate_baseline(spec, trial, folder)
    document = json.loads(eval_path.read_text())
    result = document["results"][spec.name]
    tune.report({"mean_trial_return": result["mean"], "ci95": result["ci95"],
                 "random": document["results"]["random"]["mean"], "done": True})


def _reference_agents(spec: SweepSpec, reference: str | None) -> dict:
    """The suite cell's reference baseline, scored beside the trial's agent on its own tasks."""
    if reference is None or (spec.kind == "baseline" and reference == spec.name):
        return {}
    from agents.baselines.registry import make_baseline

    return {reference: make_baseline(spec.env_id, reference, spec.env_kwargs)}


def _train_and_evaluate(spec: SweepSpec, trial: dict[str, Any], folder: Path) -> None:
    from ray import tune

    from agents.training.algorithms import ALGORITHMS
    from agents.evaluation import write_results
    from agents.training.run_folder import RunFolder, RunSpec, evaluate_with_random, plot_run_curve

    algorithm = ALGORITHMS[spec.name]
    run = RunFolder(folder, algorithm.checkpoint_suffix)
    resume = run.latest_checkpoint.is_file()  # a retried trial continues from its checkpoint
    if resume:
        run_spec = run.read_spec()
    else:
        run_spec = RunSpec(
            algo=spec.name, env_id=spec.env_id, env_kwargs=spec.env_kwargs, seed=trial["seed"],
            num_envs=spec.num_envs or algorithm.default_num_envs, device="cpu",
            timesteps=spec.timesteps, iterations=spec.iterations,
            hyperparameters=algorithm.hyperparameters(spec.env_id, spec.env_kwargs, spec.configs[trial["config"]]),
            eval_tasks=spec.eval_tasks, eval_seed=spec.eval_seed,
        )
        if run.path.exists():  # a trial that failed before its first checkpoint starts over
            import shutil

            shutil.rmtree(run.path)
        run.create(run_spec)

    def progress(metrics: dict[str, float]) -> None:
        tune.report({"mean_trial_return": metrics["mean_trial_return"], "env_steps": metrics["env_steps"], "done": False})

    agent = algorithm.train(run, run_spec, progress, resume)
    plot_run_curve(run, run_spec, f"(config {trial['config']}, seed {trial['seed']})")
    document = evaluate_with_random(agent, spec.name, spec.env_id, spec.env_kwargs, spec.eval_tasks, spec.eval_seed,
                                    _reference_agents(spec, trial["reference"]))
    write_results(run.eval, document)


def _evaluate_baseline(spec: SweepSpec, trial: dict[str, Any], folder: Path) -> None:
    from agents.baselines.registry import make_baseline
    from agents.evaluation import write_results
    from agents.training.run_folder import evaluate_with_random

    agent = make_baseline(spec.env_id, spec.name, spec.env_kwargs, spec.configs[trial["config"]])
    document = evaluate_with_random(agent, spec.name, spec.env_id, spec.env_kwargs, spec.eval_tasks, trial["seed"],
                                    _reference_agents(spec, trial["reference"]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**trial, "overrides": spec.configs[trial["config"]]}, indent=1) + "\n")
    write_results(folder / "eval.json", document)


def _tune_trial_name(trial) -> str:
    """Tune's name for a trial: its run folder's (the default would spell out the whole spec)."""
    config = trial.config["trial"]
    return trial_name(config["spec"]["kind"], config["spec"]["name"], config["config"], config["seed"])


def run_sweep(
    spec: SweepSpec, out: str | Path, address: str | None = None, retries: int = 1, verbose: int = 1
) -> dict[str, Any]:
    """Run (or finish) a sweep on Ray and return :func:`summarize`'s summary.

    :param out: the sweep folder (``sweep.json``, ``runs/``, ``ray/``, the summary files).
    :param address: a running Ray cluster (``ray.init(address=...)``, e.g. ``"auto"`` or
        ``"ray://host:10001"``); ``None`` starts a local Ray with the cores at hand.
    :param retries: how often Ray retries a failed trial.
    :raises ValueError: if ``out`` holds a sweep with another spec.
    """
    import ray
    from ray import tune

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "sweep.json"
    wanted = dataclasses.asdict(spec)
    if saved.is_file() and json.loads(saved.read_text()) != json.loads(json.dumps(wanted)):
        raise ValueError(f"{out} holds another sweep (see {saved}); re-run it as it was or pick another --out")
    saved.write_text(json.dumps(wanted, indent=1) + "\n")

    runtime_env = {"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}}
    ray.init(address=address, runtime_env=runtime_env, include_dashboard=False, log_to_driver=verbose > 1,
             ignore_reinit_error=True)
    try:
        trainable = tune.with_resources(run_trial, {"cpu": 1})
        experiment = out / "ray" / "sweep"
        cell = suite_cell(spec)
        trials = [{**trial, "out": str(out), "reference": cell.get("reference")} for trial in spec.trials()]
        if tune.Tuner.can_restore(str(experiment)):
            tuner = tune.Tuner.restore(str(experiment), trainable, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space={"trial": tune.grid_search(trials)},
                tune_config=tune.TuneConfig(trial_name_creator=_tune_trial_name, trial_dirname_creator=_tune_trial_name),
                run_config=tune.RunConfig(name="sweep", storage_path=str(out / "ray"), verbose=verbose,
                                          failure_config=tune.FailureConfig(max_failures=retries)),
            )
        results = tuner.fit()
        errors = {}
        for result in results:
            if result.error is not None:
                trial = result.config["trial"]
                errors[trial_name(spec.kind, spec.name, trial["config"], trial["seed"])] = str(result.error).strip()
    finally:
        ray.shutdown()
    summary = summarize(spec, out, errors, cell)
    write_summary(summary, out)
    return summary


def suite_cell(spec: SweepSpec) -> dict[str, Any]:
    """The benchmark-suite cell with the sweep's setting, and the baseline it is normalised by.

    :return: ``{"suite", "cell", "reference"}``; ``{}`` when no suite has the setting, and
        ``{"suite", "cell", "error"}`` when its references cannot be read.
    """
    from agents.benchmark.references import cell_normalizer, load_references
    from agents.benchmark.suites import SUITES

    setting = env_setting(spec.env_id, spec.env_kwargs)
    for suite in SUITES.values():
        for cell in suite.cells:
            if cell.env_id == spec.env_id and env_setting(cell.env_id, cell.env_kwargs) == setting:
                found = {"suite": suite.id, "cell": cell.name}
                try:
                    normalizer = cell_normalizer(cell, load_references(suite)[cell.name]["results"])
                except ValueError as error:
                    return {**found, "error": str(error)}
                return {**found, "reference": normalizer.reference}
    return {}


def summarize(
    spec: SweepSpec, out: str | Path, errors: Mapping[str, str] | None = None, cell: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Per config: the seeds' trial returns, their mean, normalised scores and rliable aggregates.

    A trial's normalised score uses the random policy and the cell's reference as scored on
    that trial's own held-out tasks (both are in its ``eval.json``).

    :param errors: trial name -> error of trials that failed (listed, never dropped).
    :param cell: :func:`suite_cell` of the spec (default: looked up).
    """
    from agents.benchmark.aggregate import aggregate_scores

    out = Path(out)
    cell = dict(suite_cell(spec) if cell is None else cell)
    reference = cell.get("reference")
    configs, matrices = [], {}
    for index, overrides in enumerate(spec.configs):
        scores, normalized, missing = {}, {}, []
        for seed in spec.seeds:
            path = out / "runs" / trial_name(spec.kind, spec.name, index, seed) / "eval.json"
            if not path.is_file():
                missing.append(seed)
                continue
            results = json.loads(path.read_text())["results"]
            scores[seed] = results[spec.name]["mean"]
            if reference in results:
                low, high = results["random"]["mean"], results[reference]["mean"]
                normalized[seed] = (scores[seed] - low) / (high - low)
        label = f"c{index} " + (format_kwargs(overrides) or "defaults")
        values = np.array(list(scores.values()))
        entry = {"config": index, "overrides": overrides, "label": label, "scores": scores, "missing_seeds": missing,
                 "mean": float(values.mean()) if scores else math.nan,
                 "std": float(values.std(ddof=1)) if len(scores) > 1 else math.nan}
        if normalized:
            entry["normalized"] = normalized
        if scores:  # (seeds, 1 cell): normalised where the setting is a suite cell, else raw returns
            matrices[label] = np.array([[v] for v in (normalized if reference else scores).values()])
        configs.append(entry)
    return {
        "spec": dataclasses.asdict(spec),
        "suite_cell": cell or None,
        "configs": configs,
        "score_unit": "normalised score" if reference else "mean trial return",
        "matrices": {label: matrix[:, 0].tolist() for label, matrix in matrices.items()},
        "aggregates": aggregate_scores(matrices) if matrices else {},
        "errors": dict(errors or {}),
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as markdown: one row per config, then the aggregates and any failures."""
    from agents.benchmark.aggregate import format_aggregates

    spec = summary["spec"]
    lines = [f"# sweep: {spec['kind']} {spec['name']} on {spec['env_id']} {spec['env_kwargs']}", "",
             f"seeds {spec['seeds']}; {spec['eval_tasks']} held-out tasks per trial.", ""]
    cell = summary["suite_cell"]
    if cell and "reference" in cell:
        lines.append(f"Normalised as cell {cell['cell']} of {cell['suite']}: 0 = random, 1 = {cell['reference']}, "
                     "both scored on each trial's own held-out tasks.")
        lines.append("")
    elif cell:
        lines.append(f"Not normalised: the setting is cell {cell['cell']} of {cell['suite']}, but {cell['error']}")
        lines.append("")
    lines += ["| config | seeds done | mean trial return | std over seeds | normalised (mean) | missing seeds |",
              "|---|---|---|---|---|---|"]
    for entry in summary["configs"]:
        normalized = entry.get("normalized")
        norm = f"{np.mean(list(normalized.values())):.3f}" if normalized else "–"
        lines.append(f"| {entry['label']} | {len(entry['scores'])} | {entry['mean']:.3f} | {entry['std']:.3f} | {norm} | "
                     f"{entry['missing_seeds'] or ''} |")
    if summary["aggregates"]:
        lines += ["", f"## rliable aggregates over seeds ({summary['score_unit']}; 95% stratified-bootstrap CIs)", "",
                  format_aggregates(summary["aggregates"])]
        if summary["score_unit"] != "normalised score":
            lines += ["", "The scores are not normalised, so the optimality gap (shortfall below 1) has no meaning here."]
    if summary["errors"]:
        lines += ["", "## failed trials", ""]
        lines += [f"- {name}: {error.splitlines()[-1] if error else 'failed'}" for name, error in summary["errors"].items()]
    return "\n".join(lines) + "\n"


def write_summary(summary: dict[str, Any], out: str | Path) -> list[Path]:
    """``summary.json``, ``summary.md`` and rliable's plots (``aggregates.png``, ``performance_profile.png``)."""
    out = Path(out)
    paths = [out / "summary.json", out / "summary.md"]
    paths[0].write_text(json.dumps(summary, indent=1) + "\n")
    paths[1].write_text(format_summary(summary))
    if summary["aggregates"]:
        from agents.benchmark.aggregate import plot_aggregates, plot_profiles

        paths += [out / "aggregates.png", out / "performance_profile.png"]
        plot_aggregates(summary["aggregates"], paths[-2], xlabel=summary["score_unit"])
        matrices = {label: np.array(values)[:, None] for label, values in summary["matrices"].items()}
        plot_profiles(matrices, paths[-1], xlabel=summary["score_unit"] + r" $\tau$")
    return paths
