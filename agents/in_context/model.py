"""The small causal transformer of the in-context learners (DPT and AD share it).

Input: a sequence of flattened RL² observations (:func:`meta_envs.flatten_observation`),
one token per step, ``x_t = (s_t, a_{t-1}, r_{t-1}, d_{t-1})``, and each token's step in its
trial. Output: logits over the actions at every position, from the tokens up to it
(a causal mask), so position ``t`` sees the history of the trial so far and the state the
next action is taken in.

    token -> Linear(D, d_model) + learned embedding of the step -> pre-norm
    TransformerEncoder (causal) -> LayerNorm -> Linear(d_model, num_actions)

The state part of the token is divided by the observation space's bound (an ``rgb`` maze
view's 255), so that every input is of order one; the scale is part of the model
(a buffer), the same in training and in play.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from meta_envs.trial import OBSERVATION_KEYS


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the transformer's shape (kept in checkpoints to rebuild it).

    :param input_dim: length of a flattened RL² observation.
    :param num_actions: size of the action space.
    :param max_length: the most steps a trial can take (the step embedding's size).
    :param d_model: width of the token embedding.
    :param num_layers: transformer layers.
    :param num_heads: attention heads per layer (must divide ``d_model``).
    :param feedforward: width of each layer's feed-forward block.
    :param dropout: dropout in the layers.
    :param step_init_std: standard deviation of the step embedding's initial weights
        (1, PyTorch's default for an embedding, is what checkpoints without the field had;
        ``--algo dpt`` starts new models at 0.02, see :class:`agents.in_context.trainer.DPTConfig`).
    """

    input_dim: int
    num_actions: int
    max_length: int
    d_model: int = 64
    num_layers: int = 3
    num_heads: int = 4
    feedforward: int = 256
    dropout: float = 0.0
    step_init_std: float = 1.0

    def __post_init__(self) -> None:
        if self.d_model % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide d_model ({self.d_model})")


def input_scale(observation_space: gym.spaces.Dict) -> np.ndarray:
    """Per input of a flattened observation, what to multiply it by: ``1 / high`` for the
    parts with a finite positive upper bound, else 1 (float32, length ``input_dim``)."""
    scales = []
    for key in OBSERVATION_KEYS:
        high = np.asarray(observation_space[key].high, np.float64).reshape(-1)
        scales.append(np.where(np.isfinite(high) & (high > 0), 1.0 / np.where(high > 0, high, 1.0), 1.0))
    return np.concatenate(scales).astype(np.float32)


class CausalTransformer(nn.Module):
    """See the module docstring.

    :param config: the shape.
    :param scale: :func:`input_scale` of the env's observation space (default: all ones).
    """

    def __init__(self, config: ModelConfig, scale: np.ndarray | None = None) -> None:
        super().__init__()
        self.config = config
        scale = np.ones(config.input_dim, np.float32) if scale is None else np.asarray(scale, np.float32)
        if scale.shape != (config.input_dim,):
            raise ValueError(f"scale must have shape ({config.input_dim},), got {scale.shape}")
        self.register_buffer("scale", torch.from_numpy(scale.copy()))
        self.embed = nn.Linear(config.input_dim, config.d_model)
        self.step_embedding = nn.Embedding(config.max_length, config.d_model)
        if config.step_init_std != 1.0:  # 1 is the embedding's own initialisation: no draw, old runs reproduce
            nn.init.normal_(self.step_embedding.weight, std=config.step_init_std)
        layer = nn.TransformerEncoderLayer(
            config.d_model, config.num_heads, config.feedforward, config.dropout, batch_first=True, norm_first=True
        )
        # no nested tensors: they only apply to padding masks, which a causal model does not need
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.num_actions)

    def features(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``(B, L, d_model)`` the last layer's output at every position.

        :param tokens: ``(B, L, input_dim)`` flattened RL² observations.
        :param positions: ``(B, L)`` each token's step in its trial (``< max_length``).
        """
        length = tokens.shape[1]
        x = self.embed(tokens * self.scale) + self.step_embedding(positions)
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=tokens.device, dtype=x.dtype)
        return self.norm(self.encoder(x, mask=causal, is_causal=True))

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``(B, L, num_actions)`` action logits at every position (see :meth:`features`)."""
        return self.head(self.features(tokens, positions))

    def new_cache(self, batch_size: int, length: int) -> torch.Tensor:
        """An empty key/value cache for ``batch_size`` sequences of up to ``length`` tokens:
        zeros ``(num_layers, 2, batch_size, num_heads, length, head_dim)``, each layer's
        attention keys and values (:meth:`next_features`)."""
        shape = (self.config.num_layers, 2, batch_size, self.config.num_heads, length,
                 self.config.d_model // self.config.num_heads)
        return self.scale.new_zeros(shape)

    def next_features(
        self, token: torch.Tensor, position: torch.Tensor, slot: torch.Tensor, cache: torch.Tensor
    ) -> torch.Tensor:
        """``(B, d_model)``: :meth:`features` at one new position of each sequence, from the
        keys and values of the earlier ones kept in ``cache`` (which gains this position's).
        One step of play costs one token's work, not the whole history's. The layers are
        run as in :meth:`features` in eval mode (pre-norm, no dropout): for play only.

        :param token: ``(B, input_dim)`` the new token of each sequence.
        :param position: ``(B,)`` its step in its trial.
        :param slot: ``(B,)`` its index in its sequence: the sequence's earlier tokens are in
            the cache's slots ``0 .. slot - 1``; later slots (a finished trial's) are ignored.
        :param cache: the cache of these sequences (:meth:`new_cache`), written in place.
        """
        heads = self.config.num_heads
        batch = torch.arange(len(token), device=token.device)
        width = int(slot.max()) + 1
        # the causal mask of features(), for each sequence's own length
        visible = torch.arange(width, device=token.device) <= slot[:, None]
        x = self.embed(token * self.scale) + self.step_embedding(position)
        for layer, stored in zip(self.encoder.layers, cache):
            attention = layer.self_attn
            query, key, value = nn.functional.linear(
                layer.norm1(x), attention.in_proj_weight, attention.in_proj_bias
            ).unflatten(-1, (3, heads, -1)).unbind(1)
            stored[0, batch, :, slot] = key
            stored[1, batch, :, slot] = value
            mixed = nn.functional.scaled_dot_product_attention(
                query.unsqueeze(2), stored[0, :, :, :width], stored[1, :, :, :width], attn_mask=visible[:, None, None]
            )
            x = x + attention.out_proj(mixed.flatten(1))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        return self.norm(x)

