"""Classic baselines, acting through the public trial env API like any agent."""

from agents.baselines.random_policy import RandomAgent

__all__ = ["RandomAgent"]
