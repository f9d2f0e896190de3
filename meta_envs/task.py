"""Tasks as data: the immutable, comparable, serialisable description of one MDP.

Every family's task is a frozen dataclass whose fields are numbers or read-only
numpy arrays. :class:`ArrayTask` gives them value semantics (``==`` and ``hash``
compare contents), a JSON-friendly :meth:`~ArrayTask.to_dict` and
:meth:`~ArrayTask.from_dict`, and a hook (:meth:`~ArrayTask.validate`) that each
family fills with its own checks, so a malformed task fails when it is built,
not halfway through a trial.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

import numpy as np

T = TypeVar("T", bound="ArrayTask")


@dataclasses.dataclass(frozen=True, eq=False)
class ArrayTask:
    """Base class of every family's task.

    Subclasses declare their fields as a frozen dataclass and list the fields
    that are arrays in :attr:`array_fields` (with their dtype); those are
    converted with :func:`numpy.asarray` and made read-only at construction.
    """

    array_fields: ClassVar[dict[str, type]] = {}

    def __post_init__(self) -> None:
        for name, dtype in self.array_fields.items():
            value = getattr(self, name)
            try:
                array = np.array(value, dtype=dtype)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"{type(self).__name__}.{name} must be array-like of {np.dtype(dtype).name}, "
                    f"got {value!r}"
                ) from err
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ValueError` if the task is malformed (overridden per family)."""

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
            for a, b in zip(self._values(), other._values())
        )

    def __hash__(self) -> int:
        return hash(
            tuple(
                (v.shape, v.tobytes()) if isinstance(v, np.ndarray) else v for v in self._values()
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """The task as plain Python types (lists, floats, ints), ready for ``json.dumps``."""
        return {
            f.name: (v.tolist() if isinstance(v, np.ndarray) else v)
            for f, v in zip(dataclasses.fields(self), self._values())
        }

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild a task from :meth:`to_dict`'s output (validated like any other)."""
        return cls(**data)
