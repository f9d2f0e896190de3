"""What every learner shares around its update rule.

* :mod:`.algorithms`: the registry of learners that ``scripts/train.py`` runs (``--algo``);
* :mod:`.run_folder`: run folders (config, progress log, checkpoints, curves, eval.json);
* :mod:`.cli`: the shared command-line flags (env kwargs, seeds, threads, dataclass flags);
* :mod:`.sweep`: multi-seed / multi-setting sweeps on Ray Tune.
"""
