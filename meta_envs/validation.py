"""Argument checks shared by every family: clear errors, nothing silently clipped."""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def unknown_names_message(what: str, unknown: Sequence[str], known: Sequence[str]) -> str:
    """One line for names that are not among ``known``: which, the closest known one, all known.

    :param what: what the names are, e.g. ``"MetaBandit-v0 kwarg(s)"``.
    :param unknown: the names given that are not known.
    :param known: every accepted name.
    """
    close = difflib.get_close_matches(unknown[0], known, n=1) if unknown else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {list(unknown)}{hint}; known: {', '.join(known)}"


def check_keywords(owner: str, given: Iterable[str], accepted: Sequence[str]) -> None:
    """Raise a ``TypeError`` naming the accepted keyword arguments unless all ``given`` are.

    :param owner: whose arguments (a class name), used in the message.
    :param given: the keyword arguments passed.
    :param accepted: the keyword arguments ``owner`` takes.
    :raises TypeError: listing the accepted ones (and the closest to the first unknown).
    """
    unknown = [name for name in given if name not in accepted]
    if unknown:
        raise TypeError(unknown_names_message(f"{owner} keyword argument(s)", unknown, accepted))


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``, else raise.

    :param name: the keyword argument's name, used in the message.
    :param value: the value the user passed.
    :param minimum: the smallest allowed value.
    :param maximum: the largest allowed value (``None``: unbounded).
    :raises TypeError: if ``value`` is not an integer (``bool`` and ``float`` are refused).
    :raises ValueError: if ``value`` is out of range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    upper = "" if maximum is None else f" and <= {maximum}"
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {value}")
    return int(value)


def check_number(name: str, value: Any, minimum: float, maximum: float) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number in ``[minimum, maximum]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be in [{minimum}, {maximum}], got {value}")
    return float(value)


def check_action(action: Any, num_actions: int) -> int:
    """Return a single env's action as an ``int`` in ``[0, num_actions)``, else raise."""
    if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
        action = action.item()
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, numbers.Integral):
        raise TypeError(
            f"action must be an integer in [0, {num_actions}), got {action!r} ({type(action).__name__})"
        )
    if not 0 <= action < num_actions:
        raise ValueError(f"action must be an integer in [0, {num_actions}), got {action}")
    return int(action)


def check_actions(actions: Any, num_envs: int, num_actions: int) -> np.ndarray:
    """Return a vector env's actions as an int64 array of shape ``(num_envs,)``, else raise."""
    array = np.asarray(actions)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"actions must be an integer array of shape ({num_envs},) with values in "
            f"[0, {num_actions}), got dtype {array.dtype}"
        )
    if array.shape != (num_envs,):
        raise ValueError(f"actions must have shape ({num_envs},), got {array.shape}")
    low, high = array.min(), array.max()
    if low < 0 or high >= num_actions:
        bad = int(np.flatnonzero((array < 0) | (array >= num_actions))[0])
        raise ValueError(
            f"actions must be in [0, {num_actions}); sub-env {bad} got {array[bad]}"
        )
    return array.astype(np.int64, copy=False)
