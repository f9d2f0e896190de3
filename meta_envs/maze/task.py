"""A maze task (walls, start, heading, goal) and the distribution of random perfect mazes."""

from __future__ import annotations

import dataclasses

import numpy as np

from meta_envs.maze.generation import (
    NUM_HEADINGS,
    distance_map,
    generate_mazes,
    shortest_path_actions,
)
from meta_envs.task import ArrayTask
from meta_envs.validation import check_int


@dataclasses.dataclass(frozen=True, eq=False)
class MazeTask(ArrayTask):
    """One maze: a wall grid, the start square and heading, and the goal square.

    Generated tasks are perfect mazes on a cell lattice (see
    :mod:`meta_envs.maze.generation`), but any grid whose free squares are all connected
    is a valid task, so hand-made layouts (with loops, open rooms) can be run too.

    :param walls: 2-D bool grid, ``True`` = wall, at least 3 x 3, its outer border all walls.
    :param start: ``(row, column)`` of the free square every episode starts on.
    :param goal: ``(row, column)`` of the free goal square (not the start).
    :param start_heading: the heading at the start of every episode:
        0 north, 1 east, 2 south, 3 west.
    """

    walls: np.ndarray
    start: np.ndarray
    goal: np.ndarray
    start_heading: int = 0
    array_fields = {"walls": np.bool_, "start": np.int64, "goal": np.int64}

    def validate(self) -> None:
        walls = self.walls
        if walls.ndim != 2 or min(walls.shape) < 3:
            raise ValueError(f"walls must be a 2-D grid of at least 3 x 3 squares, got shape {walls.shape}")
        border = np.concatenate([walls[0], walls[-1], walls[:, 0], walls[:, -1]])
        if not border.all():
            raise ValueError("the outer border of walls must be all walls (True)")
        for name in ("start", "goal"):
            square = getattr(self, name)
            if square.shape != (2,):
                raise ValueError(f"{name} must be a (row, column) pair, got shape {square.shape}")
            if not (0 <= square[0] < walls.shape[0] and 0 <= square[1] < walls.shape[1]):
                raise ValueError(f"{name} {tuple(square.tolist())} is outside the {walls.shape} grid")
            if walls[square[0], square[1]]:
                raise ValueError(f"{name} {tuple(square.tolist())} is inside a wall")
        if np.array_equal(self.start, self.goal):
            raise ValueError(f"start and goal must differ, both are {tuple(self.start.tolist())}")
        check_int("start_heading", self.start_heading, 0, NUM_HEADINGS - 1)
        unreachable = int(((distance_map(walls, self.start) < 0) & ~walls).sum())
        if unreachable:
            raise ValueError(
                f"the maze is disconnected: {unreachable} free squares cannot be reached from the start"
            )

    @property
    def shortest_path_length(self) -> int:
        """Fewest forward moves from the start to the goal."""
        return int(distance_map(self.walls, self.start)[self.goal[0], self.goal[1]])

    def shortest_path_actions(self) -> list[int]:
        """The fewest actions (moves and turns) from the start, facing ``start_heading``, to the goal."""
        return shortest_path_actions(self.walls, self.start, self.start_heading, self.goal)


@dataclasses.dataclass(frozen=True)
class MazeTaskDistribution:
    """Random perfect mazes (randomised depth-first search) of ``size`` x ``size`` cells.

    Start and goal are two distinct cells drawn uniformly, the start heading is uniform.

    :param size: cells per side (>= 2; the paper: 5 for training, 9 for testing).
    """

    size: int = 5

    def __post_init__(self) -> None:
        check_int("size", self.size, 2)

    @property
    def grid_size(self) -> int:
        """Squares per side of the wall grid: ``2 * size + 1``."""
        return 2 * self.size + 1

    def sample(self, rng: np.random.Generator) -> MazeTask:
        """Draw one task."""
        return self.sample_many(1, rng)[0]

    def sample_many(self, num: int, rng: np.random.Generator) -> list[MazeTask]:
        """Draw ``num`` tasks with one batched generation."""
        batch = generate_mazes(num, self.size, rng)
        return [
            MazeTask(batch.walls[i], batch.start[i], batch.goal[i], int(batch.start_heading[i]))
            for i in range(num)
        ]
