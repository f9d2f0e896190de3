"""The RL² paper's learner: a GRU policy trained by TRPO on whole trials.

* :mod:`.config`: hyperparameters (:class:`TRPOConfig`, paper defaults);
* :mod:`.policy`: encoder → GRU → head networks (policy and separate value baseline);
* :mod:`.trpo`: GAE, conjugate gradient, Fisher-vector products, line search;
* :mod:`.rollout`: batches of whole trials from the native vector env;
* :mod:`.trainer`: the training loop, checkpoints and logs;
* :mod:`.agent`: a trained policy as an evaluation-protocol agent.
"""

from agents.trpo_gru.agent import TRPOGRUAgent
from agents.trpo_gru.config import TRPOConfig
from agents.trpo_gru.trainer import TRPOTrainer

__all__ = ["TRPOConfig", "TRPOGRUAgent", "TRPOTrainer"]
