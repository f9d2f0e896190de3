"""A RecurrentPPO policy as an evaluation-protocol agent (:class:`agents.evaluation.Agent`)."""

from __future__ import annotations

import numpy as np
import torch
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy

from agents.rl2.rollout import sample_actions


class RecurrentPPOAgent:
    """Acts with a RecurrentPPO policy, one recurrent step per call for every trial at once.

    It threads what sb3-contrib's policy needs between calls: the actor's recurrent state
    (``lstm_states``, zeros after :meth:`reset`) and ``episode_start``, True for a sub-env
    exactly when its observation is the first of a *trial* (``prev_action`` all zeros, which
    the trial layer shows only at a trial's start). It is never True at the inner-episode
    boundaries inside a trial, so the state carries what was learned about the task from one
    episode to the next (the policy sees ``prev_done`` there); the agent also stays correct
    when driven through autoresetting vector envs.

    Actions are sampled from the policy by default, with a :class:`torch.Generator` seeded
    by :meth:`reset` (how the policy was trained, and how RL² agents are scored);
    ``greedy=True`` takes the most probable action instead.

    :param policy: a trained RecurrentPPO policy (``model.policy``).
    :param greedy: argmax actions instead of sampled ones.
    """

    name = "recurrent_ppo"

    def __init__(self, policy: RecurrentActorCriticPolicy, greedy: bool = False) -> None:
        policy.set_training_mode(False)
        self.policy, self.greedy = policy, greedy
        self.generator = torch.Generator(device=policy.device)
        self.states: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self, num_envs: int, seed: int) -> None:
        layers, _, hidden = self.policy.lstm_hidden_state_shape
        zeros = torch.zeros((layers, num_envs, hidden), device=self.policy.device)
        self.states = (zeros, zeros.clone())
        self.generator.manual_seed(seed)

    @torch.no_grad()
    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        if self.states is None:
            raise RuntimeError("call reset(num_envs, seed) before act()")
        trial_start = ~np.asarray(observation["prev_action"]).any(axis=1)
        episode_starts = torch.as_tensor(trial_start, dtype=torch.float32, device=self.policy.device)
        observation_tensor, _ = self.policy.obs_to_tensor(observation)
        distribution, self.states = self.policy.get_distribution(observation_tensor, self.states, episode_starts)
        return sample_actions(distribution.distribution.logits, self.generator, self.greedy).cpu().numpy()
