"""RL² with sb3-contrib's RecurrentPPO (LSTM, or GRU) on the native vector envs."""

from agents.recurrent_ppo.agent import RecurrentPPOAgent
from agents.recurrent_ppo.config import RecurrentPPOConfig
from agents.recurrent_ppo.policy import RL2RecurrentPolicy
from agents.recurrent_ppo.trainer import build_model, learn, load_agent

__all__ = ["RL2RecurrentPolicy", "RecurrentPPOAgent", "RecurrentPPOConfig", "build_model", "learn", "load_agent"]
