"""A learning-history dataset (:mod:`.generation`) as flat arrays and as torch training windows.

:func:`load_histories` reads every trial of a dataset once through Minari and keeps it as
flat numpy arrays (one row per step at which an action was taken); it caches them in the
dataset folder (``in_context_cache.npz``), because Minari reads episode by episode and
that dominates: the README's dataset card has the measured times of both.

:class:`InContextWindows` serves windows of consecutive steps of one trial, as a torch
``Dataset`` (``dataset[i]``) and as a seeded batch sampler (:meth:`InContextWindows.sample`).
Every window is the sequence of RL² observations ``x_t = (s_t, a_{t-1}, r_{t-1}, d_{t-1})``
of ``context_length`` consecutive steps, each with a target:

* **DPT** (``target="dpt"``, Lee et al. 2023): the optimal action in ``s_t`` of the true
  task. A causal model reads, at position ``t``, the in-context transitions of the trial
  before ``t`` (they are in ``x_1 .. x_t``) and the query state ``s_t``: every position of
  a window is one (context, query) -> optimal action example, all trained at once.
* **AD** (``target="ad"``, Laskin et al. 2022): the source's own next action ``a_t``; a
  window is a causal slice across the source's history on one task (a trial spans all its
  inner episodes), so the model learns to imitate the learner as it improves.

A trial longer than ``context_length`` gives one window per start offset; a shorter one
gives one window, padded (``mask`` False, target -1). ``positions`` are the steps' indices
in their trial, so a window cut from the middle of a trial still knows where it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from agents.in_context.generation import SCHEMA
from agents.training.run_folder import atomic_write
from meta_envs.settings import env_setting
from meta_envs.task import ArrayTask
from meta_envs.trial import OBSERVATION_KEYS, flatten_observation
from meta_envs.validation import check_int

#: the training targets a window can carry
TARGETS = ("dpt", "ad")
#: the flat-array cache beside Minari's ``data/`` folder
CACHE_NAME = "in_context_cache.npz"

Target = Literal["dpt", "ad"]

# the cache's arrays for the tasks' fields are named with this prefix
_TASK_FIELD = "task_field_"
# bumped whenever the cache's arrays change, so that an older cache is rebuilt
_CACHE_LAYOUT = 1


def _data_path(path: str | Path) -> Path:
    """Minari's ``data/`` folder of a dataset folder; a clear error if there is none."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"no dataset folder {path}: make one with python scripts/make_dataset.py --out {path} ..."
        )
    data = path / "data"
    if not (data / "metadata.json").is_file():
        raise FileNotFoundError(f"{path} is not a Minari dataset folder (no data/metadata.json)")
    # absolute: minari 0.5.4 sizes a dataset at a relative path wrongly (it joins the path twice)
    return data.resolve()


def dataset_metadata(path: str | Path) -> dict[str, Any]:
    """The dataset's ``"meta_envs"`` metadata (:mod:`.generation`) with Minari's ``data_format``,
    ``total_episodes`` and ``total_steps`` added.

    :param path: the dataset folder (written by ``scripts/make_dataset.py``).
    :raises FileNotFoundError: if there is no dataset there.
    :raises ValueError: for a Minari dataset that this project did not write.
    """
    metadata = json.loads((_data_path(path) / "metadata.json").read_text())
    ours = metadata.get("meta_envs")
    if not isinstance(ours, dict) or ours.get("schema") != SCHEMA:
        raise ValueError(
            f"{path} is a Minari dataset but not a meta_envs learning-history dataset ({SCHEMA}): "
            "make one with scripts/make_dataset.py"
        )
    return {**ours, **{key: metadata[key] for key in ("data_format", "total_episodes", "total_steps")}}


def check_setting(path: str | Path, env_id: str, env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dataset's metadata if it was made on ``env_id`` with this setting.

    :raises ValueError: naming both settings if they differ.
    """
    metadata = dataset_metadata(path)
    if metadata["env_id"] != env_id or metadata["setting"] != env_setting(env_id, env_kwargs):
        raise ValueError(
            f"the dataset {path} was made on {metadata['env_id']} {metadata['setting']}, not on "
            f"{env_id} {env_setting(env_id, env_kwargs)}; train on the dataset's setting or make a dataset for this one"
        )
    return metadata


def _minari_dataset(path: str | Path) -> Any:
    import minari

    return minari.MinariDataset(_data_path(path))


def load_tasks(path: str | Path) -> list[ArrayTask]:
    """The dataset's training tasks, by task index (rebuilt from the episodes' JSON, or from
    the loader's cache: :meth:`LearningHistories.tasks`).

    :param path: the dataset folder.
    """
    return load_histories(path).tasks()


def _task_type(metadata: Mapping[str, Any]) -> type[ArrayTask]:
    module, _, name = metadata["task_type"].partition(":")
    if not module.startswith("meta_envs."):
        raise ValueError(f"the dataset's task type {metadata['task_type']!r} is not one of meta_envs'")
    return getattr(importlib.import_module(module), name)


@dataclasses.dataclass(frozen=True)
class LearningHistories:
    """Every trial of a dataset as flat arrays: one row per step at which an action was taken.

    :param path: the dataset folder.
    :param metadata: :func:`dataset_metadata`.
    :param observations: key of :data:`meta_envs.OBSERVATION_KEYS` -> ``(N, ...)`` the RL²
        observation each action was taken from (the state in its own dtype).
    :param actions: ``(N,)`` int64 the actions.
    :param rewards: ``(N,)`` float32 their rewards.
    :param optimal_actions: ``(N,)`` int64 the optimal-action labels, ``None`` if the
        dataset has none.
    :param starts: ``(E,)`` int64 each trial's first row.
    :param lengths: ``(E,)`` int64 each trial's steps.
    :param sources: ``(E,)`` int64 each trial's source, an index into ``metadata["sources"]``.
    :param task_indices: ``(E,)`` int64 each trial's task index.
    :param task_fields: field of the task class -> ``(num_tasks, ...)`` its values, by task index.
    """

    path: Path
    metadata: Mapping[str, Any]
    observations: Mapping[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    optimal_actions: np.ndarray | None
    starts: np.ndarray
    lengths: np.ndarray
    sources: np.ndarray
    task_indices: np.ndarray
    task_fields: Mapping[str, np.ndarray]

    def tasks(self) -> list[ArrayTask]:
        """The training tasks, by task index."""
        task_type = _task_type(self.metadata)
        count = len(next(iter(self.task_fields.values())))
        return [task_type(**{name: values[i] if values.ndim > 1 else values[i].item()
                             for name, values in self.task_fields.items()}) for i in range(count)]

    @property
    def source_names(self) -> list[str]:
        """The sources, in the order :attr:`sources` indexes them."""
        return list(self.metadata["sources"])

    def trials_of(self, sources: Sequence[str] | None = None) -> np.ndarray:
        """Indices of the trials of these sources (all trials for ``None``).

        :raises ValueError: for a source the dataset does not have (the message lists them).
        """
        if sources is None:
            return np.arange(len(self.starts))
        unknown = [source for source in sources if source not in self.source_names]
        if unknown:
            raise ValueError(f"the dataset {self.path} has no source(s) {unknown}; its sources are {self.source_names}")
        wanted = [self.source_names.index(source) for source in sources]
        return np.flatnonzero(np.isin(self.sources, wanted))

    def tokens(self, rows: np.ndarray) -> np.ndarray:
        """The flattened RL² observations (:func:`meta_envs.flatten_observation`) of ``rows``
        (any shape): float32 of shape ``(*rows.shape, D)``."""
        flat = rows.reshape(-1)
        tokens = flatten_observation({key: self.observations[key][flat] for key in OBSERVATION_KEYS})
        return tokens.reshape(*rows.shape, -1)


def _fingerprint(path: str | Path) -> str:
    """Changes whenever Minari's metadata does (episodes appended, another dataset written
    there) or the cache's layout does."""
    digest = hashlib.sha256((_data_path(path) / "metadata.json").read_bytes())
    digest.update(str(_CACHE_LAYOUT).encode())
    return digest.hexdigest()


def load_histories(path: str | Path, cache: bool = True) -> LearningHistories:
    """Read a dataset into :class:`LearningHistories`.

    :param path: the dataset folder.
    :param cache: read (and write) the flat arrays in ``PATH/in_context_cache.npz``, kept
        only while Minari's metadata is unchanged; a folder that cannot be written is read
        without caching.
    """
    metadata = dataset_metadata(path)
    fingerprint = _fingerprint(path)
    cache_file = Path(path) / CACHE_NAME
    arrays: dict[str, np.ndarray] | None = None
    if cache and cache_file.is_file():
        with np.load(cache_file) as stored:
            if str(stored["fingerprint"]) == fingerprint:
                arrays = {key: stored[key] for key in stored.files if key != "fingerprint"}
    if arrays is None:
        arrays = _read_minari(path, metadata)
        if cache:
            try:  # atomically: a reader never sees half a cache
                atomic_write(cache_file, lambda temporary: np.savez(temporary, fingerprint=np.array(fingerprint), **arrays))
            except OSError:  # a read-only dataset: reading it again is slower, not wrong
                pass
    labels = arrays.get("optimal_action")
    return LearningHistories(
        Path(path), metadata, {key: arrays[f"observation_{key}"] for key in OBSERVATION_KEYS}, arrays["actions"],
        arrays["rewards"], labels, arrays["starts"], arrays["lengths"], arrays["sources"], arrays["task_indices"],
        {key[len(_TASK_FIELD):]: value for key, value in arrays.items() if key.startswith(_TASK_FIELD)},
    )


def _read_minari(path: str | Path, metadata: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Every episode through Minari's own reader, concatenated."""
    dataset = _minari_dataset(path)
    names = list(metadata["sources"])
    columns: dict[str, list[np.ndarray]] = {f"observation_{key}": [] for key in OBSERVATION_KEYS}
    columns.update(actions=[], rewards=[])
    if metadata["optimal_action"]:
        columns["optimal_action"] = []
    for episode in dataset.iterate_episodes():
        for key in OBSERVATION_KEYS:
            columns[f"observation_{key}"].append(episode.observations[key][:-1])
        columns["actions"].append(np.asarray(episode.actions, np.int64))
        columns["rewards"].append(np.asarray(episode.rewards, np.float32))
        if metadata["optimal_action"]:
            columns["optimal_action"].append(np.asarray(episode.infos["optimal_action"], np.int64)[:-1])
    episodes = list(dataset.storage.get_episode_metadata(range(metadata["total_episodes"])))
    lengths = np.array([len(actions) for actions in columns["actions"]], np.int64)
    arrays = {key: np.concatenate(parts) for key, parts in columns.items()}
    task_indices = np.array([int(episode["task_index"]) for episode in episodes], np.int64)
    arrays.update(
        starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        lengths=lengths,
        sources=np.array([names.index(str(episode["source"])) for episode in episodes], np.int64),
        task_indices=task_indices,
    )
    # each task once, by index, one array per field (every task of a setting has the same shapes)
    first = np.unique(task_indices, return_index=True)[1]
    tasks = [json.loads(episodes[i]["task"]) for i in first]
    for field in dataclasses.fields(_task_type(metadata)):
        arrays[f"{_TASK_FIELD}{field.name}"] = np.stack([np.asarray(task[field.name]) for task in tasks])
    return arrays


def split_trials(histories: LearningHistories, trials: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split trials into ``(train, validation)`` by task: a task's trials (one per source) all
    land on the same side, so validation measures tasks the model never trained on.

    :param histories: the dataset.
    :param trials: the trials to split (e.g. :meth:`LearningHistories.trials_of`).
    :param fraction: share of the tasks held out for validation, in ``[0, 1)``.
    :param seed: seeds the choice of validation tasks.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the validation fraction must be in [0, 1), got {fraction}")
    tasks = np.unique(histories.task_indices[trials])
    chosen = np.random.default_rng(seed).permutation(tasks)[: int(round(fraction * len(tasks)))]
    held = np.isin(histories.task_indices[trials], chosen)
    return trials[~held], trials[held]


class InContextWindows(torch.utils.data.Dataset):
    """Training windows of a dataset under the DPT or AD scheme (see the module docstring).

    An item (``windows[i]``) and a batch (:meth:`sample`) are dicts of tensors: ``tokens``
    ``(L, D)`` float32 flattened RL² observations, ``positions`` ``(L,)`` int64 steps in the
    trial, ``targets`` ``(L,)`` int64 (-1 on padding) and ``mask`` ``(L,)`` bool (a leading
    batch axis for :meth:`sample`).

    :param histories: the dataset (:func:`load_histories`).
    :param target: ``"dpt"`` (the optimal action) or ``"ad"`` (the source's next action).
    :param context_length: steps per window (default: the longest trial).
    :param trials: the trials to draw windows from (default: all).
    :raises ValueError: for an unknown target, a DPT target on a dataset without labels,
        or a bad context length.
    """

    def __init__(
        self,
        histories: LearningHistories,
        target: Target,
        context_length: int | None = None,
        trials: np.ndarray | None = None,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}")
        if target == "dpt" and histories.optimal_actions is None:
            raise ValueError(
                f"the dataset {histories.path} has no optimal_action labels ({histories.metadata['env_id']} has none): "
                "train the ad target instead"
            )
        self.histories = histories
        self.target = target
        self.labels = histories.optimal_actions if target == "dpt" else histories.actions
        trials = np.arange(len(histories.starts)) if trials is None else np.asarray(trials, np.int64)
        if len(trials) == 0:
            raise ValueError("no trials to draw windows from")
        longest = int(histories.lengths[trials].max())
        self.context_length = longest if context_length is None else check_int("context_length", context_length, 1)
        counts = np.maximum(histories.lengths[trials] - self.context_length + 1, 1)
        self._trial = np.repeat(trials, counts)
        # each window's offset in its trial: 0, 1, ... within each trial's run of windows
        self._offset = np.arange(len(self._trial)) - np.repeat(np.cumsum(counts) - counts, counts)

    def __len__(self) -> int:
        return len(self._trial)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self._windows(np.array([index])).items()}

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``batch_size`` windows drawn uniformly (with replacement) with ``generator``."""
        check_int("batch_size", batch_size, 1)
        picks = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        return self._windows(picks)

    def _windows(self, picks: np.ndarray) -> dict[str, torch.Tensor]:
        trial, offset = self._trial[picks], self._offset[picks]
        positions = offset[:, None] + np.arange(self.context_length)[None, :]
        mask = positions < self.histories.lengths[trial][:, None]
        rows = np.where(mask, self.histories.starts[trial][:, None] + positions, 0)
        targets = np.where(mask, self.labels[rows], -1)
        return {
            "tokens": torch.from_numpy(self.histories.tokens(rows)),
            "positions": torch.from_numpy(np.where(mask, positions, 0)),
            "targets": torch.from_numpy(targets),
            "mask": torch.from_numpy(mask),
        }
