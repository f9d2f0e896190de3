"""agents.training.cli: --env-kwargs parsing and flags generated from a dataclass."""

import argparse
import dataclasses
from typing import Literal

import pytest

from agents.training.cli import add_dataclass_flags, field_docs, given_fields, parse_env_kwargs


def test_env_kwargs_parse_ints_floats_bools_and_strings():
    assert parse_env_kwargs("num_arms=10, num_episodes=100") == {"num_arms": 10, "num_episodes": 100}
    assert parse_env_kwargs("p=0.5,mode=rgb,flag=True,none=None") == {"p": 0.5, "mode": "rgb", "flag": True, "none": None}
    assert parse_env_kwargs("") == {}


@pytest.mark.parametrize("text", ["num_arms", "num_arms=", "=3", "a=1,,b=2", "9x=1"])
def test_bad_env_kwargs_say_what_is_expected(text):
    with pytest.raises(ValueError, match="expected name=value"):
        parse_env_kwargs(text)


def test_repeated_env_kwarg_is_an_error():
    with pytest.raises(ValueError, match="twice"):
        parse_env_kwargs("a=1,a=2")


@dataclasses.dataclass(frozen=True)
class Example:
    size: int = 3
    """How big."""

    rate: float = 0.5
    """How fast."""

    flag: bool = True
    """Whether."""

    mode: Literal["a", "b"] = "a"
    """Which."""


def test_dataclass_flags_only_return_what_was_given():
    parser = argparse.ArgumentParser()
    add_dataclass_flags(parser, Example, "example", {"size": 7})
    args = parser.parse_args(["--rate", "0.25", "--no-flag", "--mode", "b"])
    assert given_fields(Example, args) == {"rate": 0.25, "flag": False, "mode": "b"}
    assert field_docs(Example) == {"size": "How big.", "rate": "How fast.", "flag": "Whether.", "mode": "Which."}
    assert "default: 7; dataclass default 3" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "c"])
