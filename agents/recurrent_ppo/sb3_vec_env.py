"""An SB3 :class:`~stable_baselines3.common.vec_env.VecEnv` over a native meta_envs vector env.

Stable-Baselines3 (and sb3-contrib's RecurrentPPO) expect its ``VecEnv`` API; the
family's native vector env (:class:`meta_envs.trial.RL2VectorEnv`, from
``gymnasium.make_vec(..., autoreset_mode="SameStep")``) already steps every sub-env with
one batched numpy call. :class:`NativeVecEnv` passes its batched arrays straight through
(a ``Dict`` observation stays a dict of ``(num_envs, ...)`` arrays), instead of SB3's
``DummyVecEnv`` loop of one Python ``step`` per sub-env.

SB3's step contract, and how it is met
--------------------------------------
* ``step`` returns ``(observation, rewards, dones, infos)``: ``rewards`` float32 (as
  ``DummyVecEnv``), ``dones = terminated | truncated`` (a done sub-env has already been
  reset: same-step autoreset, so ``observation`` holds the new trial's first observation).
* ``infos`` is a list of one dict per sub-env, as SB3 requires. To keep the per-sub-env
  Python work to that list, only sub-envs whose trial ended get entries:
  ``terminal_observation`` (the finished trial's last observation, a dict of arrays),
  ``TimeLimit.truncated``, ``episode = {"r": trial return, "l": trial length, "t": seconds
  since the adapter was made}`` (what SB3's ``Monitor`` writes, read by its logger's
  ``ep_info_buffer``) and ``episode_returns`` (the return of each inner episode). The
  native env's batched info of the last ``reset``/``step`` (``episode_index``,
  ``step_in_episode``, ``episode_done``, ...: arrays of shape ``(num_envs,)``) is
  :attr:`NativeVecEnv.last_info`; it is not copied into the per-sub-env dicts.
* Seeding: the sub-envs of a native vector env share one generator, seeded with one int.
  ``seed(s)`` (what SB3's ``set_random_seed`` calls) stores ``s`` for the next ``reset``
  (:attr:`NativeVecEnv.np_random_state` gets or restores the generator itself);
  ``set_options(dict)`` likewise passes native reset options (e.g. ``{"tasks": [...]}``).
* ``get_attr`` returns the native vector env's attribute once per index (its attributes
  are shared by all its sub-envs), except ``task``: each sub-env's current task.
  ``env_is_wrapped`` is False (no Gymnasium wrappers; the adapter writes the ``episode``
  info itself, so SB3's ``Monitor`` is not needed). ``set_attr`` and ``env_method`` raise:
  the sub-envs are one batched object, not separate envs with their own attributes and
  methods; use :attr:`NativeVecEnv.venv`. ``render`` raises: the native vector envs do not
  render (render a single env, ``gymnasium.make(env_id, render_mode=...)``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from meta_envs.trial import RL2VectorEnv


class NativeVecEnv(VecEnv):
    """SB3's ``VecEnv`` API over a native meta_envs vector env (see the module docstring).

    :param venv: a native vector env (``RL2VectorEnv``) in same-step autoreset mode.
    """

    def __init__(self, venv: gym.vector.VectorEnv) -> None:
        native = venv.unwrapped
        if not isinstance(native, RL2VectorEnv):
            raise TypeError(
                "NativeVecEnv wraps a native meta_envs vector env (gymnasium.make_vec(..., "
                f"vectorization_mode='vector_entry_point')), got {type(native).__name__}"
            )
        if native.autoreset_mode is not AutoresetMode.SAME_STEP:
            raise ValueError(
                "SB3 expects same-step autoreset: make the vector env with "
                f"autoreset_mode='SameStep', got {native.autoreset_mode}"
            )
        self.venv = venv
        self._native = native
        self._seed: int | None = None
        self._reset_options: dict[str, Any] = {}
        self._actions: np.ndarray | None = None
        self._trial_lengths = np.zeros(native.num_envs, np.int64)
        self._start_time = time.time()
        #: the native env's batched info of the last reset or step (arrays of shape ``(num_envs,)``)
        self.last_info: dict[str, Any] = {}
        super().__init__(native.num_envs, native.single_observation_space, native.single_action_space)

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the shared generator at the next :meth:`reset` (one int for all sub-envs).

        :param seed: the seed; ``None`` draws one from NumPy's global generator, as SB3 does.
        :return: the seed, once per sub-env (they share it).
        """
        if seed is None:
            seed = int(np.random.randint(0, np.iinfo(np.uint32).max, dtype=np.uint32))
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int or None, got {seed!r}")
        self._seed = int(seed)
        return [self._seed] * self.num_envs

    @property
    def np_random_state(self) -> dict:
        """The state of the sub-envs' shared generator (saved in checkpoints)."""
        return self._native.np_random.bit_generator.state

    @np_random_state.setter
    def np_random_state(self, state: dict) -> None:
        self._seed = None  # a pending seed would overwrite the restored state at the next reset
        self._native.np_random.bit_generator.state = state

    def set_options(self, options: dict[str, Any] | None = None) -> None:
        """Native reset options for the next :meth:`reset` (``"tasks"``, ``"reset_mask"``).

        :param options: one dict for the whole vector env (per-sub-env lists do not apply).
        """
        if options is not None and not isinstance(options, dict):
            raise TypeError(
                "a native vector env takes one options dict for all sub-envs (e.g. "
                f"{{'tasks': [...]}}), got {type(options).__name__}"
            )
        self._reset_options = dict(options or {})

    def reset(self) -> VecEnvObs:
        """Start new trials (in every sub-env, or those of a ``reset_mask`` option); the seed
        and options given before apply once."""
        observation, info = self.venv.reset(seed=self._seed, options=self._reset_options or None)
        mask = self._reset_options.get("reset_mask")
        self._trial_lengths[slice(None) if mask is None else np.asarray(mask)] = 0
        self._seed, self._reset_options = None, {}
        self.last_info = info
        self.reset_infos = [
            {key: value[i] for key, value in info.items() if not key.startswith("_")} for i in range(self.num_envs)
        ]
        return observation

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        observation, rewards, terminated, truncated, info = self.venv.step(self._actions)
        self._actions = None
        self.last_info = info
        self._trial_lengths += 1
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        ended = np.flatnonzero(dones)
        if ended.size:
            final_obs, returns = info["final_obs"], info["episode_returns"]
            elapsed = round(time.time() - self._start_time, 6)
            for i in ended:
                infos[i] = {
                    "terminal_observation": {key: value[i] for key, value in final_obs.items()},
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {"r": round(float(returns[i].sum()), 6), "l": int(self._trial_lengths[i]), "t": elapsed},
                    "episode_returns": returns[i],
                }
            self._trial_lengths[ended] = 0
        return observation, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The native env's attribute once per index (shared by its sub-envs); ``task`` per sub-env."""
        indices = list(self._get_indices(indices))
        if attr_name == "task":
            return [self._native.task(i) for i in indices]
        value = getattr(self._native, attr_name)  # AttributeError as SB3's has_attr expects
        return [value] * len(indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise NotImplementedError(
            f"cannot set {attr_name!r} per sub-env: the sub-envs of a native vector env are one "
            "batched object; set attributes on the vector env itself (NativeVecEnv.venv)"
        )

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        raise NotImplementedError(
            f"cannot call {method_name!r} per sub-env: the sub-envs of a native vector env are one "
            "batched object; call the vector env's methods (NativeVecEnv.venv) instead"
        )

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))

    def get_images(self) -> Sequence[np.ndarray | None]:
        raise NotImplementedError(self._no_render())

    def render(self, mode: str | None = None) -> np.ndarray | None:
        raise NotImplementedError(self._no_render())

    def _no_render(self) -> str:
        return (
            "native meta_envs vector envs do not render; render a single env instead: "
            f"gymnasium.make({self._native.spec.id if self._native.spec else 'env_id'!r}, render_mode='rgb_array' or 'ansi')"
        )


def make_native_vec_env(env_id: str, num_envs: int, seed: int | None = None, **env_kwargs: Any) -> NativeVecEnv:
    """The family's native vector env (same-step autoreset) as an SB3 ``VecEnv``.

    :param env_id: a registered meta_envs ID.
    :param num_envs: trials stepped together.
    :param seed: seed of the first :meth:`NativeVecEnv.reset` (``None``: unseeded).
    :param env_kwargs: the family's keyword arguments.
    """
    venv = gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", autoreset_mode="SameStep", **env_kwargs
    )
    adapter = NativeVecEnv(venv)
    if seed is not None:
        adapter.seed(seed)
    return adapter
