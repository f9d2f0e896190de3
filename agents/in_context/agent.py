"""A trained in-context transformer as an evaluation-protocol agent (:class:`agents.evaluation.Agent`)."""

from __future__ import annotations

import numpy as np
import torch

from agents.in_context.model import CausalTransformer
from meta_envs.trial import flatten_observation
from meta_envs.validation import check_int, check_number


class InContextAgent:
    """Acts online from its in-context history: the trial's RL² observations so far.

    Every :meth:`act` appends the new observation to each trial's history (the last
    ``context_length`` steps of it, with their steps in the trial) and reads the model's
    action distribution at the newest position: a DPT model's belief about the optimal
    action given what the trial has shown so far, an AD model's imitation of its source.
    Actions are *sampled* from it by default, with a :class:`torch.Generator` seeded by
    :meth:`reset` (sampling DPT's predicted optimal action is how DPT explores: Lee et al.
    2023 show it approximates posterior sampling); ``temperature`` below 1 sharpens the
    distribution (less exploration), ``greedy=True`` takes the argmax.

    With a context of a whole trial (``context_length`` = the model's ``max_length``, the
    default) the agent keeps each trial's attention keys and values
    (:meth:`~agents.in_context.model.CausalTransformer.next_features`), so a step costs one
    token's work: 200 trials of the k=5, n=100 bandit in 2.9 s against 54.4 s when the whole
    window is recomputed every step (18.7x; ``python scripts/studies/dpt_play_speed.py --tasks
    200``, one thread of the 2-core CPU beside two training runs). A shorter context slides,
    and is recomputed.

    A history is emptied by :meth:`reset` and wherever an observation is the first of a
    trial (``prev_action`` all zeros), so the agent stays correct under autoresetting
    vector envs.

    :param model: the trained transformer.
    :param context_length: steps of history the model reads (its training windows' length).
    :param device: where the model runs.
    :param greedy: argmax actions instead of sampled ones.
    :param name: its name in results (the ``--algo`` name).
    :param temperature: actions are sampled from ``softmax(logits / temperature)`` (> 0).
    """

    def __init__(
        self, model: CausalTransformer, context_length: int, device: torch.device, greedy: bool = False,
        name: str = "dpt", temperature: float = 1.0,
    ) -> None:
        self.model = model.to(device).eval()
        self.context_length = check_int("context_length", context_length, 1, model.config.max_length)
        self.temperature = temperature
        self.device, self.greedy, self.name = device, greedy, name
        self.generator = torch.Generator(device=device)
        self._features: torch.Tensor | None = None
        self.reset(1, 0)

    @property
    def temperature(self) -> float:
        """Actions are sampled from ``softmax(logits / temperature)``; settable (in [1e-6, 1e6])."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = check_number("temperature", value, 1e-6, 1e6)

    @property
    def memory(self) -> np.ndarray:
        """The model's last-layer output at the newest position of each trial after the last
        :meth:`act`, ``(num_envs, d_model)`` (what the behavioural probe reads)."""
        if self._features is None:
            raise RuntimeError("no memory before the first act()")
        return self._features.cpu().numpy()

    def reset(self, num_envs: int, seed: int) -> None:
        check_int("num_envs", num_envs, 1)
        config = self.model.config
        if self.context_length == config.max_length:
            # a whole trial fits: keep the keys and values (one slot more for the last
            # observation, acted on once more before the autoreset) instead of the tokens
            self._cache: torch.Tensor | None = self.model.new_cache(num_envs, config.max_length + 1)
        else:
            self._cache = None
            self._tokens = torch.zeros(num_envs, self.context_length, config.input_dim, device=self.device)
            self._positions = torch.zeros(num_envs, self.context_length, dtype=torch.int64, device=self.device)
        self._filled = np.zeros(num_envs, np.int64)  # tokens held per trial
        self._step = np.zeros(num_envs, np.int64)  # the newest token's step in its trial
        self._features = None
        self.generator.manual_seed(seed)

    @torch.no_grad()
    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        token = torch.from_numpy(flatten_observation(observation)).to(self.device)
        start = ~np.asarray(observation["prev_action"]).any(axis=1)
        self._filled[start] = 0
        self._step[start] = 0
        # a trial's last observation is acted on once more before the vector env's autoreset
        # (the action is ignored): its step is one past the longest trial
        step = torch.from_numpy(np.minimum(self._step, self.model.config.max_length - 1)).to(self.device)
        if self._cache is not None:
            slot = torch.from_numpy(self._filled.copy()).to(self.device)
            features = self.model.next_features(token, step, slot, self._cache)
        else:
            features = self._features_of_window(token, step)
        self._filled += 1
        self._step += 1
        self._features = features
        logits = self.model.head(features)
        if self.greedy:
            actions = logits.argmax(dim=1)
        else:
            probabilities = torch.softmax(logits / self.temperature, dim=1)
            actions = torch.multinomial(probabilities, 1, generator=self.generator)[:, 0]
        return actions.cpu().numpy()

    def _features_of_window(self, token: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """The newest position's features from the last ``context_length`` tokens, recomputed
        over the whole window (the window slides, so cached keys would hold stale positions)."""
        full = np.flatnonzero(self._filled == self.context_length)
        if full.size:  # slide: drop the oldest step
            index = torch.from_numpy(full).to(self.device)
            self._tokens[index] = self._tokens[index].roll(-1, dims=1)
            self._positions[index] = self._positions[index].roll(-1, dims=1)
            self._filled[full] -= 1
        everyone = torch.arange(len(self._filled), device=self.device)
        slot = torch.from_numpy(self._filled.copy()).to(self.device)
        self._tokens[everyone, slot] = token
        self._positions[everyone, slot] = step
        width = int(self._filled.max()) + 1  # later slots are empty; the causal mask keeps them out
        return self.model.features(self._tokens[:, :width], self._positions[:, :width])[everyone, slot]
