"""One colour and marker per method name, the same in every figure of the project.

Every plot (the benchmark report, a run's ``learning_curve.png``, the RL² reference
figures) takes a method's colour and marker from :func:`method_style`, so "random" or
"rl2" looks the same in every panel and every figure. The project's methods have fixed
entries (:data:`STYLES`); any other name (a method under test) gets one of
:data:`OTHER_STYLES`, chosen by a checksum of the name, so it too keeps its style from
figure to figure.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Style:
    """How a method is drawn.

    :param color: a matplotlib colour.
    :param marker: a matplotlib marker.
    """

    color: str
    marker: str

    def kwargs(self) -> dict[str, str]:
        """``color`` and ``marker`` as keyword arguments of ``Axes.plot``."""
        return {"color": self.color, "marker": self.marker}


#: the project's methods: the random policy, RL², and every family's classic baselines
STYLES: dict[str, Style] = {
    "random": Style("#7f7f7f", "x"),
    "rl2": Style("#1f77b4", "o"),
    # the ceilings: exact Bayes-optimal bandit policy, the maze's map-knowing oracle
    "bayes_optimal": Style("#000000", "*"),
    "oracle": Style("#000000", "*"),
    "gittins": Style("#2ca02c", "s"),
    "ucb1": Style("#ff7f0e", "^"),
    "thompson": Style("#9467bd", "v"),
    "ots": Style("#8c564b", "D"),
    "greedy": Style("#a6761d", "<"),
    "epsilon_greedy": Style("#bcbd22", ">"),
    "psrl": Style("#17becf", "P"),
    "opsrl": Style("#9edae5", "X"),
    "ucrl2": Style("#ffbb78", "h"),
    "beb": Style("#006d2c", "p"),
    "explorer": Style("#2ca02c", "s"),
    # the memoryless reference of the behavioural probe
    "win_stay_lose_shift": Style("#e7298a", "1"),
}

#: styles for any other method (a method under test), none of them a project method's
OTHER_STYLES: tuple[Style, ...] = (
    Style("#d62728", "o"),
    Style("#c51b7d", "D"),
    Style("#01665e", "s"),
    Style("#542788", "^"),
)


def method_style(name: str) -> Style:
    """The colour and marker of the method called ``name`` (the same in every figure).

    :param name: a result name (``"random"``, ``"rl2"``, ``"gittins"``, ...) or any label.
    """
    if name in STYLES:
        return STYLES[name]
    return OTHER_STYLES[zlib.crc32(name.encode()) % len(OTHER_STYLES)]


def draw_levels(ax: Any, levels: Mapping[str, float]) -> None:
    """A horizontal line per level on the matplotlib axes ``ax``, labelled with its value:
    dashed in its method's colour, or dotted for the paper's number (``"paper rl2"``) in that
    method's colour.

    :param levels: name -> mean trial return (e.g. :func:`agents.benchmark.references.reference_levels`).
    """
    for name, value in levels.items():
        paper = name.startswith("paper ")
        method = name.removeprefix("paper ")
        label = ("paper RL²" if method == "rl2" else f"paper {method}") if paper else name
        ax.axhline(value, color=method_style(method).color, lw=1.0, ls=":" if paper else "--",
                   label=f"{label} {value:.4g}")
