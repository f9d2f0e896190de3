"""RL² with sb3-contrib's RecurrentPPO (LSTM, or GRU) on the native vector envs.

* :mod:`.config`: hyperparameters (:class:`RecurrentPPOConfig`, sb3-contrib's defaults)
  and the tuned per-family values (:func:`~.config.family_defaults`); how rollouts,
  sequences and trials line up;
* :mod:`.policy`: :class:`RL2RecurrentPolicy`, sb3-contrib's recurrent actor-critic with
  a GRU option and a whole-sequence RNN pass;
* :mod:`.trainer`: the model over :class:`agents.recurrent_ppo.sb3_vec_env.NativeVecEnv`, the logged
  quantities, checkpoints, the run-folder ``train``/``load_agent`` of ``--algo recurrent_ppo``;
* :mod:`.agent`: a trained policy as an evaluation-protocol agent.
"""

from agents.recurrent_ppo.agent import RecurrentPPOAgent
from agents.recurrent_ppo.config import RecurrentPPOConfig
from agents.recurrent_ppo.policy import RL2RecurrentPolicy
from agents.recurrent_ppo.trainer import build_model, learn, load_agent

__all__ = ["RL2RecurrentPolicy", "RecurrentPPOAgent", "RecurrentPPOConfig", "build_model", "learn", "load_agent"]
