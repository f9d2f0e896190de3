"""``--algo dpt``: a causal transformer trained offline on a learning-history dataset.

    python scripts/train.py --algo dpt --dataset datasets/bandit-k5-n100-v0              # DPT
    python scripts/train.py --algo dpt --dataset datasets/bandit-k5-n100-v0 --target ad  # AD

The env and its setting come from the dataset (``--env``/``--env-kwargs`` may be given,
and must then be the dataset's). One iteration:

1. ``steps_per_iteration`` Adam steps on batches of windows drawn from the training trials
   (:class:`~agents.in_context.loader.InContextWindows`; cross-entropy on the DPT or AD
   target at every position of a window, linear warm-up of the learning rate);
2. the loss on fixed windows of the validation tasks (a share of the dataset's tasks,
   with every source's trials on them, never trained on);
3. ``--num-envs`` trials played online by the current model (sampled actions) on
   validation tasks (training tasks if there are none): ``mean_trial_return``.

The budget counts trained targets: ``--timesteps`` is the number of (window position,
target) pairs the model has been trained on (``env_steps`` in ``progress.csv``), or
``--iterations``. Checkpoints hold the model, the optimiser and the sampling generator,
so ``--resume`` continues exactly.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch.nn import functional

from agents.evaluation.protocol import run_trials
from agents.in_context.agent import InContextAgent
from agents.in_context.loader import (
    InContextWindows,
    check_setting,
    dataset_metadata,
    load_histories,
    split_trials,
)
from agents.in_context.model import CausalTransformer, ModelConfig, input_scale
from agents.training.run_folder import RunFolder, RunSpec, resolve_device, run_iterations
from meta_envs.settings import max_trial_length
from meta_envs.validation import check_int, check_number


@dataclasses.dataclass(frozen=True)
class DPTConfig:
    """Hyperparameters of ``--algo dpt`` (one ``scripts/train.py`` flag each)."""

    dataset: str = ""
    """the dataset folder written by scripts/make_dataset.py (required)"""
    target: Literal["dpt", "ad"] = "dpt"
    """dpt: predict the optimal action of the true task (Lee et al. 2023); ad: the source's next action (Laskin et al. 2022)"""
    sources: str = ""
    """comma-separated sources of the dataset to train on (empty: all)"""
    context_length: int = 0
    """steps of a trial the transformer reads (0: a whole trial)"""
    d_model: int = 64
    """width of the token embedding"""
    num_layers: int = 3
    """transformer layers"""
    num_heads: int = 4
    """attention heads per layer"""
    feedforward: int = 256
    """width of each layer's feed-forward block"""
    dropout: float = 0.0
    """dropout in the layers"""
    step_init_std: float = 0.02
    """standard deviation of the step embedding's initial weights (GPT-2's 0.02; from PyTorch's 1, three times the token embedding's norm, the k=10 loss sat at chance for ~19M targets against ~1.6M: docs/ablations/dpt_k10_step_init)"""
    batch_size: int = 32
    """windows per Adam step"""
    lr: float = 3e-4
    """Adam's learning rate after the warm-up"""
    warmup_steps: int = 200
    """Adam steps over which the learning rate rises linearly from 0"""
    weight_decay: float = 1e-4
    """AdamW's weight decay"""
    grad_clip: float = 1.0
    """largest gradient norm of a step"""
    steps_per_iteration: int = 500
    """Adam steps between two logged rows (and online evaluations)"""
    validation_fraction: float = 0.05
    """share of the dataset's tasks held out of training, for the validation loss and the online evaluation"""
    validation_windows: int = 256
    """windows of validation tasks the validation loss is measured on"""
    temperature: float = 1.0
    """the trained agent samples its actions from softmax(logits / temperature): below 1, it explores less"""

    def __post_init__(self) -> None:
        for name in ("d_model", "num_layers", "num_heads", "feedforward", "batch_size", "steps_per_iteration",
                     "validation_windows"):
            check_int(name, getattr(self, name), 1)
        check_int("context_length", self.context_length, 0)
        check_int("warmup_steps", self.warmup_steps, 0)
        check_number("lr", self.lr, 1e-12, 1.0)
        check_number("weight_decay", self.weight_decay, 0.0, 1.0)
        check_number("grad_clip", self.grad_clip, 1e-12, float("inf"))
        check_number("dropout", self.dropout, 0.0, 0.99)
        check_number("validation_fraction", self.validation_fraction, 0.0, 0.99)
        check_number("temperature", self.temperature, 1e-6, 1e6)
        check_number("step_init_std", self.step_init_std, 1e-6, 10.0)
        if self.d_model % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide d_model ({self.d_model})")

    @property
    def source_list(self) -> list[str] | None:
        """:attr:`sources` as a list (``None`` for all)."""
        return [s.strip() for s in self.sources.split(",") if s.strip()] or None


#: the quantities every iteration logs, in column order, with their meaning
METRICS = {
    "iteration": "iterations done",
    "env_steps": "targets trained on so far (window positions)",
    "mean_trial_return": "mean total reward of the trials played online after the iteration",
    "loss": "mean cross-entropy of the iteration's training batches",
    "accuracy": "share of the training targets the argmax hit",
    "validation_loss": "cross-entropy on the fixed validation windows (nan without validation tasks)",
    "validation_accuracy": "share of the validation targets the argmax hit",
    "lr": "learning rate of the iteration's last step",
    "targets_per_s": "targets trained on per second of training (not evaluation)",
    "train_s": "seconds of the Adam steps",
    "eval_s": "seconds of the validation loss and the online trials",
}


def data_setting(hyperparameters: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(env_id, env_kwargs)`` of the run's dataset (``scripts/train.py`` fills ``--env`` from
    it), once the hyperparameters are known to fit the dataset.

    :raises ValueError: without ``--dataset``, for a folder that is not a dataset, a source
        it does not have, or the DPT target on a dataset without labels.
    :raises FileNotFoundError: for a missing folder.
    """
    config = DPTConfig(**hyperparameters)
    if not config.dataset:
        raise ValueError("--algo dpt needs --dataset PATH, a folder written by scripts/make_dataset.py")
    metadata = dataset_metadata(config.dataset)
    unknown = [source for source in config.source_list or () if source not in metadata["sources"]]
    if unknown:
        raise ValueError(f"the dataset {config.dataset} has no source(s) {unknown}; its sources are {metadata['sources']}")
    if config.target == "dpt" and not metadata["optimal_action"]:
        raise ValueError(f"the dataset {config.dataset} has no optimal_action labels ({metadata['env_id']} has none): "
                         "train the ad target instead (--target ad)")
    return metadata["env_id"], dict(metadata["env_kwargs"])


class DPTTrainer:
    """The learner of the module docstring on one run.

    :param spec: the run (its env must be the dataset's).
    :param device: where the model trains.
    """

    def __init__(self, spec: RunSpec, device: torch.device) -> None:
        self.config = config = DPTConfig(**spec.hyperparameters)
        check_setting(config.dataset, spec.env_id, spec.env_kwargs)
        self.spec, self.device = spec, device
        histories = load_histories(config.dataset)
        trials = histories.trials_of(config.source_list)
        train_trials, validation_trials = split_trials(histories, trials, config.validation_fraction, spec.seed)
        length = max_trial_length(spec.env_id, spec.env_kwargs)
        context = config.context_length or length
        self.windows = InContextWindows(histories, config.target, context, train_trials)
        self.validation = (InContextWindows(histories, config.target, context, validation_trials)
                           if len(validation_trials) else None)
        env = gym.make(spec.env_id, **spec.env_kwargs)
        self.model_config = ModelConfig(
            int(gym.spaces.flatdim(env.observation_space)), int(env.action_space.n), length, config.d_model,
            config.num_layers, config.num_heads, config.feedforward, config.dropout,
            config.step_init_std,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            self.model = CausalTransformer(self.model_config, input_scale(env.observation_space)).to(device)
        env.close()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.generator = torch.Generator().manual_seed(spec.seed)
        # fixed validation windows and evaluation tasks: every iteration is measured on the same ones
        fixed = torch.Generator().manual_seed(spec.seed)
        self.validation_batch = (self.validation.sample(config.validation_windows, fixed)
                                 if self.validation is not None else None)
        tasks = histories.tasks()
        pool = np.unique(histories.task_indices[validation_trials if len(validation_trials) else train_trials])
        self.eval_tasks = [tasks[i] for i in pool[: spec.num_envs]]
        self.iteration = 0
        self.env_steps = 0
        self.updates = 0

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int, int]:
        """Mean cross-entropy over the batch's targets, the hits of the argmax and the count."""
        batch = {key: value.to(self.device) for key, value in batch.items()}
        logits = self.model(batch["tokens"], batch["positions"])
        valid = batch["mask"]
        loss = functional.cross_entropy(logits[valid], batch["targets"][valid])
        hits = int((logits[valid].argmax(dim=1) == batch["targets"][valid]).sum())
        return loss, hits, int(valid.sum())

    def train_iteration(self) -> dict[str, float]:
        """One iteration (module docstring); the :data:`METRICS`."""
        cfg = self.config
        self.model.train()
        start = time.perf_counter()
        loss_sum, hits, count = 0.0, 0, 0
        for _ in range(cfg.steps_per_iteration):
            self.updates += 1
            lr = cfg.lr * min(1.0, self.updates / cfg.warmup_steps) if cfg.warmup_steps else cfg.lr
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss, batch_hits, batch_count = self._loss(self.windows.sample(cfg.batch_size, self.generator))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            loss_sum += loss.item() * batch_count
            hits += batch_hits
            count += batch_count
        trained = time.perf_counter()
        self.model.eval()
        validation_loss = validation_accuracy = float("nan")
        if self.validation_batch is not None:
            with torch.no_grad():
                loss, batch_hits, batch_count = self._loss(self.validation_batch)
            validation_loss, validation_accuracy = loss.item(), batch_hits / batch_count
        returns = run_trials(self.agent(), self.spec.env_id, self.spec.env_kwargs, self.eval_tasks, self.spec.seed,
                             self.spec.seed)[0]
        end = time.perf_counter()
        self.iteration += 1
        self.env_steps += count
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "mean_trial_return": float(returns.sum(axis=1).mean()),
            "loss": loss_sum / count,
            "accuracy": hits / count,
            "validation_loss": validation_loss,
            "validation_accuracy": validation_accuracy,
            "lr": lr,
            "targets_per_s": count / (trained - start),
            "train_s": trained - start,
            "eval_s": end - trained,
        }

    def agent(self, greedy: bool = False) -> InContextAgent:
        """The current model as an evaluation-protocol agent."""
        return InContextAgent(self.model, self.windows.context_length, self.device, greedy, self.spec.algo,
                              self.config.temperature)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "updates": self.updates,
            "config": dataclasses.asdict(self.config),
            "model_config": dataclasses.asdict(self.model_config),
            "context_length": self.windows.context_length,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.iteration, self.env_steps, self.updates = state["iteration"], state["env_steps"], state["updates"]


def train(
    folder: RunFolder,
    spec: RunSpec,
    progress: Callable[[dict[str, float]], None],
    resume: bool = False,
    stop: Callable[[], bool] = lambda: False,
    checkpoint_every: int = 25,
) -> InContextAgent:
    """Train (or continue) the run in ``folder`` until its budget is spent or ``stop()``.

    :param folder: the run folder (created, with ``config.json``).
    :param spec: the run.
    :param progress: called with the metrics after every iteration.
    :param resume: continue from ``checkpoints/latest.pt``.
    :param stop: checked after every iteration; when true, the run saves its checkpoint and returns.
    :param checkpoint_every: also keep a snapshot every this many iterations.
    :return: the trained model as an agent.
    """
    trainer = DPTTrainer(spec, resolve_device(spec.device))
    if resume:
        trainer.load_state_dict(torch.load(folder.latest_checkpoint, map_location="cpu", weights_only=True))
    run_iterations(trainer, folder, spec, progress, stop, checkpoint_every)
    return trainer.agent()


def load_agent(folder: RunFolder, spec: RunSpec, device: torch.device, greedy: bool = False) -> InContextAgent:
    """The model of ``folder``'s latest checkpoint as an agent (the dataset is not needed)."""
    state = torch.load(folder.latest_checkpoint, map_location="cpu", weights_only=True)
    env = gym.make(spec.env_id, **spec.env_kwargs)
    model = CausalTransformer(ModelConfig(**state["model_config"]), input_scale(env.observation_space))
    env.close()
    model.load_state_dict(state["model"])
    return InContextAgent(model, state["context_length"], device, greedy, spec.algo, DPTConfig(**state["config"]).temperature)
