"""How every agent is judged: one protocol, the paper's tables, behavioural probes.

* :mod:`.protocol`: the one evaluation protocol (held-out tasks, mean trial reward with a
  95% interval, per-episode returns), its trial loop on any tasks (:func:`run_trials`), the
  :class:`Agent` protocol and the results layout;
  its public names are re-exported here (``from agents.evaluation import evaluate``);
* :mod:`.maze_metrics`: the maze family's statistics (the paper's Table 3);
* :mod:`.paper_tables`: the paper's Tables 1–3 as packaged data;
* :mod:`.reproduction`: every agent of a table on its cells, compared with the paper;
* :mod:`.probe`: the behavioural probe (what an agent's actions and state say about its memory);
* :mod:`.palette`: one colour and marker per method, in every figure.
"""

from agents.evaluation.protocol import (
    FAMILY_METRICS,
    Agent,
    EvaluationResult,
    check_agent,
    evaluate,
    format_table,
    results_document,
    run_trials,
    write_results,
)

__all__ = [
    "FAMILY_METRICS",
    "Agent",
    "EvaluationResult",
    "check_agent",
    "evaluate",
    "format_table",
    "results_document",
    "run_trials",
    "write_results",
]
