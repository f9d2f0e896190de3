"""In-context RL: learning-history datasets of every family, their loader, and the DPT/AD learner.

* :mod:`.labels`: the optimal action of every step of a trial, from its task (DPT's target);
* :mod:`.generation`: whole trials of source agents (baselines, shipped RL² agents, any
  agent factory) on training tasks, written as Minari datasets (``scripts/make_dataset.py``);
* :mod:`.loader`: a dataset as flat arrays (cached) and as torch windows for the DPT and AD
  training schemes;
* :mod:`.model`: the small causal transformer;
* :mod:`.agent`: the transformer as an evaluation-protocol agent acting from its in-context history;
* :mod:`.trainer`: ``--algo dpt`` of ``scripts/train.py`` (DPT or AD targets, run folders, resume).
"""
