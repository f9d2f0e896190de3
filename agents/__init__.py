"""Agents for meta_envs: the one evaluation protocol, classic baselines and RL² learners.

Needs the ``agents`` extra (``pip install -e ".[agents]"``); ``meta_envs`` itself does not.
``agents.load_pretrained(env_id, **env_kwargs)`` returns a shipped RL² reference agent
(:mod:`agents.pretrained`).
"""


def __getattr__(name: str):
    # load_pretrained needs torch: imported on first use, so that the baselines and the
    # evaluation protocol stay importable without it
    if name == "load_pretrained":
        from agents.pretrained import load_pretrained

        return load_pretrained
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
