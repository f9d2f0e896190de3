"""Command-line helpers shared by the scripts: ``--env-kwargs`` parsing, dataclass flags, ``--threads``."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import typing
from collections.abc import Mapping
from typing import Any


def parse_env_kwargs(text: str) -> dict[str, Any]:
    """Parse ``"num_arms=10,num_episodes=100,mode=rgb"`` into a dict.

    Values become ``int``, then ``float``, then ``True``/``False``/``None``, else stay strings.

    :raises ValueError: on an item without ``=``, an empty or repeated name.
    """
    result: dict[str, Any] = {}
    if not text.strip():
        return result
    for item in text.split(","):
        name, sep, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name.isidentifier() or not raw:
            raise ValueError(
                f"bad --env-kwargs item {item!r}: expected name=value items separated by commas, "
                "e.g. num_arms=10,num_episodes=100"
            )
        if name in result:
            raise ValueError(f"--env-kwargs gives {name!r} twice")
        result[name] = parse_value(raw)
    return result


def format_kwargs(kwargs: Mapping[str, Any]) -> str:
    """``{"num_arms": 10, "num_episodes": 100}`` -> ``"num_arms=10,num_episodes=100"``, the spelling
    :func:`parse_env_kwargs` reads (``""`` for no kwargs)."""
    return ",".join(f"{name}={value}" for name, value in kwargs.items())


def parse_value(raw: str) -> Any:
    """``"10"`` -> 10, ``"0.5"`` -> 0.5, ``"True"``/``"False"``/``"None"`` -> themselves, else the string."""
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(raw, raw)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (attribute docstrings)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def add_dataclass_flags(
    parser: argparse.ArgumentParser, cls: type, title: str, defaults: dict[str, Any] | None = None
) -> None:
    """One ``--field-name`` flag per field of ``cls``; only the flags given reach the namespace.

    ``bool`` fields get ``--name/--no-name``; ``Literal`` fields get their choices. The
    help text is the field's docstring and default.

    :param defaults: values the caller uses instead of some dataclass defaults (shown in the help).
    """
    defaults = defaults or {}
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        flag = "--" + field.name.replace("_", "-")
        default = (
            f"{defaults[field.name]}; dataclass default {field.default}" if field.name in defaults else field.default
        )
        help_text = f"{docs.get(field.name, '')} (default: {default})".replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS, "help": help_text}
        if hint is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif typing.get_origin(hint) is typing.Literal:
            group.add_argument(flag, choices=typing.get_args(hint), **kwargs)
        else:
            group.add_argument(flag, type=hint, metavar=hint.__name__.upper(), **kwargs)


def given_fields(cls: type, namespace: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` that were given on the command line."""
    return {f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls) if hasattr(namespace, f.name)}


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    """``--threads`` (torch CPU threads), default 1.

    Measured on this project's 2-core CPU with nothing else running
    (``python scripts/benchmark_agents.py --trpo-only --threads N``, a TRPO-GRU iteration
    on the paper's 250,000-step bandit batch): 23.1 s with 1 thread, 21.9 s with 2 under
    the scripts' passive OpenMP waiting, 15.2 s with 2 and ``OMP_WAIT_POLICY=ACTIVE``.
    Spinning threads are the fastest alone but collapse as soon as another process
    competes for the cores: with ``--trpo-steps 50000``, one 2-thread spinning run took
    3.8 s per iteration, two side by side 23.1 s each, and two 1-thread runs side by side
    4.5 s each. So 1 is the default (it lets runs share the cores at full speed): pass
    ``--threads`` (and ``OMP_WAIT_POLICY=ACTIVE``) for one run on an otherwise idle machine.
    """
    parser.add_argument(
        "--threads", type=positive_int, default=1,
        help="torch CPU threads (default: 1; see agents.training.cli.add_threads_flag for measurements)",
    )


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def parse_seeds(text: str) -> list[int]:
    """An ``argparse`` type: comma-separated distinct integers >= 0 (``"0,1,2"``)."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct integers >= 0, got {text!r}")
    return seeds
