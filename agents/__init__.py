"""Agents for meta_envs: the one evaluation protocol, classic baselines and RL² learners.

Needs the ``agents`` extra (``pip install -e ".[agents]"``); ``meta_envs`` itself does not.
"""
