"""The RL² training loop: rollout of whole trials, value baseline, policy update, logs.

One iteration:

1. collect at least ``steps_per_iteration`` steps of whole trials (:mod:`.rollout`);
2. values of every step from the value GRU, GAE over whole trials, advantage
   normalisation (:func:`~agents.rl2.trials.compute_gae`);
3. one update of the policy by the config's rule: a TRPO step (:class:`TRPOConfig`,
   :class:`~agents.rl2.trpo.TRPORule`) or PPO-clip epochs (:class:`PPOConfig`,
   :class:`~agents.rl2.ppo.PPORule`); everything else is shared;
4. fit the value GRU to the discounted returns (or GAE's λ-returns, ``value_targets``)
   with Adam, minibatches of whole trials.

Every iteration logs the quantities of :func:`metric_names` (``progress.csv`` and
TensorBoard through :class:`agents.training.run_folder.MetricLogger`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import torch

from agents.training.run_folder import InitFromError, RunFolder, RunSpec, resolve_device, run_iterations
from agents.rl2.agent import RL2Agent
from agents.rl2.config import PPOConfig, RL2Config, TRPOConfig, value_core
from agents.rl2.policy import RecurrentNet, ValueNet, is_image_space
from agents.rl2.ppo import PPORule
from agents.rl2.rollout import TrialCollector
from agents.rl2.trials import TrialData, compute_gae, masked_mean
from agents.rl2.trpo import TRPORule
from agents.rl2.widen import widen_recurrent_net

#: the update rule of each config type, and the ``--algo`` name of its learner
RULES: dict[type[RL2Config], tuple[type[TRPORule] | type[PPORule], str]] = {
    TRPOConfig: (TRPORule, "trpo_gru"),
    PPOConfig: (PPORule, "ppo_gru"),
}

#: logged quantities every rule shares: the first ones, then the rule's, then these
_HEAD_METRICS = {
    "iteration": "iterations done",
    "env_steps": "env steps of training trials so far",
    "mean_trial_return": "mean total reward of this iteration's trials",
}
_TAIL_METRICS = {
    "explained_variance": "1 - Var(returns - V) / Var(returns) of the value baseline before its fit",
    "value_loss": "mean squared error of the value fit (normalised units, last epoch)",
    "env_steps_per_s": "env steps of the iteration / its wall time (rollout + update)",
    "rollout_s": "seconds spent collecting trials",
    "update_s": "seconds spent in the value fit and policy update (GAE and the timed phases)",
    "value_forward_s": "seconds for the value baseline's forward pass over the batch (for GAE)",
    "value_fit_s": "seconds for fitting the value baseline",
}


def config_type(algo: str) -> type[RL2Config]:
    """The config type of the learner ``algo`` (``trpo_gru`` or ``ppo_gru``)."""
    for config, (_, name) in RULES.items():
        if name == algo:
            return config
    raise ValueError(f"unknown RL² learner {algo!r}; known: {', '.join(name for _, name in RULES.values())}")


def metric_names(config_type: type[RL2Config]) -> dict[str, str]:
    """Every quantity a run of this config type logs, in column order, with its meaning."""
    return {**_HEAD_METRICS, **RULES[config_type][0].METRICS, **_TAIL_METRICS}


def build_networks(
    observation_space: gym.spaces.Dict, num_actions: int, config: RL2Config, seed: int, task_size: int = 0
) -> tuple[RecurrentNet, ValueNet]:
    """The policy and the value baseline, initialised from ``seed`` (same on every device).

    :param task_size: width of the env's task features, which the baseline sees when
        ``config.value_task_features`` (:func:`task_feature_size`).
    """
    if config.value_task_features and task_size < 1:
        raise ValueError("value_task_features needs the env's task feature width: task_size >= 1")
    value_cell = value_core(config.cell, config.value_cell)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        policy = RecurrentNet(
            observation_space, num_actions, config.hidden_size, config.embedding_size, head_gain=0.01,
            cell=config.cell, update_gate_bias=config.update_gate_bias, tied_action_head=config.tied_action_head,
        )
        value = ValueNet(
            observation_space, config.value_hidden_size, config.embedding_size,
            cell=value_cell, update_gate_bias=config.update_gate_bias,
            task_size=task_size if config.value_task_features else 0,
        )
    return policy, value


def env_spaces(env_id: str, env_kwargs: dict[str, Any]) -> tuple[gym.spaces.Dict, int]:
    """One env's RL² observation space and number of actions."""
    env = gym.make(env_id, **env_kwargs)
    spaces_ = env.observation_space, int(env.action_space.n)
    env.close()
    return spaces_


def task_feature_size(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """Width ``F`` of the env's task features (``RL2VectorEnv.task_features``).

    :raises ValueError: for a family without task features.
    """
    envs = gym.make_vec(env_id, num_envs=1, vectorization_mode="vector_entry_point", **env_kwargs)
    try:
        envs.reset(seed=0)
        return int(envs.unwrapped.task_features().shape[1])
    except NotImplementedError as error:
        raise ValueError(f"value_task_features: {env_id} cannot show its tasks to the baseline: {error}") from None
    finally:
        envs.close()


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """``1 - Var(returns - values) / Var(returns)`` over the masked steps (nan if Var = 0)."""
    valid = mask > 0
    target = returns[valid]
    variance = target.var()
    return float("nan") if variance.item() == 0 else float(1 - (target - values[valid]).var() / variance)


class RL2Trainer:
    """An RL² learner on one env (module docstring); the config's type picks the update rule.

    :param env_id: a registered meta_envs ID.
    :param env_kwargs: the family's keyword arguments.
    :param config: hyperparameters: a :class:`TRPOConfig` or a :class:`PPOConfig`.
    :param num_envs: sub-envs stepped together.
    :param seed: seeds the networks, the action sampling and the env.
    :param device: a torch device.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        config: TRPOConfig | PPOConfig,
        num_envs: int,
        seed: int,
        device: torch.device,
    ) -> None:
        if type(config) not in RULES:
            raise TypeError(f"config must be one of {[t.__name__ for t in RULES]}, got {type(config).__name__}")
        self.config, self.device, self.seed = config, device, seed
        observation_space, num_actions = env_spaces(env_id, env_kwargs)
        self.image = is_image_space(observation_space["obs"])
        task_size = task_feature_size(env_id, env_kwargs) if config.value_task_features else 0
        policy, value = build_networks(observation_space, num_actions, config, seed, task_size)
        self.policy, self.value = policy.to(device), value.to(device)
        rule, self.algo = RULES[type(config)]
        self.rule = rule(self.policy, config)
        self.metrics = metric_names(type(config))
        self.value_optimizer = torch.optim.Adam(self.value.parameters(), lr=config.value_lr)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.collector = TrialCollector(env_id, env_kwargs, num_envs, seed, device, config.value_task_features)
        self.iteration = 0
        self.env_steps = 0

    def train_iteration(self) -> dict[str, float]:
        """Collect trials, update value baseline and policy; return the :attr:`metrics`."""
        cfg = self.config
        start = time.perf_counter()
        rollout = self.collector.collect(self.policy, cfg.steps_per_iteration, self.generator)
        collected = time.perf_counter()
        data = rollout.data
        with torch.no_grad():
            values = self.value.values(data.observations, data.task_features)
        values_done = self._clock()
        advantages, returns = self.advantages(data, values)
        rule_metrics = self.rule.update(data, advantages, self.generator)
        stepped = time.perf_counter()
        value_loss = self._fit_value(data, returns)
        end = self._clock()
        self.iteration += 1
        self.env_steps += rollout.env_steps
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "mean_trial_return": float(rollout.trial_returns.mean()),
            **rule_metrics,
            "explained_variance": explained_variance(values, returns, data.mask),
            "value_loss": value_loss,
            "env_steps_per_s": rollout.env_steps / (end - start),
            "rollout_s": collected - start,
            "update_s": end - collected,
            "value_forward_s": values_done - collected,
            "value_fit_s": end - stepped,
        }

    def advantages(self, data: TrialData, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE over whole trials, normalised if the config says so, and the value targets.

        :param values: the value baseline's ``[L, M]`` values of ``data``.
        :return: ``(advantages, targets)``, both ``[L, M]`` and 0 on padding; the targets
            are ``TRPOConfig.value_targets``.
        """
        cfg = self.config
        advantages = compute_gae(data.rewards, values, data.mask, cfg.gamma, cfg.gae_lambda)
        if cfg.value_targets == "returns":  # GAE with V = 0 and λ = 1 is the discounted return
            returns = compute_gae(data.rewards, torch.zeros_like(values), data.mask, cfg.gamma, 1.0)
        else:
            returns = advantages + values * data.mask
        if cfg.normalize_advantages:
            mean = masked_mean(advantages, data.mask)
            std = masked_mean((advantages - mean) ** 2, data.mask).sqrt()
            advantages = (advantages - mean) / (std + 1e-8) * data.mask
        return advantages, returns

    def _clock(self) -> float:
        """``time.perf_counter()`` once the device's queued work is done."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _fit_value(self, data: TrialData, returns: torch.Tensor) -> float:
        """Adam on the squared error to the value targets, minibatches of whole trials."""
        self.value.update_statistics(returns[data.mask > 0])
        targets = self.value.normalize(returns)
        trials = data.num_trials
        batches = min(self.config.value_minibatches, trials)
        loss_sum = 0.0
        for _ in range(self.config.value_epochs):
            order = torch.randperm(trials, generator=self.generator, device=self.generator.device).to(self.device)
            loss_sum = 0.0
            for chunk in order.chunk(batches):
                batch = data.columns(chunk)
                batch_targets = targets[: batch.mask.shape[0], chunk]
                self.value_optimizer.zero_grad(set_to_none=True)
                loss = torch.zeros((), device=self.device)
                for columns, part, share in batch.chunks():
                    prediction = self.value(self.value.with_task(part.observations, part.task_features))[0].squeeze(-1)
                    part_loss = share * masked_mean((prediction - batch_targets[:, columns]) ** 2, part.mask)
                    part_loss.backward()
                    loss += part_loss.detach()
                self.value_optimizer.step()
                loss_sum += loss.item()
        return loss_sum / batches

    def agent(self, greedy: bool = False) -> RL2Agent:
        """The current policy as an evaluation-protocol agent."""
        return RL2Agent(self.policy, self.image, self.device, greedy, name=self.algo)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly."""
        return {
            "policy": self.policy.state_dict(),
            "value": self.value.state_dict(),
            "value_optimizer": self.value_optimizer.state_dict(),
            "rule": self.rule.state_dict(),
            "generator": self.generator.get_state(),
            "env_rng": self.collector.np_random_state,
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "config": dataclasses.asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.value.load_state_dict(state["value"])
        self.value_optimizer.load_state_dict(state["value_optimizer"])
        self.rule.load_state_dict(state.get("rule", {}))  # checkpoints of TRPO runs before PPO had none
        self.generator.set_state(state["generator"])
        self.collector.np_random_state = state["env_rng"]
        self.iteration, self.env_steps = state["iteration"], state["env_steps"]

    def load_networks(self, run_dir: str, policy_only: bool = False) -> None:
        """Start from the policy and value networks of another run's latest checkpoint (a
        warm start); optimiser states, generators and counters stay this run's.

        A network of this run that is a whole multiple wider than theirs (``hidden_size``,
        ``value_hidden_size``) starts as their network widened (:mod:`agents.rl2.widen`):
        nearly the same function, with room for more state.

        :param run_dir: a run folder of either RL² learner with the same networks, or narrower ones.
        :param policy_only: take only their policy; this run's value baseline keeps its fresh
            start and may be of any shape (e.g. one that sees the task, ``value_task_features``).
        :raises InitFromError: if it has no checkpoint, or networks of another shape (the
            fields that differ are named).
        """
        path = RunFolder(run_dir).latest_checkpoint
        if not path.is_file():
            raise InitFromError(f"--init-from: {path} not found (a trpo_gru or ppo_gru run folder with a checkpoint)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        theirs = {"cell": "gru", **state["config"]}  # runs from before the cell choice used the GRU
        for option in ("value_task_features", "tied_action_head"):
            theirs.setdefault(option, False)  # runs from before the option had none
        # "same" on one side and the cell itself on the other build the same baseline
        theirs["value_cell"] = value_core(theirs["cell"], theirs.get("value_cell", "same"))
        ours = {**dataclasses.asdict(self.config), "value_cell": value_core(self.config.cell, self.config.value_cell)}
        widths = {"hidden_size": "policy"} if policy_only else {"hidden_size": "policy", "value_hidden_size": "value"}
        shape_fields = ("hidden_size", "embedding_size", "cell", "tied_action_head")
        if not policy_only:
            shape_fields += ("value_hidden_size", "value_cell", "value_task_features")
        differ = {
            f: (theirs[f], ours[f]) for f in shape_fields
            if theirs[f] != ours[f] and not (f in widths and ours[f] > theirs[f] and ours[f] % theirs[f] == 0)
        }
        if differ:
            raise InitFromError(
                f"--init-from {run_dir}: its networks differ from this run's (theirs, ours): {differ}; a width "
                "may only grow, by a whole multiple"
            )
        generator = torch.Generator().manual_seed(self.seed)
        for field, net in widths.items():
            if getattr(self.config, field) != theirs[field]:
                try:
                    state[net] = widen_recurrent_net(state[net], getattr(self.config, field), generator)
                except ValueError as error:  # e.g. a tied head, which widening cannot keep
                    raise InitFromError(f"--init-from {run_dir}: {error}") from None
        try:
            self.policy.load_state_dict(state["policy"])
            if not policy_only:
                self.value.load_state_dict(state["value"])
        except RuntimeError as error:  # e.g. another env's observation or action count
            first_line = str(error).splitlines()[0]
            raise InitFromError(f"--init-from {run_dir}: its networks do not fit this env: {first_line}") from None

    def close(self) -> None:
        self.collector.close()


def train(
    folder: RunFolder,
    spec: RunSpec,
    progress: Callable[[dict[str, float]], None],
    resume: bool = False,
    checkpoint_every: int = 25,
    stop: Callable[[], bool] = lambda: False,
) -> RL2Trainer:
    """Train (or continue) the run in ``folder`` until its budget is spent or ``stop()``.

    :param folder: the run folder (created, with ``config.json``).
    :param spec: the run.
    :param progress: called with the metrics after every iteration.
    :param resume: continue from ``checkpoints/latest.pt``.
    :param checkpoint_every: also keep a snapshot every this many iterations (``latest``
        is refreshed then and every ``spec.checkpoint_minutes``).
    :param stop: checked after every iteration; when true, the run saves its checkpoint and returns.
    :return: the trainer, holding the final policy.
    """
    device = resolve_device(spec.device)
    config = config_type(spec.algo)(**spec.hyperparameters)
    trainer = RL2Trainer(spec.env_id, spec.env_kwargs, config, spec.num_envs, spec.seed, device)
    if resume:
        # on the CPU first: the generator state must stay a CPU tensor
        trainer.load_state_dict(torch.load(folder.latest_checkpoint, map_location="cpu", weights_only=True))
    elif spec.init_from:
        trainer.load_networks(spec.init_from, policy_only=spec.init_policy_only)
    try:
        run_iterations(trainer, folder, spec, progress, stop, checkpoint_every)
    finally:
        trainer.close()
    return trainer


def load_agent(folder: RunFolder, spec: RunSpec, device: torch.device, greedy: bool = False) -> RL2Agent:
    """The policy of ``folder``'s latest checkpoint as an agent."""
    state = torch.load(folder.latest_checkpoint, map_location="cpu", weights_only=True)
    observation_space, num_actions = env_spaces(spec.env_id, spec.env_kwargs)
    config = config_type(spec.algo)(**state["config"])
    task_size = task_feature_size(spec.env_id, spec.env_kwargs) if config.value_task_features else 0
    policy = build_networks(observation_space, num_actions, config, seed=0, task_size=task_size)[0]
    policy.load_state_dict(state["policy"])
    return RL2Agent(policy.to(device), is_image_space(observation_space["obs"]), device, greedy, name=spec.algo)
