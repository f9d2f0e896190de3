"""The RL² engine: a recurrent policy trained on whole trials, by TRPO (the paper's rule)
or PPO-clip, with everything but the update rule shared.

* :mod:`.config`: hyperparameters (:class:`RL2Config`; :class:`TRPOConfig` with the
  paper's defaults, :class:`PPOConfig`);
* :mod:`.policy`: encoder → GRU (or layer-normalised GRU) → head networks (policy and
  separate value baseline);
* :mod:`.trials`: batches of whole trials and GAE;
* :mod:`.rollout`: those batches from the native vector env;
* :mod:`.trpo`: the TRPO rule (conjugate gradient, Fisher-vector products, line search);
* :mod:`.ppo`: the PPO-clip rule (epochs of minibatches of whole trials);
* :mod:`.trainer`: the training loop, checkpoints and logs;
* :mod:`.agent`: a trained policy as an evaluation-protocol agent.
"""

from agents.rl2.agent import RL2Agent
from agents.rl2.config import PPOConfig, RL2Config, TRPOConfig
from agents.rl2.trainer import RL2Trainer

__all__ = ["PPOConfig", "RL2Agent", "RL2Config", "RL2Trainer", "TRPOConfig"]
