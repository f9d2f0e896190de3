"""The trial layer, shared by every family: n episodes on one task = one Gymnasium episode.

A family provides its tasks and MDP dynamics as a :class:`TaskDynamics`, batched over
``num_envs`` sub-environments. :class:`TrialBatch` runs trials on top of it: it restarts
the task's MDP when an inner episode ends, ends the trial after ``num_episodes``
episodes, and builds the RL² observation. :class:`RL2Env` (one trial) and
:class:`RL2VectorEnv` (``num_envs`` trials, native numpy) are thin shells over the
same :class:`TrialBatch`, so the single and the vector environment cannot drift.

Observation (every family)
--------------------------
A :class:`gymnasium.spaces.Dict`, keys in this order:

============== ======================= ===============================================
key            shape, dtype             meaning
============== ======================= ===============================================
``obs``        family's state space     ``s_{t+1}``: the new state (after an inner
                                        episode ended, the first state of the next one)
``prev_action`` ``(num_actions,)`` f32  one-hot ``a_t`` (all zeros at reset)
``prev_reward`` ``(1,)`` f32            ``r_t`` (0 at reset)
``prev_done``  ``(1,)`` f32            ``d_t``: 1 if ``a_t`` ended an inner episode
============== ======================= ===============================================

:func:`flatten_observation` (and Gymnasium's ``FlattenObservation``, which follows
the same key order) concatenates them into one vector
``[obs..., prev_action..., prev_reward, prev_done]`` for families whose state is a vector.

Info
----
After ``reset`` and every ``step``, ``info`` says where the agent now is in the trial:
``episode_index`` (inner episodes completed so far, i.e. the index of the episode the
next action belongs to; equals ``num_episodes`` when the trial is over),
``step_in_episode`` (steps already taken in that episode) and ``episode_done`` (the
last step ended an inner episode, same as ``prev_done``), plus any facts the family
reports about the task (:meth:`TaskDynamics.task_info`). When the trial ends,
``episode_returns`` holds the return of each inner episode (length ``num_episodes``).

Randomness
----------
All draws come from one seeded :class:`numpy.random.Generator` per (single or
vector) environment: ``env.np_random``. A single env reset with seed ``s`` and a
vector env with ``num_envs=1`` reset with seed ``s`` produce the same trajectory for
the same actions. For ``num_envs > 1`` the sub-environments share the vector env's
generator (one batched draw per step for all of them), so sub-env ``i`` of a vector
env is *not* the single env seeded with ``s + i``: giving every sub-env its own
generator would cost one Python call per sub-env per step, which is exactly what the
native vector env exists to avoid (``scripts/benchmark_envs.py`` measures that loop
as ``SyncVectorEnv``). Given the same tasks (``options={"tasks": ...}``) and actions,
the sub-envs and single envs agree on everything that is not drawn at random, and
families whose dynamics are deterministic given the task agree exactly.
"""

from __future__ import annotations

import abc
import inspect
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from meta_envs.task import ArrayTask
from meta_envs.validation import check_action, check_actions, check_int, check_keywords

OBSERVATION_KEYS = ("obs", "prev_action", "prev_reward", "prev_done")


def rl2_observation_space(
    state_space: spaces.Space,
    num_actions: int,
    reward_bounds: tuple[float, float] = (-np.inf, np.inf),
) -> spaces.Dict:
    """The RL² observation space of one environment (see the module docstring).

    :param state_space: the family's state space (the ``obs`` entry).
    :param num_actions: size of the discrete action space.
    :param reward_bounds: smallest and largest reward of one step (``prev_reward``'s bounds).
    """
    # An OrderedDict keeps this key order on every Gymnasium 1.x (a plain dict is sorted).
    return spaces.Dict(
        OrderedDict(
            obs=state_space,
            prev_action=spaces.Box(0.0, 1.0, (num_actions,), np.float32),
            prev_reward=spaces.Box(*reward_bounds, (1,), np.float32),
            prev_done=spaces.Box(0.0, 1.0, (1,), np.float32),
        )
    )


def flatten_observation(observation: dict[str, np.ndarray]) -> np.ndarray:
    """Concatenate an RL² observation into ``[obs, prev_action, prev_reward, prev_done]``.

    Works on a single observation (1-D parts) and on a batch (parts of shape
    ``(num_envs, ...)``; the state is flattened per sub-env).

    :param observation: a dict with the keys of :data:`OBSERVATION_KEYS`.
    :return: a float32 array of shape ``(D,)`` or ``(num_envs, D)``.
    """
    batched = observation["prev_action"].ndim == 2
    parts = [
        np.asarray(observation[key], dtype=np.float32).reshape(
            (len(observation["prev_action"]), -1) if batched else (-1,)
        )
        for key in OBSERVATION_KEYS
    ]
    return np.concatenate(parts, axis=-1)


class TaskDynamics(abc.ABC):
    """Layer 1 of a family: its tasks and MDP dynamics for ``num_envs`` sub-envs at once.

    Every method works on whole batches (one numpy call per step, never a Python loop
    over sub-environments on the hot path).

    :param num_envs: number of sub-environments.
    """

    #: the family's task class (an :class:`~meta_envs.task.ArrayTask`)
    task_type: type[ArrayTask]
    #: the size of the discrete action space
    num_actions: int
    #: the observation space of one sub-env's state (``obs`` in the RL² observation)
    state_space: spaces.Space
    #: the smallest and largest reward of one step (bounds of ``prev_reward``)
    reward_bounds: tuple[float, float] = (-np.inf, np.inf)

    def __init__(self, num_envs: int) -> None:
        self.num_envs = check_int("num_envs", num_envs, 1)

    @abc.abstractmethod
    def sample_tasks(self, env_ids: np.ndarray, rng: np.random.Generator) -> None:
        """Draw a new task from the task distribution for each of ``env_ids``."""

    @abc.abstractmethod
    def set_tasks(self, env_ids: np.ndarray, tasks: Sequence[ArrayTask]) -> None:
        """Install the given (already validated) tasks; raise if they do not fit the env."""

    @abc.abstractmethod
    def task(self, env_id: int) -> ArrayTask:
        """The task of sub-env ``env_id`` as an immutable task object."""

    @abc.abstractmethod
    def start_episodes(self, env_ids: np.ndarray, rng: np.random.Generator) -> None:
        """Put ``env_ids`` in the initial state of their task's MDP (a new inner episode)."""

    @abc.abstractmethod
    def step(
        self, actions: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Apply one valid action per sub-env.

        :return: ``(rewards, episode_end)``: float64 and bool arrays of shape ``(num_envs,)``;
            ``episode_end[i]`` says the inner episode of sub-env ``i`` just ended.
        """

    @abc.abstractmethod
    def state_obs(self) -> np.ndarray:
        """A fresh array ``(num_envs, *state_space.shape)`` with every sub-env's current state."""

    def task_info(self) -> dict[str, np.ndarray]:
        """Facts about each sub-env's current task that ``info`` reports at every step.

        :return: name -> array of shape ``(num_envs,)`` (owned by the dynamics; callers copy).
        """
        return {}

    def task_features(self) -> np.ndarray:
        """Every sub-env's current task as a flat float32 vector: a fresh array
        ``(num_envs, F)``, the same ``F`` for every task of the env.

        For learners that may look at the task during training (a value baseline that sees
        it, :attr:`agents.rl2.config.RL2Config.value_task_features`); the RL² observation
        never holds it.

        :raises NotImplementedError: for a family without task features (the message says which).
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no task features (bandits and tabular MDPs have them)"
        )

    def render_text(self, env_id: int, history: Sequence[tuple[int, float, bool]]) -> str:
        """The family's part of sub-env ``env_id``'s ``ansi`` rendering (empty by default).

        :param env_id: the sub-env.
        :param history: ``(action, reward, episode_done)`` of every step of its current trial.
        """
        return ""

    def check_task(self, task: Any) -> ArrayTask:
        """Raise a clear error unless ``task`` is a task this env can run."""
        if not isinstance(task, self.task_type):
            raise TypeError(
                f"task must be a {self.task_type.__name__}, got {type(task).__name__}"
            )
        return task


class TrialBatch:
    """Trials of ``num_episodes`` inner episodes for every sub-env of a :class:`TaskDynamics`.

    Holds, per sub-env, the position in the trial, the per-episode returns and what
    just happened (previous action, reward, done) for the RL² observation.

    :param dynamics: the family's batched task dynamics.
    :param num_episodes: inner episodes per trial.
    """

    def __init__(self, dynamics: TaskDynamics, num_episodes: int) -> None:
        self.dynamics = dynamics
        self.num_episodes = check_int("num_episodes", num_episodes, 1)
        n, num_actions = dynamics.num_envs, dynamics.num_actions
        self.episode_index = np.zeros(n, np.int64)
        self.step_in_episode = np.zeros(n, np.int64)
        # One spare column: a sub-env whose trial is over may be stepped once more by
        # the vector env's next-step autoreset before it is reset; its reward lands there.
        self.episode_returns = np.zeros((n, self.num_episodes + 1), np.float64)
        self._return_offsets = np.arange(n, dtype=np.int64) * (self.num_episodes + 1)
        # prev_action is stored as an index; index num_actions ("none") maps to zeros.
        self.prev_action = np.full(n, num_actions, np.int64)
        self.prev_reward = np.zeros(n, np.float32)
        self.prev_done = np.zeros(n, bool)
        self._one_hot_table = np.eye(num_actions + 1, num_actions, dtype=np.float32)

    def reset(
        self,
        env_ids: np.ndarray,
        rng: np.random.Generator,
        tasks: Sequence[ArrayTask] | None = None,
    ) -> None:
        """Start a new trial in ``env_ids``: a new task (drawn, or the given ones), episode 0."""
        if tasks is None:
            self.dynamics.sample_tasks(env_ids, rng)
        else:
            if len(tasks) != len(env_ids):
                raise ValueError(
                    f"got {len(tasks)} tasks for {len(env_ids)} sub-environments being reset"
                )
            self.dynamics.set_tasks(env_ids, [self.dynamics.check_task(t) for t in tasks])
        self.dynamics.start_episodes(env_ids, rng)
        self.episode_index[env_ids] = 0
        self.step_in_episode[env_ids] = 0
        self.episode_returns[env_ids] = 0.0
        self.prev_action[env_ids] = self.dynamics.num_actions
        self.prev_reward[env_ids] = 0.0
        self.prev_done[env_ids] = False

    def step(
        self, actions: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step every sub-env with a valid int64 action array.

        :return: ``(rewards, episode_end, trial_end)``, each of shape ``(num_envs,)``.
        """
        rewards, episode_end = self.dynamics.step(actions, rng)
        self.episode_returns.reshape(-1)[self._return_offsets + self.episode_index] += rewards
        np.copyto(self.prev_action, actions)
        np.copyto(self.prev_reward, rewards, casting="same_kind")
        np.copyto(self.prev_done, episode_end)
        self.step_in_episode += 1
        self.step_in_episode *= ~episode_end
        self.episode_index += episode_end
        trial_end = episode_end & (self.episode_index == self.num_episodes)
        restart = np.flatnonzero(episode_end & ~trial_end)
        if restart.size:
            self.dynamics.start_episodes(restart, rng)
        return rewards, episode_end, trial_end

    def observation(self) -> dict[str, np.ndarray]:
        """The RL² observation of every sub-env, as fresh arrays."""
        return {
            "obs": self.dynamics.state_obs(),
            "prev_action": self._one_hot_table.take(self.prev_action, axis=0),
            "prev_reward": self.prev_reward[:, None].copy(),
            "prev_done": self.prev_done.astype(np.float32)[:, None],
        }

    def returns_of(self, env_id: int) -> np.ndarray:
        """The per-episode returns of ``env_id``'s trial so far (length ``num_episodes``)."""
        return self.episode_returns[env_id, : self.num_episodes].copy()


def keyword_parameters(cls: type) -> list[str]:
    """The keyword arguments ``cls(...)`` takes (those of its ``__init__``)."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # not self
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [parameter.name for parameter in parameters if parameter.kind in kinds]


def check_render_mode(render_mode: str | None, allowed: Sequence[str]) -> str | None:
    """Return ``render_mode`` if it is ``None`` or one of ``allowed``, else raise."""
    if render_mode is not None and render_mode not in allowed:
        raise ValueError(f"render_mode must be None or one of {list(allowed)}, got {render_mode!r}")
    return render_mode


def trial_text(trial: TrialBatch, env_id: int, history: Sequence[tuple[int, float, bool]]) -> str:
    """The ``ansi`` rendering of sub-env ``env_id``: where it is in the trial, then the family's text.

    :param trial: the trials.
    :param env_id: the sub-env.
    :param history: ``(action, reward, episode_done)`` of every step of its current trial.
    """
    header = f"episode {trial.episode_index[env_id]}/{trial.num_episodes}, step {trial.step_in_episode[env_id]}"
    return header + "\n" + trial.dynamics.render_text(env_id, history) + "\n"


class RL2Env(gym.Env):
    """One trial per Gymnasium episode, on one task of a family (see the module docstring).

    Families subclass it with their own keyword arguments and build their
    :class:`TaskDynamics` with ``num_envs=1``.

    :param dynamics: the family's dynamics for one sub-env.
    :param num_episodes: inner episodes per trial.
    :param render_mode: ``None`` or ``"ansi"``.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}

    def __new__(cls, *args: Any, **kwargs: Any) -> RL2Env:
        # gym.make passes the user's kwargs straight to the family's constructor: check
        # them here to list the accepted ones instead of Python's bare "unexpected keyword"
        check_keywords(cls.__name__, kwargs, keyword_parameters(cls))
        return super().__new__(cls)

    def __init__(
        self, dynamics: TaskDynamics, num_episodes: int, render_mode: str | None = None
    ) -> None:
        if dynamics.num_envs != 1:
            raise ValueError(f"RL2Env runs one trial; got dynamics for {dynamics.num_envs} envs")
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self._trial = TrialBatch(dynamics, num_episodes)
        self.num_episodes = self._trial.num_episodes
        self.observation_space = rl2_observation_space(
            dynamics.state_space, dynamics.num_actions, dynamics.reward_bounds
        )
        self.action_space = spaces.Discrete(dynamics.num_actions)
        self._ids = np.zeros(1, np.int64)
        self._needs_reset = True
        #: ``(action, reward, episode_done)`` of every step of the current trial
        self.history: list[tuple[int, float, bool]] = []

    @property
    def task(self) -> ArrayTask:
        """The task of the current trial."""
        if self._needs_reset and not self.history:
            raise RuntimeError("no task yet: call reset() first")
        return self._trial.dynamics.task(0)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a trial on a new task, or on ``options={"task": task}``."""
        super().reset(seed=seed)
        options = dict(options or {})
        task = options.pop("task", None)
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; allowed: ['task']")
        self._trial.reset(self._ids, self.np_random, None if task is None else [task])
        self._needs_reset = False
        self.history = []
        return self._observation(), self._info()

    def step(
        self, action: Any
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Take one action; ``terminated`` is True only when the trial's last episode ends."""
        if self._needs_reset:
            raise RuntimeError(
                "the trial is over (or never started): call reset() before step()"
            )
        action = check_action(action, self._trial.dynamics.num_actions)
        rewards, episode_end, trial_end = self._trial.step(
            np.array([action], np.int64), self.np_random
        )
        reward, done = float(rewards[0]), bool(trial_end[0])
        self.history.append((action, reward, bool(episode_end[0])))
        self._needs_reset = done
        info = self._info()
        if done:
            info["episode_returns"] = self._trial.returns_of(0)
        return self._observation(), reward, done, False, info

    def _observation(self) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in self._trial.observation().items()}

    def _info(self) -> dict[str, Any]:
        info = {
            "episode_index": int(self._trial.episode_index[0]),
            "step_in_episode": int(self._trial.step_in_episode[0]),
            "episode_done": bool(self._trial.prev_done[0]),
        }
        for name, values in self._trial.dynamics.task_info().items():
            info[name] = values[0].item()
        return info

    def render(self) -> str | None:
        """``"ansi"``: a text summary of the trial so far (see the family's ``render_text``)."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi'")
            return None
        return trial_text(self._trial, 0, self.history)


class RL2VectorEnv(VectorEnv):
    """``num_envs`` trials stepped together with batched numpy (a native vector env).

    Every sub-env runs its own task; when a sub-env's trial ends a new task is drawn
    for it (autoreset). Two of Gymnasium's autoreset modes are supported:

    * ``AutoresetMode.NEXT_STEP`` (default, as ``SyncVectorEnv``): the step that ends a
      trial returns ``terminated=True`` and the trial's last observation; the *next*
      ``step`` ignores that sub-env's action and returns the first observation of a new
      trial with reward 0 and ``terminated=False``.
    * ``AutoresetMode.SAME_STEP``: the step that ends a trial resets the sub-env at
      once and returns the new trial's first observation; the last observation of the
      finished trial is in ``info["final_obs"]`` (a dict of batched arrays, valid where
      ``info["_final_obs"]`` is True).

    ``info`` holds the fields of :class:`RL2Env` as arrays of shape ``(num_envs,)``
    (``episode_returns`` of shape ``(num_envs, num_episodes)``, valid where
    ``info["_episode_returns"]``); in SAME_STEP mode the position fields describe the
    new trial. ``reset(options=...)`` accepts ``"tasks"`` (one task per sub-env being
    reset) and ``"reset_mask"`` (a bool array: reset only those sub-envs).

    :param dynamics: the family's dynamics for ``num_envs`` sub-envs.
    :param num_episodes: inner episodes per trial.
    :param autoreset_mode: ``AutoresetMode.NEXT_STEP`` or ``AutoresetMode.SAME_STEP``
        (or their string values).
    :param render_mode: ``None`` or one of the single env's render modes; ``render()``
        then returns a tuple with each sub-env's rendering, as ``SyncVectorEnv`` does.
    """

    #: the single env's render modes (a family with more overrides it)
    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}

    def __new__(cls, *args: Any, **kwargs: Any) -> RL2VectorEnv:
        # as RL2Env.__new__, for gym.make_vec
        check_keywords(cls.__name__, kwargs, keyword_parameters(cls))
        return super().__new__(cls)

    def __init__(
        self,
        dynamics: TaskDynamics,
        num_episodes: int,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
    ) -> None:
        try:
            autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError as err:
            raise ValueError(
                f"autoreset_mode must be AutoresetMode.NEXT_STEP or SAME_STEP, got {autoreset_mode!r}"
            ) from err
        if autoreset_mode is AutoresetMode.DISABLED:
            raise ValueError("autoreset_mode DISABLED is not supported; use NEXT_STEP or SAME_STEP")
        self.metadata = {**type(self).metadata, "autoreset_mode": autoreset_mode}
        self.autoreset_mode = autoreset_mode
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        #: per sub-env, ``(action, reward, episode_done)`` of every step of its current
        #: trial; kept only with a render_mode (a Python loop per step)
        self.histories: list[list[tuple[int, float, bool]]] = [[] for _ in range(dynamics.num_envs)]
        self.num_envs = dynamics.num_envs
        self._trial = TrialBatch(dynamics, num_episodes)
        self.num_episodes = self._trial.num_episodes
        self.single_observation_space = rl2_observation_space(
            dynamics.state_space, dynamics.num_actions, dynamics.reward_bounds
        )
        self.single_action_space = spaces.Discrete(dynamics.num_actions)
        # batch_space sorts a Dict's keys; keep the single env's order (OBSERVATION_KEYS)
        self.observation_space = spaces.Dict(
            OrderedDict(
                (key, batch_space(space, self.num_envs)) for key, space in self.single_observation_space.items()
            )
        )
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._all_ids = np.arange(self.num_envs, dtype=np.int64)
        self._all_valid = np.ones(self.num_envs, bool)
        self._all_valid.flags.writeable = False
        self._needs_reset = np.ones(self.num_envs, bool)
        self._started = False

    def task(self, env_id: int) -> ArrayTask:
        """The current task of sub-env ``env_id``."""
        check_int("env_id", env_id, 0, self.num_envs - 1)
        if not self._started:
            raise RuntimeError("no task yet: call reset() first")
        return self._trial.dynamics.task(env_id)

    @property
    def tasks(self) -> list[ArrayTask]:
        """The current task of every sub-env."""
        return [self.task(i) for i in range(self.num_envs)]

    def task_features(self) -> np.ndarray:
        """The current task of every sub-env as a flat float32 vector, ``(num_envs, F)``
        (:meth:`TaskDynamics.task_features`; in SAME_STEP mode a sub-env whose trial just
        ended already shows its new task's)."""
        if not self._started:
            raise RuntimeError("no task yet: call reset() first")
        return self._trial.dynamics.task_features()

    def draw_tasks(self, rng: np.random.Generator) -> list[ArrayTask]:
        """Draw ``num_envs`` tasks from this env's task distribution with ``rng``.

        Used to build held-out task sets; it overwrites the sub-envs' tasks, so call
        ``reset`` before stepping again.
        """
        self._trial.dynamics.sample_tasks(self._all_ids, rng)
        self._needs_reset[:] = True
        return [self._trial.dynamics.task(i) for i in range(self.num_envs)]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start new trials in every sub-env (or those of ``options["reset_mask"]``)."""
        if seed is not None:
            if isinstance(seed, (list, tuple, np.ndarray)):
                raise TypeError(
                    "a native meta_envs vector env is seeded with one int (all sub-envs share "
                    f"one generator), got {type(seed).__name__}"
                )
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        tasks = options.pop("tasks", None)
        if options:
            raise ValueError(
                f"unknown reset options {sorted(options)}; allowed: ['reset_mask', 'tasks']"
            )
        if mask is None:
            env_ids = self._all_ids
        else:
            mask = np.asarray(mask)
            if mask.dtype != bool or mask.shape != (self.num_envs,):
                raise ValueError(
                    f"reset_mask must be a bool array of shape ({self.num_envs},), "
                    f"got {mask.dtype} {mask.shape}"
                )
            if not self._started and not mask.all():
                raise ValueError("the first reset must reset every sub-env (no reset_mask)")
            env_ids = np.flatnonzero(mask)
        self._trial.reset(env_ids, self.np_random, tasks)
        self._needs_reset[env_ids] = False
        self._started = True
        for env_id in env_ids:
            self.histories[env_id] = []
        return self._trial.observation(), self._position_info()

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env; see the class docstring for the autoreset behaviour."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = check_actions(actions, self.num_envs, self._trial.dynamics.num_actions)
        rng = self.np_random
        rewards, _, trial_end = self._trial.step(actions, rng)
        terminated = trial_end
        infos: dict[str, Any] = {}
        if trial_end.any():
            infos["episode_returns"] = self._trial.episode_returns[:, : self.num_episodes].copy()
            infos["_episode_returns"] = trial_end
        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            if self._needs_reset.any():
                # These sub-envs ended their trial last step: this step starts a new one
                # and their action is ignored (what was just computed for them is dropped).
                stale = np.flatnonzero(self._needs_reset)
                self._trial.reset(stale, rng)
                rewards[stale] = 0.0
                terminated[stale] = False
                if "episode_returns" in infos:
                    infos["_episode_returns"] = terminated
            self._needs_reset = terminated.copy()
            observation = self._trial.observation()
        else:
            ended = np.flatnonzero(trial_end)
            if ended.size:
                infos["final_obs"] = self._trial.observation()
                infos["_final_obs"] = trial_end
                self._trial.reset(ended, rng)
            observation = self._trial.observation()
        infos.update(self._position_info())
        if self.render_mode is not None:
            self._record(actions, rewards)
        truncated = np.zeros(self.num_envs, bool)
        return observation, rewards, terminated, truncated, infos

    def fresh_trials(self) -> np.ndarray:
        """Which sub-envs stand at the start of a trial (no step taken in it yet).

        After a step that is exactly the sub-envs that started a new trial (an autoreset):
        any step taken in a trial leaves a nonzero step or episode count.
        """
        return (self._trial.episode_index == 0) & (self._trial.step_in_episode == 0)

    def _record(self, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Extend each sub-env's history by the step just taken (a new trial's starts empty)."""
        fresh = self.fresh_trials()
        for env_id in range(self.num_envs):
            if fresh[env_id]:
                self.histories[env_id] = []
            else:
                self.histories[env_id].append(
                    (int(actions[env_id]), float(rewards[env_id]), bool(self._trial.prev_done[env_id]))
                )

    def render(self) -> tuple[Any, ...] | None:
        """Each sub-env's rendering (as its single env renders), in a tuple."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' to make_vec")
            return None
        return tuple(trial_text(self._trial, env_id, self.histories[env_id]) for env_id in range(self.num_envs))

    def _position_info(self) -> dict[str, np.ndarray]:
        trial = self._trial
        info = {
            "episode_index": trial.episode_index.copy(),
            "step_in_episode": trial.step_in_episode.copy(),
            "episode_done": trial.prev_done.copy(),
        }
        info.update((name, values.copy()) for name, values in trial.dynamics.task_info().items())
        info.update([("_" + name, self._all_valid) for name in list(info)])
        return info
