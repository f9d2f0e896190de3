"""Classic baselines, acting through the public trial env API like any agent.

:mod:`agents.baselines.registry` lists them per env family under their result names.
"""

from agents.baselines.random_policy import RandomAgent


class BaselineUnavailable(ValueError):
    """A baseline that does not apply to a setting (e.g. an exact DP that is intractable there)."""


__all__ = ["BaselineUnavailable", "RandomAgent"]
