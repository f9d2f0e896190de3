"""The full setting of a registered ID: every task and trial keyword argument, defaults filled in.

Two spellings of one setting (``gym.make("MetaBandit-v0")`` and
``gym.make("MetaBandit-v0", num_arms=5, num_episodes=10)``) have the same setting, so
code that looks results or checkpoints up by setting (suites, shipped RL² checkpoints,
the maze statistics) compares :func:`env_setting` rather than the kwargs as written.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

#: constructor arguments that say how an env runs, not which tasks or trials it has
RUNTIME_ARGUMENTS = ("num_envs", "autoreset_mode", "render_mode")


def meta_env_ids() -> list[str]:
    """Every registered meta_envs ID (those whose native vector env is one of meta_envs'), sorted."""
    return sorted(
        env_id
        for env_id, spec in gym.registry.items()
        if isinstance(spec.vector_entry_point, str) and spec.vector_entry_point.startswith("meta_envs.")
    )


def env_setting(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every setting kwarg of ``env_id`` with ``env_kwargs`` applied over the defaults.

    Defaults come from the ID's registration (e.g. ``MetaMazeLarge-v0``'s ``size=9``) and
    then from the family's vector env signature. Values are not range-checked here (the
    env does that when it is built).

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the kwargs as given.
    :raises ValueError: for an ID that is not one of meta_envs', or an unknown kwarg.
    """
    env_kwargs = dict(env_kwargs or {})
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:  # NameNotFound, VersionNotFound, ...
        close = difflib.get_close_matches(env_id, meta_env_ids(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"{env_id!r} is not a registered env ID{hint}; meta_envs IDs: {', '.join(meta_env_ids())}"
        ) from None
    if not isinstance(spec.vector_entry_point, str) or not spec.vector_entry_point.startswith("meta_envs."):
        raise ValueError(f"{env_id!r} is not a meta_envs ID (its vector entry point is {spec.vector_entry_point!r})")
    creator = load_env_creator(spec.vector_entry_point)
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(creator).parameters.items()
        if name not in RUNTIME_ARGUMENTS and parameter.default is not inspect.Parameter.empty
    }
    unknown = sorted(set(env_kwargs) - set(defaults))
    if unknown:
        raise ValueError(f"{env_id} has no kwarg(s) {unknown}; its kwargs are {sorted(defaults)}")
    return {**defaults, **spec.kwargs, **env_kwargs}


def max_trial_length(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> int:
    """The longest trial of a setting: ``num_episodes x horizon`` (a family without
    ``horizon``, the bandit, has one-step episodes).

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: its kwargs.
    :raises ValueError: for bad kwargs (the env's own message).
    """
    env_kwargs = dict(env_kwargs or {})
    gym.make(env_id, **env_kwargs).close()  # bad kwargs fail here, with the env's message
    setting = env_setting(env_id, env_kwargs)
    return int(setting["num_episodes"]) * int(setting.get("horizon", 1))
