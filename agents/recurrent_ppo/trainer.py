"""RL² with sb3-contrib's RecurrentPPO on a family's native vector env: build, train, log, load.

One iteration is sb3-contrib's: collect ``n_steps`` steps from each of ``num_envs``
sub-envs (:class:`agents.recurrent_ppo.sb3_vec_env.NativeVecEnv`, batched numpy), then ``n_epochs``
passes of clipped-PPO updates over recurrent sequences (see
:mod:`agents.recurrent_ppo.config` for how sequences relate to trials). After every
iteration :class:`IterationLog` reports the quantities of :data:`METRICS`
(``progress.csv`` and TensorBoard through :class:`agents.training.run_folder.MetricLogger`).

Checkpoints are SB3 model archives (``model.save``: a zip of the policy, its optimizer
and the hyperparameters), ``checkpoints/latest.zip`` plus ``iter_NNNNNN.zip``
snapshots; any of them loads with ``RecurrentPPO.load(path)``. A checkpoint also holds
the random streams (Python's, NumPy's and torch's global generators, which SB3 samples
actions and minibatches from, and the env's task generator), so a resumed run continues
them instead of replaying the first tasks. SB3 does not save the sub-envs' trials or
recurrent states: a resumed run starts new trials.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from agents.recurrent_ppo.agent import RecurrentPPOAgent
from agents.recurrent_ppo.config import RecurrentPPOConfig
from agents.recurrent_ppo.policy import RL2RecurrentPolicy
from agents.training.run_folder import CheckpointSchedule, MetricLogger, RunFolder, RunSpec, atomic_write, resolve_device
from agents.recurrent_ppo.sb3_vec_env import make_native_vec_env

#: every logged quantity, in column order
METRICS = {
    "iteration": "rollouts + updates done",
    "env_steps": "env steps of training so far",
    "mean_trial_return": "mean total reward of the trials that ended during this rollout (nan if none)",
    "trials": "trials that ended during this rollout",
    "kl": "approximate KL(old ‖ new) of the update (sb3-contrib's approx_kl: mean over the last epoch's minibatches)",
    "entropy": "mean entropy of the policy over the update's minibatches",
    "clip_fraction": "fraction of steps whose probability ratio was clipped",
    "policy_loss": "clipped surrogate loss (mean over minibatches)",
    "value_loss": "mean squared error of the value function to the λ-returns (mean over minibatches)",
    "explained_variance": "1 - Var(returns - V) / Var(returns) of the rollout's values",
    "env_steps_per_s": "env steps of the iteration / its wall time (rollout + update)",
    "rollout_s": "seconds spent collecting the rollout",
    "update_s": "seconds spent in the update",
}


def build_model(
    env_id: str,
    env_kwargs: dict[str, Any],
    config: RecurrentPPOConfig,
    num_envs: int,
    seed: int,
    device: torch.device | str,
) -> RecurrentPPO:
    """A RecurrentPPO model on ``num_envs`` sub-envs of the native vector env.

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the family's keyword arguments.
    :param config: hyperparameters.
    :param num_envs: sub-envs stepped together.
    :param seed: seeds the networks, the sampling, the minibatch order and the env (SB3's
        ``set_random_seed``: Python's, NumPy's and torch's global generators).
    :param device: where the networks run.
    """
    venv = make_native_vec_env(env_id, num_envs, **env_kwargs)
    rollout = config.n_steps * num_envs
    return RecurrentPPO(
        RL2RecurrentPolicy,
        venv,
        learning_rate=config.learning_rate,
        n_steps=config.n_steps,
        batch_size=math.ceil(rollout / config.n_minibatches),
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        normalize_advantage=config.normalize_advantage,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        target_kl=config.target_kl or None,
        policy_kwargs=config.policy_kwargs(),
        seed=seed,
        device=device,
    )


class IterationLog(BaseCallback):
    """Reports the :data:`METRICS` of every iteration once its update is done.

    sb3-contrib updates after ``on_rollout_end``, so a row is complete at the next
    ``on_rollout_start`` (or, for the last iteration, at :meth:`finish`).

    :param on_iteration: called with each row of metrics.
    :param iteration: iterations done before (a resumed run's).
    :param stop: once true, the rollout under way is abandoned (SB3 then ends ``learn``).
    """

    def __init__(
        self, on_iteration: Callable[[dict[str, float]], None], iteration: int = 0,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__()
        self.on_iteration = on_iteration
        self.iteration = iteration
        self.stop = stop
        self._returns: list[float] = []
        self._pending: dict[str, float] | None = None
        self._start = self._rollout_end = 0.0

    def _on_rollout_start(self) -> None:
        self.finish()
        self._start = time.perf_counter()
        self._returns = []

    def _on_step(self) -> bool:
        dones, infos = self.locals["dones"], self.locals["infos"]
        for i in np.flatnonzero(dones):
            self._returns.append(infos[i]["episode"]["r"])
        return not self.stop()

    def _on_rollout_end(self) -> None:
        self._rollout_end = time.perf_counter()
        self.iteration += 1
        self._pending = {
            "iteration": self.iteration,
            "env_steps": self.model.num_timesteps,
            "mean_trial_return": float(np.mean(self._returns)) if self._returns else float("nan"),
            "trials": len(self._returns),
        }

    def finish(self) -> None:
        """Complete and report the pending row (the update it waits for is done)."""
        if self._pending is None:
            return
        end = time.perf_counter()
        train = self.model.logger.name_to_value
        row = self._pending
        row.update(
            kl=float(train["train/approx_kl"]),
            entropy=-float(train["train/entropy_loss"]),
            clip_fraction=float(train["train/clip_fraction"]),
            policy_loss=float(train["train/policy_gradient_loss"]),
            value_loss=float(train["train/value_loss"]),
            explained_variance=float(train["train/explained_variance"]),
            env_steps_per_s=self.model.n_steps * self.model.n_envs / (end - self._start),
            rollout_s=self._rollout_end - self._start,
            update_s=end - self._rollout_end,
        )
        self._pending = None
        self.on_iteration(row)


def learn(
    model: RecurrentPPO,
    timesteps: int,
    on_iteration: Callable[[dict[str, float]], None],
    iteration: int = 0,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Train ``model`` for at least ``timesteps`` more env steps (whole iterations).

    :param model: a RecurrentPPO model (new, or loaded with an env).
    :param timesteps: env steps to add; training stops after the iteration that reaches them.
    :param on_iteration: called with the :data:`METRICS` of each iteration, after its update.
    :param iteration: iterations done before (numbers the rows of a resumed run).
    :param stop: checked at every env step; once true, the rollout under way is abandoned
        (:func:`train` turns it on only right after a checkpoint).
    """
    log = IterationLog(on_iteration, iteration, stop)
    # A logger without outputs: IterationLog reads the update's values from it, and SB3's
    # default one would make an empty folder in the temp dir on every learn().
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.learn(timesteps, callback=log, log_interval=None, reset_num_timesteps=False)
    log.finish()


def save_checkpoint(model: RecurrentPPO, path: str | Path) -> None:
    """``model.save(path)`` with the random streams (module docstring)."""
    model.random_state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(model.device) if model.device.type == "cuda" else None,
        "env": model.get_env().unwrapped.np_random_state,
    }
    model.save(path)


def restore_random_state(model: RecurrentPPO) -> None:
    """Put back the random streams a loaded checkpoint holds (``RecurrentPPO.load`` reseeds them)."""
    state = model.random_state
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and model.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], model.device)
    model.get_env().unwrapped.np_random_state = state["env"]


def train(
    folder: RunFolder,
    spec: RunSpec,
    progress: Callable[[dict[str, float]], None],
    resume: bool = False,
    checkpoint_every: int = 25,
    stop: Callable[[], bool] = lambda: False,
) -> RecurrentPPOAgent:
    """Train (or continue) the run in ``folder`` until its budget is spent or ``stop()``.

    :param folder: the run folder (created, with ``config.json``).
    :param spec: the run.
    :param progress: called with the metrics after every iteration.
    :param resume: continue from ``checkpoints/latest.zip``.
    :param checkpoint_every: also keep a snapshot every this many iterations (``latest``
        is refreshed then and every ``spec.checkpoint_minutes``).
    :param stop: checked after every iteration; when true, the run saves its checkpoint and returns.
    :return: the final policy as an agent.
    """
    device = resolve_device(spec.device)
    config = RecurrentPPOConfig(**spec.hyperparameters)
    if resume:
        venv = make_native_vec_env(spec.env_id, spec.num_envs, **spec.env_kwargs)
        model = RecurrentPPO.load(folder.latest_checkpoint, env=venv, device=device)
        restore_random_state(model)
    else:
        model = build_model(spec.env_id, spec.env_kwargs, config, spec.num_envs, spec.seed, device)
    rollout = config.n_steps * spec.num_envs
    iteration = model.num_timesteps // rollout
    if spec.iterations is not None:
        remaining = (spec.iterations - iteration) * rollout
    else:
        remaining = spec.timesteps - model.num_timesteps
    logger = MetricLogger(folder, iteration, model.num_timesteps)
    schedule = CheckpointSchedule(checkpoint_every, spec.checkpoint_minutes)

    stopping = False  # set only once a checkpoint holds the iteration just done

    def on_iteration(metrics: dict[str, float]) -> None:
        nonlocal stopping
        logger.log(metrics)
        progress(metrics)
        done = metrics["iteration"]
        requested = stop()
        if schedule.due(done, spec.done(done, metrics["env_steps"]) or requested):
            atomic_write(folder.latest_checkpoint, lambda path: save_checkpoint(model, path))
            if schedule.snapshot(done):
                atomic_write(folder.snapshot(done), lambda path: shutil.copyfile(folder.latest_checkpoint, path))
        stopping = requested

    try:
        if remaining > 0:
            # a stop asked for during a rollout takes effect after that iteration's update
            # and checkpoint: the next rollout is abandoned at its first step
            learn(model, remaining, on_iteration, iteration, lambda: stopping)
    finally:
        logger.close()
        model.get_env().close()
    return RecurrentPPOAgent(model.policy)


def load_agent(folder: RunFolder, spec: RunSpec, device: torch.device, greedy: bool = False) -> RecurrentPPOAgent:
    """The policy of ``folder``'s latest checkpoint as an agent."""
    return RecurrentPPOAgent(RecurrentPPO.load(folder.latest_checkpoint, device=device).policy, greedy)
