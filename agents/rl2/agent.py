"""A trained RL² policy (TRPO- or PPO-trained) as an evaluation-protocol agent (:class:`agents.evaluation.Agent`)."""

from __future__ import annotations

import numpy as np
import torch

from agents.rl2.policy import RecurrentNet, to_observations
from agents.rl2.rollout import sample_actions


class RL2Agent:
    """Acts with a policy network, one GRU-cell step per call for every trial at once.

    Actions are *sampled* from the policy by default, with a :class:`torch.Generator`
    seeded by :meth:`reset`: that is how the policy was trained and how RL² agents are
    scored (exploration inside a trial is the learned behaviour; the argmax of a
    stochastic meta-policy can get stuck repeating one arm). ``greedy=True`` takes the
    argmax instead.

    The hidden state is zeroed by :meth:`reset` and for any sub-env whose observation
    is the first of a trial (``prev_action`` all zeros, which the trial layer shows only
    at a trial's start), so the agent also stays correct when driven through
    autoresetting vector envs.

    :param policy: the policy network.
    :param image: whether the env's state is an image (see ``is_image_space``).
    :param device: where the policy runs.
    :param greedy: argmax actions instead of sampled ones.
    :param name: the agent's name in results: its learner's ``--algo`` name.
    """

    def __init__(
        self, policy: RecurrentNet, image: bool, device: torch.device, greedy: bool = False, name: str = "trpo_gru"
    ) -> None:
        self.name = name
        # no .eval(): the networks have no dropout or batch statistics, and cuDNN refuses the
        # backward of an RNN in eval mode, which would break a trainer sharing the policy
        self.policy = policy
        self.image, self.device, self.greedy = image, device, greedy
        self.hidden = policy.initial_state(0)
        self.generator = torch.Generator(device=device)

    @property
    def memory(self) -> np.ndarray:
        """The GRU's hidden state after the last :meth:`act`, ``(num_envs, hidden_size)``
        (what the behavioural probe reads, :mod:`agents.evaluation.probe`)."""
        return self.hidden.cpu().numpy()

    def reset(self, num_envs: int, seed: int) -> None:
        self.hidden = self.policy.initial_state(num_envs)
        self.generator.manual_seed(seed)

    @torch.no_grad()
    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        trial_start = ~np.asarray(observation["prev_action"]).any(axis=1)
        if trial_start.any():
            self.hidden[torch.from_numpy(trial_start).to(self.device)] = 0.0
        logits, self.hidden = self.policy.step(to_observations(observation, self.image, self.device), self.hidden)
        return sample_actions(logits, self.generator, self.greedy).cpu().numpy()
