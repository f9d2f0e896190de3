"""The RL² paper's result tables as data, and how their cells map to env kwargs.

The numbers (mean total reward per trial over 1000 tasks) are Tables 1 (bandits) and 2
(tabular MDPs) of Duan et al. 2016, arXiv 1611.02779; ``agents/data/paper_tables.json``
holds them with their source. A table's cells are named like ``"k=5,n=10"``;
:data:`TABLE_LAYOUTS` says which env each table was run on and which env kwarg each
letter stands for. Adding a table is adding its numbers to the data file and one entry
here.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

#: the copy of the paper's tables kept in the package
PACKAGED_TABLES = Path(__file__).resolve().parents[1] / "data" / "paper_tables.json"

#: the paper's maze statistics (its Table 3), per maze ID
PAPER_MAZE_TABLE = Path(__file__).resolve().parents[1] / "data" / "paper_maze_table.json"

#: the maze "table"'s settings: trained on the small maze, tested on both (as the paper)
MAZE_SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {"small": ("MetaMaze-v0", {}), "large": ("MetaMazeLarge-v0", {})}


@dataclasses.dataclass(frozen=True)
class TableLayout:
    """Where a paper table's numbers come from.

    :param env_id: the meta_envs ID its settings run on.
    :param cell_keys: letter in the cell names -> env kwarg (``{"k": "num_arms"}``).
    """

    env_id: str
    cell_keys: dict[str, str]


#: table name -> layout. The MDP kwarg name follows the tabular-MDP family's
#: ``num_episodes`` (episodes per trial), as the bandit's does.
TABLE_LAYOUTS: dict[str, TableLayout] = {
    "bandit": TableLayout("MetaBandit-v0", {"k": "num_arms", "n": "num_episodes"}),
    "mdp": TableLayout("MetaTabularMDP-v0", {"n": "num_episodes"}),
}


@dataclasses.dataclass(frozen=True)
class PaperTable:
    """One of the paper's tables.

    :param name: the table's name (a key of :data:`TABLE_LAYOUTS`).
    :param layout: its env and cell-name letters.
    :param cells: cell name -> {result name: the paper's mean total reward per trial}.
    :param source: where the numbers come from.
    """

    name: str
    layout: TableLayout
    cells: dict[str, dict[str, float]]
    source: str

    @property
    def env_id(self) -> str:
        """The env the table's settings run on."""
        return self.layout.env_id

    def env_kwargs(self, cell: str) -> dict[str, int]:
        """Env kwargs of a cell: ``"k=5,n=10"`` -> ``{"num_arms": 5, "num_episodes": 10}``."""
        if cell not in self.cells:
            raise ValueError(f"table {self.name!r} has no cell {cell!r}; its cells are {list(self.cells)}")
        kwargs = {}
        for part in cell.split(","):
            letter, value = part.split("=")
            kwargs[self.layout.cell_keys[letter]] = int(value)
        return kwargs

    def cell_name(self, env_kwargs: dict[str, Any]) -> str:
        """The cell name of a setting (the inverse of :meth:`env_kwargs`)."""
        return ",".join(f"{letter}={env_kwargs[kwarg]}" for letter, kwarg in self.layout.cell_keys.items())


def default_tables_path(repo_root: Path | None = None) -> Path:
    """``../shared/paper_tables.json`` beside the checkout when present, else the packaged copy.

    :param repo_root: the checkout's root (default: the one this package is in).
    """
    root = Path(__file__).resolve().parents[2] if repo_root is None else Path(repo_root)
    shared = root.parent / "shared" / "paper_tables.json"
    return shared if shared.is_file() else PACKAGED_TABLES


def load_paper_table(name: str, path: str | Path | None = None) -> PaperTable:
    """Read one of the paper's tables.

    :param name: a key of :data:`TABLE_LAYOUTS` (``"bandit"`` or ``"mdp"``).
    :param path: the tables file (default :func:`default_tables_path`).
    """
    if name not in TABLE_LAYOUTS:
        raise ValueError(f"unknown table {name!r}; the paper's tables are {sorted(TABLE_LAYOUTS)}")
    path = default_tables_path() if path is None else Path(path)
    data = json.loads(path.read_text())
    if name not in data:
        raise ValueError(f"{path} has no table {name!r}")
    return PaperTable(name, TABLE_LAYOUTS[name], data[name], f"{data['source']} (read from {path})")


def load_maze_table() -> dict[str, Any]:
    """The paper's maze statistics: ``{"source", env_id: {"successful_length": [ep1, ep2],
    "success_rate", "episode2_no_longer"}}`` (ViZDoom steps: compare shapes only)."""
    return json.loads(PAPER_MAZE_TABLE.read_text())
