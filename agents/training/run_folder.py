"""Run folders, logs, plots and final evaluation shared by every RL² learner.

A run folder (``scripts/train.py --out DIR``) holds::

    config.json          the RunSpec: algo, env, kwargs, seed, budget, device, hyperparameters
    sessions.json        one entry per scripts/train.py invocation: command, wall time, progress
                         (rewritten every iteration, so a killed session keeps its entry)
    progress.csv         one row per iteration, one column per named quantity
    tensorboard/         the same quantities as TensorBoard scalars
    checkpoints/         latest.pt (+ iter_NNNNNN.pt snapshots); the suffix is the learner's
                         format (.zip for RecurrentPPO's SB3 model archives)
    learning_curve.png   mean trial return against env steps
    eval.json            the final evaluation in the results layout (agents.evaluation), with the
                         learner's behaviour on bandits and tabular MDPs (agents.evaluation.probe)

Nothing here depends on the algorithm: a learner writes its checkpoints through
:func:`atomic_write` when :class:`CheckpointSchedule` says so and calls
:class:`MetricLogger`; ``scripts/train.py`` does the rest.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from agents.baselines.random_policy import RandomAgent
from agents.evaluation import Agent, EvaluationResult, evaluate, results_document

DEVICES = ("auto", "cpu", "cuda")


@dataclasses.dataclass
class RunSpec:
    """Everything needed to start (or resume) a run; saved as ``config.json``.

    :param algo: learner name (a key of ``agents.training.algorithms.ALGORITHMS``).
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the family's keyword arguments.
    :param seed: training seed (networks, actions, the env's tasks and noise).
    :param num_envs: sub-envs stepped together.
    :param device: ``auto``, ``cpu`` or ``cuda``.
    :param timesteps: env-step budget (or ``None`` when ``iterations`` is given).
    :param iterations: iteration budget (or ``None`` when ``timesteps`` is given).
    :param hyperparameters: the learner's config dataclass as a dict.
    :param eval_tasks: size of the held-out task set of the final evaluation.
    :param eval_seed: seed of that task set.
    :param checkpoint_minutes: refresh ``checkpoints/latest`` at least this often (wall
        time), besides every ``checkpoint_every`` iterations; a crash loses at most this much.
    :param init_from: a run folder whose latest checkpoint's networks this run starts from
        (a warm start: the networks only; optimiser state and counters start afresh), or ``None``.
    :param init_policy_only: with ``init_from``, start from its policy only; the value
        baseline starts afresh (and may differ in shape).
    """

    algo: str
    env_id: str
    env_kwargs: dict[str, Any]
    seed: int
    num_envs: int
    device: str
    timesteps: int | None
    iterations: int | None
    hyperparameters: dict[str, Any]
    eval_tasks: int = 1000
    eval_seed: int = 0
    checkpoint_minutes: float = 5.0
    init_from: str | None = None
    init_policy_only: bool = False

    def done(self, iteration: int, env_steps: int) -> bool:
        """Whether the budget is spent after ``iteration`` iterations and ``env_steps`` steps."""
        if self.iterations is not None:
            return iteration >= self.iterations
        return env_steps >= self.timesteps


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {list(DEVICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


class RunFolder:
    """Paths of one run folder (see the module docstring).

    :param path: the folder.
    :param checkpoint_suffix: the learner's checkpoint file suffix (``Algorithm.checkpoint_suffix``).
    """

    def __init__(self, path: str | Path, checkpoint_suffix: str = ".pt") -> None:
        self.path = Path(path)
        self.checkpoint_suffix = checkpoint_suffix
        self.config = self.path / "config.json"
        self.progress = self.path / "progress.csv"
        self.tensorboard = self.path / "tensorboard"
        self.checkpoints = self.path / "checkpoints"
        self.learning_curve = self.path / "learning_curve.png"
        self.eval = self.path / "eval.json"
        self.sessions = self.path / "sessions.json"

    @property
    def latest_checkpoint(self) -> Path:
        return self.checkpoints / f"latest{self.checkpoint_suffix}"

    def snapshot(self, iteration: int) -> Path:
        return self.checkpoints / f"iter_{iteration:06d}{self.checkpoint_suffix}"

    def create(self, spec: RunSpec) -> None:
        """Make the folder (it must not exist or be empty) and write ``config.json``."""
        if self.path.exists() and any(self.path.iterdir()):
            raise FileExistsError(
                f"run folder {self.path} already exists and is not empty; pick another --out or use --resume {self.path}"
            )
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.write_spec(spec)

    def write_spec(self, spec: RunSpec) -> None:
        self.config.write_text(json.dumps(dataclasses.asdict(spec), indent=1) + "\n")

    def record_session(self, session: dict[str, Any], index: int | None = None) -> int:
        """Write one training session (command, wall seconds, how far it got) to ``sessions.json``.

        :param session: the entry.
        :param index: the entry it replaces (a session under way rewrites its own entry as it
            goes); ``None`` appends a new one.
        :return: the entry's index.
        """
        sessions = self.read_sessions()
        if index is None:
            sessions.append(session)
            index = len(sessions) - 1
        else:
            sessions[index] = session
        atomic_write(self.sessions, lambda path: path.write_text(json.dumps(sessions, indent=1) + "\n"))
        return index

    def read_sessions(self) -> list[dict[str, Any]]:
        """The training sessions recorded so far (empty for a run trained before they were recorded)."""
        return json.loads(self.sessions.read_text()) if self.sessions.is_file() else []

    def read_spec(self) -> RunSpec:
        """The run's :class:`RunSpec` from ``config.json``."""
        if not self.config.is_file():
            raise FileNotFoundError(f"{self.config} not found: {self.path} is not a run folder")
        return RunSpec(**json.loads(self.config.read_text()))


class InitFromError(ValueError):
    """``--init-from`` names a run whose networks cannot start this one (missing, or another shape)."""


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Make ``path`` by ``write(temporary)`` then an atomic rename, so that a kill during the
    write leaves the previous file whole (a reader sees the old file or the new one).

    :param path: the file to (re)place.
    :param write: writes the whole file at the path it is given; that path keeps
        ``path``'s suffix (SB3's ``model.save`` appends ``.zip`` to a path without one).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(temporary)
        # the bytes must be on disk before the rename points at them, or a power cut can
        # leave the new name on an empty file
        with temporary.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class CheckpointSchedule:
    """When a learner refreshes ``checkpoints/latest``: every ``every_iterations`` iterations
    (those also keep an ``iter_NNNNNN`` snapshot), every ``minutes`` of wall time, and at
    the end of a session.

    :param every_iterations: snapshot period in iterations.
    :param minutes: longest wall time between two refreshes of ``latest``.
    :param clock: seconds of a monotonic clock (a parameter so tests need not wait).
    """

    def __init__(self, every_iterations: int, minutes: float, clock: Callable[[], float] = time.monotonic) -> None:
        if every_iterations < 1 or not minutes >= 0:
            raise ValueError(
                f"checkpoints need every_iterations >= 1 and minutes >= 0, got {every_iterations} and {minutes}"
            )
        self.every_iterations = every_iterations
        self.seconds = 60.0 * minutes
        self.clock = clock
        self.last = clock()

    def snapshot(self, iteration: int) -> bool:
        """Whether ``iteration`` keeps an ``iter_NNNNNN`` snapshot."""
        return iteration % self.every_iterations == 0

    def due(self, iteration: int, final: bool) -> bool:
        """Whether to write ``latest`` after ``iteration``; a true answer restarts the clock.

        :param iteration: the iteration just done.
        :param final: the session ends after it (budget spent or a stop asked for).
        """
        if final or self.snapshot(iteration) or self.clock() - self.last >= self.seconds:
            self.last = self.clock()
            return True
        return False


class IterativeLearner(Protocol):
    """A learner :func:`run_iterations` can drive: one iteration at a time, state as a dict."""

    iteration: int
    env_steps: int

    def train_iteration(self) -> dict[str, float]:
        """Do one iteration; its metrics (with ``iteration`` and ``env_steps``)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything ``--resume`` needs (written with ``torch.save``)."""


def run_iterations(
    learner: IterativeLearner,
    folder: RunFolder,
    spec: RunSpec,
    progress: Callable[[dict[str, float]], None],
    stop: Callable[[], bool] = lambda: False,
    checkpoint_every: int = 25,
) -> None:
    """Iterate ``learner`` until the budget of ``spec`` is spent or ``stop()`` turns true:
    log every iteration (:class:`MetricLogger`), report it to ``progress``, and write
    ``checkpoints/latest`` (and snapshots) when :class:`CheckpointSchedule` says so, always
    after the last iteration of the session.

    :param learner: the learner, already resumed from its checkpoint if the run is.
    :param folder: the run folder.
    :param spec: the run.
    :param progress: called with the metrics after every iteration.
    :param stop: checked after every iteration.
    :param checkpoint_every: also keep a snapshot every this many iterations.
    """
    logger = MetricLogger(folder, learner.iteration, learner.env_steps)
    schedule = CheckpointSchedule(checkpoint_every, spec.checkpoint_minutes)
    try:
        while not spec.done(learner.iteration, learner.env_steps):
            metrics = learner.train_iteration()
            logger.log(metrics)
            progress(metrics)
            final = spec.done(learner.iteration, learner.env_steps) or stop()
            if schedule.due(learner.iteration, final):
                state = learner.state_dict()
                atomic_write(folder.latest_checkpoint, lambda path: torch.save(state, path))
                if schedule.snapshot(learner.iteration):
                    atomic_write(folder.snapshot(learner.iteration), lambda path: torch.save(state, path))
            if final:
                break
    finally:
        logger.close()


class StopSignal:
    """Ctrl-C (SIGINT) or SIGTERM asks a training loop to stop after its current iteration.

    The learners check :meth:`requested` after every iteration and, when it is set, save a
    checkpoint and return, so that ``--resume`` continues exactly; a second signal stops
    at once (``KeyboardInterrupt``). Use as a context manager around the training call.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._requested = False
        self._saved: dict[int, object] = {}

    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self._requested

    def _handle(self, signum: int, frame) -> None:
        if self._requested:
            raise KeyboardInterrupt
        self._requested = True
        print(f"\n{signal.Signals(signum).name}: stopping after this iteration (again to stop now)", flush=True)

    def __enter__(self) -> StopSignal:
        for sig in self.SIGNALS:
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


class MetricLogger:
    """Writes one row of named quantities per iteration to ``progress.csv`` and TensorBoard.

    TensorBoard's step is ``env_steps``. On resume, rows and events after the checkpoint
    (written before a crash) are dropped, so each iteration has exactly one row.

    :param folder: the run folder.
    :param resume_iteration: the iteration the run resumes after (0 for a new run).
    :param resume_env_steps: the env steps at that iteration.
    """

    def __init__(self, folder: RunFolder, resume_iteration: int = 0, resume_env_steps: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.path = folder.progress
        self.fields: list[str] | None = None
        rows: list[dict[str, str]] = []
        if resume_iteration and self.path.is_file():
            with self.path.open() as f:
                reader = csv.DictReader(f)
                self.fields = reader.fieldnames
                # a row cut short by a kill has missing fields (None); it is past the checkpoint
                rows = [r for r in reader if None not in r.values() and int(r["iteration"]) <= resume_iteration]
        if self.fields is not None:
            atomic_write(self.path, lambda temporary: self._write_rows(temporary, rows))
        elif self.path.exists():
            self.path.unlink()
        self.writer = SummaryWriter(str(folder.tensorboard), purge_step=resume_env_steps + 1 if resume_iteration else None)

    def _write_rows(self, path: Path, rows: list[dict[str, str]]) -> None:
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def log(self, metrics: dict[str, float]) -> None:
        """Append ``metrics`` (must include ``iteration`` and ``env_steps``)."""
        if self.fields is None:
            self.fields = list(metrics)
            with self.path.open("w", newline="") as f:
                csv.DictWriter(f, self.fields).writeheader()
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow({k: metrics.get(k, "") for k in self.fields})
        step = int(metrics["env_steps"])
        for name, value in metrics.items():
            if name not in ("iteration", "env_steps"):
                self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def read_progress(folder: RunFolder) -> dict[str, list[float]]:
    """``progress.csv`` as columns of floats."""
    with folder.progress.open() as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) if r[k] != "" else math.nan for r in rows] for k in (rows[0] if rows else {})}


def wall_time_axis(steps: Sequence[float], rates: Sequence[float]) -> tuple[Callable, Callable]:
    """The maps env steps -> training hours and back for a learning curve's top axis.

    The wall time at an iteration is the sum of the iterations' own times (their env steps
    over their ``env_steps_per_s``: rollout + update), so that pauses between sessions and
    evaluations do not count; beyond the ends both maps go on linearly, where the axis
    margins lie.

    :param steps: each iteration's cumulative ``env_steps``, increasing.
    :param rates: each iteration's ``env_steps_per_s``, positive.
    :raises ValueError: for fewer than two iterations, steps that do not increase or rates that are not positive.
    """
    at, rates = np.array([0.0, *steps]), np.asarray(rates, dtype=float)
    if len(at) < 3 or len(rates) != len(at) - 1 or not np.all(np.diff(at) > 0) or not np.all(rates > 0):
        raise ValueError("the wall-time axis needs two or more iterations with increasing env_steps and positive rates")
    hours = np.concatenate([[0.0], np.cumsum(np.diff(at) / rates)]) / 3600
    slope_in, slope_out = (hours[1] - hours[0]) / (at[1] - at[0]), (hours[-1] - hours[-2]) / (at[-1] - at[-2])

    def to_hours(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(x < 0, x * slope_in, np.where(x > at[-1], hours[-1] + (x - at[-1]) * slope_out,
                                                      np.interp(x, at, hours)))

    def to_steps(h: np.ndarray) -> np.ndarray:
        h = np.asarray(h, dtype=float)
        return np.where(h < 0, h / slope_in, np.where(h > hours[-1], at[-1] + (h - hours[-1]) / slope_out,
                                                      np.interp(h, hours, at)))

    return to_hours, to_steps


def plot_learning_curve(folder: RunFolder, title: str, levels: dict[str, float] | None = None) -> Path:
    """Plot ``mean_trial_return`` against ``env_steps`` from ``progress.csv`` into
    ``learning_curve.png``, with a dashed horizontal line per level in its method's
    palette colour (:mod:`agents.evaluation.palette`), and a top axis of training wall time
    where ``progress.csv`` has each iteration's ``env_steps_per_s``.

    :param title: the figure's title (the run's algorithm and filled-in setting).
    :param levels: name -> mean trial return on held-out tasks (``random``, a baseline,
        ``rl2``, the paper's RL² as ``"paper rl2"``, drawn dotted), e.g. from
        :func:`agents.benchmark.references.reference_levels`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agents.evaluation.palette import draw_levels

    columns = read_progress(folder)
    steps = columns.get("env_steps", [])
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(steps, columns.get("mean_trial_return", []), lw=1.5, color="#d62728", label="this run (training trials)")
    rates = columns.get("env_steps_per_s", [])
    try:
        functions = wall_time_axis(steps, rates)
    except ValueError:  # an older progress.csv without the rates, or a single iteration: no time axis
        functions = None
    if functions is not None:
        top = ax.secondary_xaxis("top", functions=functions)
        top.set_xlabel("training wall time (hours: rollout + update)", fontsize=8)
        top.tick_params(labelsize=8)
    draw_levels(ax, levels or {})
    ax.set_xlabel("env steps")
    ax.set_ylabel("mean trial return")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    # outside the axes: the curve and the levels span the whole width
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(folder.learning_curve, bbox_inches="tight")
    plt.close(fig)
    return folder.learning_curve


def evaluate_with_random(
    agent: Agent,
    name: str,
    env_id: str,
    env_kwargs: dict[str, Any],
    num_tasks: int,
    seed: int,
    others: dict[str, Agent] | None = None,
    probe: bool = False,
) -> dict[str, Any]:
    """Score ``agent``, the random policy and any ``others`` on the same held-out tasks;
    the results document.

    :param agent: the agent scored.
    :param name: its name in the document (the algo's or baseline's name).
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: its kwargs.
    :param num_tasks: held-out tasks.
    :param seed: held-out seed.
    :param others: more agents to score beside it (e.g. a reference to normalise by).
    :param probe: also record ``agent``'s behaviour on the same trials where the env has a
        behavioural probe (:data:`agents.evaluation.probe.PROBE_ENV_IDS`): the document
        gains ``"behaviour": {name: statistics}`` (:func:`agents.evaluation.probe.probe`);
        the scores are the same as without it.
    """
    import gymnasium as gym

    from agents.evaluation.probe import PROBE_ENV_IDS
    from agents.evaluation.probe import probe as run_probe

    num_actions = int(gym.make(env_id, **env_kwargs).action_space.n)
    agents = {name: agent, "random": RandomAgent(num_actions), **(others or {})}
    results: dict[str, EvaluationResult] = {}
    behaviour = None
    if probe and env_id in PROBE_ENV_IDS and num_tasks >= 2:  # the memory read-out needs two halves
        probed = run_probe(agent, env_id, env_kwargs, num_tasks, seed)  # the same trials, recorded
        results[name], behaviour = probed.evaluation, {name: dict(probed.statistics)}
    for key, value in agents.items():
        if key not in results:
            results[key] = evaluate(value, env_id, env_kwargs, num_tasks, seed)
    document = results_document(env_id, env_kwargs, num_tasks, seed, results)
    return document if behaviour is None else {**document, "behaviour": behaviour}


def plot_run_curve(folder: RunFolder, spec: RunSpec, note: str = "") -> Path:
    """The run's ``learning_curve.png``: titled with its filled-in setting, with the levels of
    :func:`agents.benchmark.references.reference_levels` (the random policy, greedy, the cell's
    reference and the shipped RL² agent where a suite cell has the setting; the paper's RL²
    where its tables have it). A shipped run's own folder leaves out the ``rl2`` line: it
    would be the run itself.

    :param note: appended to the title (e.g. a sweep trial's config and seed).
    """
    from agents.benchmark.references import reference_levels
    from agents.pretrained import RECIPES
    from meta_envs.settings import env_setting

    setting = ", ".join(f"{key}={value}" for key, value in env_setting(spec.env_id, spec.env_kwargs).items())
    title = f"{spec.algo} on {spec.env_id} ({setting}){' ' + note if note else ''}"
    levels = reference_levels(spec.env_id, spec.env_kwargs)
    if any(folder.path.resolve() == recipe.path.resolve() for recipe in RECIPES):
        # a shipped run: the setting's rl2 line would be this run itself
        levels.pop("rl2", None)
    return plot_learning_curve(folder, title, levels)
