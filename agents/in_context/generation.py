"""Learning-history datasets: whole trials of source agents on training tasks, as Minari datasets.

``generate_dataset`` (``scripts/make_dataset.py``) runs every source agent (a baseline, a
shipped RL² agent, a run folder or any agent factory: whatever
:func:`agents.evaluation.probe.make_agent` builds) on the same training tasks, batched
through the family's native vector env by the evaluation protocol's own loop
(:func:`agents.evaluation.protocol.run_trials`), and writes what it saw with
``minari.create_dataset_from_buffers``.

Schema
------
One Minari episode is one trial (one trial = one Gymnasium episode), of ``T`` steps:

==================  =========================  ===============================================
field               shape                      meaning
==================  =========================  ===============================================
``observations``    dict, each ``(T + 1, ...)``  the RL² observation (``obs``, ``prev_action``,
                                               ``prev_reward``, ``prev_done``), from the reset
                                               to the trial's last one
``actions``         ``(T,)`` int64             the source's actions
``rewards``         ``(T,)`` float64           their rewards
``terminations``    ``(T,)`` bool              True at the trial's last step only
``truncations``     ``(T,)`` bool              always False (trials end by termination)
``infos``           ``optimal_action (T + 1,)``  the optimal action in the state of each
                                               observation (:mod:`.labels`); -1 at the last
                                               observation (no action is taken from it);
                                               absent for a family without labels
==================  =========================  ===============================================

Each episode's metadata: ``source`` (its name on the command line), ``task`` (the task as
JSON, ``task.to_dict()``; :func:`agents.in_context.loader.load_tasks` rebuilds it),
``task_index`` (the task's index in the training task list; every source plays every
task, so a task index pairs the sources' trials), ``seed`` (the seed the batch's vector
env was reset with), ``agent_seed`` (what the source's ``reset`` got) and ``batch`` (its
batch index): :func:`agents.evaluation.protocol.run_trials` on the batch's tasks with
these seeds replays it. The dataset's metadata holds, under ``"meta_envs"``, the schema
name, env ID, kwargs and full setting, the sources, the task count and seed, the task
class, whether labels are present, and the generation's wall time (``seconds``, of which
``write_seconds`` were spent building Minari's buffers and writing them).

Tasks and seeds
---------------
Training tasks come from :func:`meta_envs.training_tasks` (their own seed stream) with
every held-out task of the benchmark suites' cells of the same setting, and the
protocol's default held-out set, left out (:func:`excluded_tasks`): a dataset never holds
a task an agent trained on it is scored on. Each source's env and agent seeds come from
the seed and the source's name, so a source's trials do not depend on which other sources
were generated with it.

Storage backend
---------------
Minari 0.5 writes HDF5 (one group per episode in one file) or Arrow (a folder and a file
per episode). :data:`DEFAULT_FORMAT` is the one that wrote smaller and faster on this
project's datasets (measured in the README's dataset card, "Learning-history datasets").
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import time
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import meta_envs
from agents.evaluation.protocol import Agent, Step, run_trials
from agents.in_context.labels import has_optimal_action, optimal_actions
from meta_envs.settings import env_setting, max_trial_length
from meta_envs.task import ArrayTask
from meta_envs.task_sets import TRAINING_SPAWN_KEY
from meta_envs.trial import OBSERVATION_KEYS
from meta_envs.validation import check_int

#: the name (and version) of this layout, stored in every dataset's metadata
SCHEMA = "meta_envs.histories/1"
#: Minari storage backends (``data_format``)
FORMATS = ("hdf5", "arrow")
#: the backend used unless asked otherwise (see the module docstring)
DEFAULT_FORMAT = "hdf5"
#: the protocol's default held-out set (``evaluate``, ``scripts/train.py``'s final evaluation)
DEFAULT_HELD_OUT = (1000, 0)
#: bytes of recorded trials one batch may hold (a larger --batch-size is cut to fit)
BATCH_BYTES = 1 << 29
# Minari's form of a dataset ID: NAME-vVERSION (the folder's name is the ID)
_DATASET_ID = re.compile(r"[-_.\w]+-v\d+")


def excluded_tasks(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> set[ArrayTask]:
    """The held-out tasks training data of a setting must not contain: those of every
    benchmark suite cell with the same setting, and the protocol's default held-out set
    (:data:`DEFAULT_HELD_OUT`).

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: its kwargs.
    """
    from agents.benchmark.suites import SUITES

    env_kwargs = dict(env_kwargs or {})
    setting = env_setting(env_id, env_kwargs)
    sets = {DEFAULT_HELD_OUT} | {
        (suite.num_tasks, suite.seed)
        for suite in SUITES.values()
        for cell in suite.cells
        if cell.env_id == env_id and env_setting(cell.env_id, cell.env_kwargs) == setting
    }
    return {task for num_tasks, seed in sets for task in meta_envs.held_out_tasks(env_id, num_tasks, seed, **env_kwargs)}


class RecordedTrials:
    """Every step of a batch of trials, as :func:`record_trials` saw it.

    :param observation_space: one env's RL² observation space.
    :param num_trials: trials of the batch (``K``).
    :param max_length: the most steps a trial can take (``T``).

    Attributes (filled by the observer): ``observations`` (key -> ``(K, T + 1, ...)``),
    ``actions`` (``(K, T)`` int64), ``rewards`` (``(K, T)``), ``done`` (``(K, T)``: the
    action ended an inner episode), ``lengths`` (``(K,)``: steps of each trial).
    """

    def __init__(self, observation_space: gym.spaces.Dict, num_trials: int, max_length: int) -> None:
        self.observations = {
            key: np.zeros((num_trials, max_length + 1, *space.shape), space.dtype)
            for key, space in observation_space.items()
        }
        self.actions = np.zeros((num_trials, max_length), np.int64)
        self.rewards = np.zeros((num_trials, max_length))
        self.done = np.zeros((num_trials, max_length), bool)
        self.lengths = np.zeros(num_trials, np.int64)
        self._t = np.zeros(num_trials, np.int64)

    @staticmethod
    def bytes_per_trial(observation_space: gym.spaces.Dict, max_length: int) -> int:
        """Memory one recorded trial takes."""
        step = sum(int(np.prod(space.shape)) * np.dtype(space.dtype).itemsize for space in observation_space.values())
        return (max_length + 1) * step + max_length * (8 + 8 + 1)

    def __call__(self, step: Step) -> None:
        rows, local = step.rows, step.local
        t = self._t[rows]
        for key, values in self.observations.items():
            values[rows, t] = step.observation[key][local]
        self.actions[rows, t] = step.actions[local]
        self.rewards[rows, t] = step.rewards[local]
        self.done[rows, t] = step.next_observation["prev_done"][local, 0] > 0
        ended = step.terminated[local]
        if ended.any():
            for key, values in self.observations.items():
                values[rows[ended], t[ended] + 1] = step.next_observation[key][local[ended]]
            self.lengths[rows[ended]] = t[ended] + 1
        self._t[rows] += 1


def record_trials(
    agent: Agent, env_id: str, env_kwargs: Mapping[str, Any], tasks: Sequence[ArrayTask], seed: int, agent_seed: int
) -> RecordedTrials:
    """One trial of ``agent`` per task, through the evaluation protocol's loop, every step recorded.

    :param agent: any :class:`agents.evaluation.Agent`.
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: its kwargs.
    :param tasks: one task per trial.
    :param seed: the vector env's reset seed (reward noise).
    :param agent_seed: what ``agent.reset`` gets.
    """
    env = gym.make(env_id, **env_kwargs)
    space = env.observation_space
    env.close()
    recorded = RecordedTrials(space, len(tasks), max_trial_length(env_id, env_kwargs))
    run_trials(agent, env_id, env_kwargs, tasks, seed, agent_seed, observer=recorded)
    return recorded


def source_seeds(seed: int, source: str, num_batches: int) -> tuple[np.ndarray, np.ndarray]:
    """``(env_seeds, agent_seeds)``, one per batch, of ``source``'s trials (a function of the
    dataset seed and the source's name only).

    :param seed: the dataset's seed.
    :param source: the source's name on the command line.
    :param num_batches: batches of trials.
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(TRAINING_SPAWN_KEY, zlib.crc32(source.encode())))
    states = sequence.generate_state(2 * num_batches, np.uint32).astype(np.int64)
    return states[0::2], states[1::2]


def _type_name(task: ArrayTask) -> str:
    return f"{type(task).__module__}:{type(task).__qualname__}"


def _buffers(recorded: RecordedTrials, labels: np.ndarray | None, seed: int) -> list[Any]:
    """One Minari ``EpisodeBuffer`` per recorded trial."""
    from minari.data_collector import EpisodeBuffer

    buffers = []
    for i, length in enumerate(recorded.lengths.tolist()):
        buffers.append(EpisodeBuffer(
            seed=seed,
            observations={key: recorded.observations[key][i, : length + 1] for key in OBSERVATION_KEYS},
            actions=recorded.actions[i, :length],
            rewards=recorded.rewards[i, :length],
            terminations=np.arange(length) == length - 1,
            truncations=np.zeros(length, bool),
            # a list: minari 0.5.4's Arrow reader cannot decode a 1-D numpy info array (its
            # shape metadata is empty); both backends store a list as a plain column
            infos=None if labels is None else {"optimal_action": labels[i, : length + 1].tolist()},
        ))
    return buffers


@contextlib.contextmanager
def _minari_root(root: Path) -> Iterator[None]:
    """Minari writes datasets under ``$MINARI_DATASETS_PATH``; point it at ``root`` meanwhile."""
    saved = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = saved


def check_out(out: str | Path) -> Path:
    """The dataset folder ``out`` if it can be written: its name is the Minari dataset ID
    (``NAME-vN``) and it does not exist yet.

    :raises ValueError: otherwise, saying what to pick.
    """
    out = Path(out)
    if not _DATASET_ID.fullmatch(out.name):
        raise ValueError(
            f"the dataset folder's name is its Minari dataset ID and must look like NAME-vN "
            f"(e.g. datasets/bandit-k5-n100-v0), got {out.name!r}"
        )
    if out.exists():
        raise ValueError(f"{out} already exists; pick another folder or delete it")
    return out


def generate_dataset(
    out: str | Path,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None,
    sources: Sequence[str],
    num_tasks: int,
    seed: int,
    batch_size: int = 1000,
    data_format: str = DEFAULT_FORMAT,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every source on ``num_tasks`` training tasks and write the trials as a Minari dataset.

    :param out: the dataset folder, ``PARENT/NAME-vN`` (see :func:`check_out`): Minari's
        ``load_dataset("NAME-vN")`` finds it with ``MINARI_DATASETS_PATH=PARENT``.
    :param env_id: a registered meta_envs ID.
    :param env_kwargs: its kwargs.
    :param sources: source agents, each a name :func:`agents.evaluation.probe.make_agent`
        knows (a baseline, ``rl2``, a run folder, ``pkg.mod:factory``).
    :param num_tasks: training tasks; every source plays each once.
    :param seed: the dataset seed (tasks, env noise and agent seeds all derive from it).
    :param batch_size: trials run at once (cut so that a batch's recording fits in
        :data:`BATCH_BYTES`).
    :param data_format: a Minari backend of :data:`FORMATS`.
    :param progress: show a progress bar.
    :return: the dataset's ``"meta_envs"`` metadata.
    :raises ValueError: for a bad folder, setting, source or size, before anything is written.
    """
    import minari
    from tqdm import tqdm

    from agents.evaluation.probe import make_agent

    env_kwargs = dict(env_kwargs or {})
    out = check_out(out)
    setting = env_setting(env_id, env_kwargs)
    check_int("num_tasks", num_tasks, 1)
    check_int("seed", seed, 0)
    check_int("batch_size", batch_size, 1)
    if data_format not in FORMATS:
        raise ValueError(f"data_format must be one of {list(FORMATS)}, got {data_format!r}")
    if not sources or len(set(sources)) != len(sources):
        raise ValueError(f"sources must be distinct names, at least one, got {list(sources)}")
    agents = {source: make_agent(source, env_id, env_kwargs, seed) for source in sources}  # unknown names fail here

    env = gym.make(env_id, **env_kwargs)
    observation_space = env.observation_space
    env.close()
    length = max_trial_length(env_id, env_kwargs)
    batch_size = max(1, min(batch_size, num_tasks, BATCH_BYTES // RecordedTrials.bytes_per_trial(observation_space, length)))
    num_batches = -(-num_tasks // batch_size)
    labelled = has_optimal_action(env_id)
    start = time.perf_counter()
    tasks = meta_envs.training_tasks(env_id, num_tasks, seed, exclude=excluded_tasks(env_id, env_kwargs), **env_kwargs)
    task_json = [json.dumps(task.to_dict(), separators=(",", ":")) for task in tasks]
    spec = gym.spec(env_id)
    spec = dataclasses.replace(spec, kwargs={**spec.kwargs, **env_kwargs})  # recover_environment() gets the setting
    meta = {
        "schema": SCHEMA,
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "setting": setting,
        "sources": list(sources),
        "num_tasks": num_tasks,
        "seed": seed,
        "batch_size": batch_size,
        "task_type": _type_name(tasks[0]),
        "optimal_action": labelled,
        "versions": {"meta_envs": meta_envs.__version__, "minari": minari.__version__},
    }
    dataset = None
    written = 0
    write_seconds = 0.0  # of `seconds`, the part spent building buffers and in Minari's writer
    with tqdm(total=num_tasks * len(sources), unit="trial", disable=not progress, dynamic_ncols=True) as bar:
        for source, agent in agents.items():
            bar.set_postfix(source=source, refresh=False)
            env_seeds, agent_seeds = source_seeds(seed, source, num_batches)
            for b in range(num_batches):
                rows = range(b * batch_size, min((b + 1) * batch_size, num_tasks))
                batch_tasks = [tasks[i] for i in rows]
                recorded = record_trials(agent, env_id, env_kwargs, batch_tasks, int(env_seeds[b]), int(agent_seeds[b]))
                labels = None
                if labelled:
                    labels = optimal_actions(env_id, env_kwargs, batch_tasks, recorded.observations["obs"],
                                             recorded.actions, recorded.done, recorded.lengths)
                writing = time.perf_counter()
                buffers = _buffers(recorded, labels, int(env_seeds[b]))
                if dataset is None:
                    dataset = _create(out, buffers, spec, sources, data_format)
                else:
                    dataset.update_dataset_from_buffer(buffers)
                dataset.storage.update_episode_metadata(
                    [{"source": source, "task_index": i, "task": task_json[i], "agent_seed": int(agent_seeds[b]),
                      "batch": b} for i in rows],
                    range(written, written + len(rows)),
                )
                written += len(rows)
                write_seconds += time.perf_counter() - writing
                bar.update(len(rows))
    meta["seconds"] = round(time.perf_counter() - start, 3)
    meta["write_seconds"] = round(write_seconds, 3)
    dataset.storage.update_metadata({"meta_envs": meta})
    return meta


def _create(out: Path, buffers: list[Any], spec: gym.envs.registration.EnvSpec, sources: Sequence[str],
            data_format: str) -> Any:
    """The Minari dataset at ``out`` with its first episodes."""
    import minari

    # absolute: minari 0.5.4 sizes a dataset at a relative path wrongly (it joins the path twice)
    with _minari_root(out.parent.resolve()), warnings.catch_warnings():
        # fields this project has no value for (an e-mail address, a code permalink)
        warnings.filterwarnings("ignore", message=r"`(author_email|code_permalink)` is set to None", category=UserWarning)
        return minari.create_dataset_from_buffers(
            out.name,
            buffers,
            env=spec,
            eval_env=spec,
            algorithm_name=",".join(sources),
            author="meta_envs (scripts/make_dataset.py)",
            description=f"learning histories of {', '.join(sources)} on {spec.id} {spec.kwargs}, one trial per episode",
            data_format=data_format,
            # lossless: an rgb maze view must stay exactly what the agent saw
            jpeg_encoding=False,
        )
