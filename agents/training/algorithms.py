"""The registry of learners that ``scripts/train.py`` and ``scripts/evaluate.py`` run (RL² and in-context).

Adding a learner means adding one :class:`Algorithm` to :data:`ALGORITHMS`: its
hyperparameter dataclass (the CLI flags are generated from it), its defaults, a
``train`` function and a ``load_agent`` function. The run folder, logs, evaluation and
plots are shared (:mod:`agents.training.run_folder`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.evaluation import Agent
from agents.in_context import trainer as dpt_trainer
from agents.in_context.trainer import DPTConfig
from agents.recurrent_ppo import trainer as recurrent_ppo_trainer
from agents.recurrent_ppo.config import RecurrentPPOConfig, family_defaults
from agents.training.run_folder import RunFolder, RunSpec, resolve_device
from agents.rl2 import trainer as rl2_trainer
from agents.rl2.config import PPOConfig, TRPOConfig, paper_defaults


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One learner as the scripts see it.

    :param name: the ``--algo`` name, also its name in results files.
    :param config_type: dataclass of hyperparameters (one flag per field).
    :param default_num_envs: ``--num-envs`` when not given.
    :param default_timesteps: ``--timesteps`` when neither it nor ``--iterations`` is given.
    :param quick_start: hyperparameters the command line uses instead of the dataclass
        defaults, so that ``scripts/train.py --algo NAME`` finishes in minutes.
    :param env_defaults: ``(env_id, env_kwargs) -> hyperparameters`` that differ from the
        defaults for that env (e.g. the paper's per-family values); they override
        ``quick_start``, and flags override both.
    :param train: ``(folder, spec, progress, resume, stop=...) -> agent``: trains until the
        budget of ``spec`` is spent or ``stop()`` turns true (checked after every
        iteration; a checkpoint is written before returning), writes checkpoints, calls
        ``progress(metrics)`` per iteration, returns the trained agent.
    :param load_agent: ``(folder, spec, device, greedy=False) -> agent`` from the latest
        checkpoint (``greedy``: argmax actions instead of sampled ones).
    :param checkpoint_suffix: suffix of its checkpoint files (their format).
    :param warm_start: whether ``train`` honours ``spec.init_from`` (``--init-from``).
    :param data_setting: for a learner trained on a dataset (``dpt``): ``hyperparameters ->
        (env_id, env_kwargs)`` the dataset was made on; ``scripts/train.py`` takes the env
        from it when ``--env``/``--env-kwargs`` are not given and rejects a different one.
    """

    name: str
    config_type: type
    default_num_envs: int
    default_timesteps: int
    quick_start: dict[str, Any]
    env_defaults: Callable[[str, dict[str, Any]], dict[str, Any]]
    train: Callable[..., Agent]
    load_agent: Callable[..., Agent]
    checkpoint_suffix: str = ".pt"
    warm_start: bool = False
    data_setting: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]] | None = None

    def hyperparameters(
        self, env_id: str, env_kwargs: dict[str, Any], overrides: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A run's full hyperparameters: the dataclass defaults, then :attr:`quick_start`,
        then :attr:`env_defaults`, then ``overrides``.

        :raises ValueError: for an unknown name or a value the dataclass rejects.
        """
        overrides = dict(overrides or {})
        known = [field.name for field in dataclasses.fields(self.config_type)]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"unknown {self.name} hyperparameter(s) {unknown}; known: {known}")
        values = {**self.quick_start, **self.env_defaults(env_id, env_kwargs), **overrides}
        try:
            return dataclasses.asdict(self.config_type(**values))
        except TypeError as error:  # a wrongly typed value: say which run it was for
            raise ValueError(f"bad {self.name} hyperparameters {overrides}: {error}") from error


def _train_rl2(
    folder: RunFolder, spec: RunSpec, progress: Callable, resume: bool, stop: Callable[[], bool] = lambda: False
) -> Agent:
    return rl2_trainer.train(folder, spec, progress, resume, stop=stop).agent()


def _rl2_algorithm(name: str, config_type: type) -> Algorithm:
    """A learner of the RL² engine (:mod:`agents.rl2`): the rules differ, the rest is shared."""
    return Algorithm(
        name=name,
        config_type=config_type,
        # 1,000 trials of the default bandit (10 pulls) per iteration, 100 iterations:
        # progress per TRPO step is bounded by max_kl, so many small batches learn in
        # minutes where the paper's 250,000-step batches would take an hour on a CPU.
        default_num_envs=1000,
        default_timesteps=1_000_000,
        quick_start={"steps_per_iteration": 10_000},
        env_defaults=paper_defaults,
        train=_train_rl2,
        load_agent=rl2_trainer.load_agent,
        warm_start=True,
    )


ALGORITHMS: dict[str, Algorithm] = {
    "trpo_gru": _rl2_algorithm("trpo_gru", TRPOConfig),
    # the same engine (rollout, networks, GAE, value baseline, run folder) with a
    # PPO-clip policy update instead of TRPO's (agents.rl2.ppo)
    "ppo_gru": _rl2_algorithm("ppo_gru", PPOConfig),
    "recurrent_ppo": Algorithm(
        name="recurrent_ppo",
        config_type=RecurrentPPOConfig,
        # 64 sub-envs x n_steps (whole trials, agents.recurrent_ppo.config.family_defaults)
        # per iteration; the budget is that of the tuned bandit run (a few minutes on a CPU).
        default_num_envs=64,
        default_timesteps=250_000,
        quick_start={},
        env_defaults=family_defaults,
        train=recurrent_ppo_trainer.train,
        load_agent=recurrent_ppo_trainer.load_agent,
        checkpoint_suffix=".zip",
    ),
    # a causal transformer trained offline on a learning-history dataset (agents.in_context)
    "dpt": Algorithm(
        name="dpt",
        config_type=DPTConfig,
        # trials played online after every iteration (on the dataset's validation tasks)
        default_num_envs=200,
        # targets (window positions) trained on: a few minutes on a CPU for a bandit dataset
        default_timesteps=2_000_000,
        quick_start={},
        env_defaults=lambda env_id, env_kwargs: {},
        train=dpt_trainer.train,
        load_agent=dpt_trainer.load_agent,
        data_setting=dpt_trainer.data_setting,
    ),
}


def load_run_agent(run_dir: str | Path, device: str = "auto", greedy: bool = False) -> tuple[Agent, RunSpec]:
    """The agent of a run folder written by ``scripts/train.py`` (its latest checkpoint) and its spec.

    :param run_dir: the run folder.
    :param device: where the agent runs (``auto``, ``cpu``, ``cuda``).
    :param greedy: argmax actions instead of sampled ones.
    :raises FileNotFoundError: if the folder has no ``config.json`` or no checkpoint yet.
    :raises ValueError: if the run's learner is not in :data:`ALGORITHMS`.
    """
    spec = RunFolder(run_dir).read_spec()
    if spec.algo not in ALGORITHMS:
        raise ValueError(f"the run's algo {spec.algo!r} is unknown; known: {', '.join(sorted(ALGORITHMS))}")
    folder = RunFolder(run_dir, ALGORITHMS[spec.algo].checkpoint_suffix)
    if not folder.latest_checkpoint.is_file():
        raise FileNotFoundError(f"{folder.latest_checkpoint} not found: the run has no checkpoint yet")
    return ALGORITHMS[spec.algo].load_agent(folder, spec, resolve_device(device), greedy=greedy), spec
