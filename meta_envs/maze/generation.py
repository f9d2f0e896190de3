"""Perfect-maze generation, batched over many mazes, and shortest paths in a maze.

Layout
------
A maze of ``size`` x ``size`` *cells* is a wall grid of ``(2 * size + 1)`` squares a side
(``True`` = wall): cell ``(r, c)`` is the square ``(2r + 1, 2c + 1)``, the square between
two neighbouring cells is open when a passage joins them, the squares at even-even
coordinates and the outer border are always walls. The agent moves one square at a time,
so walking from a cell to the next takes two moves.

Headings are ``0`` north (row - 1), ``1`` east (column + 1), ``2`` south, ``3`` west.
Actions are :data:`FORWARD`, :data:`TURN_LEFT` and :data:`TURN_RIGHT`.

Generation
----------
:func:`generate_mazes` draws ``num`` independent mazes at once with the randomised
depth-first search ("recursive backtracker"), run in lockstep over the batch: a DFS over
``n`` cells makes exactly ``n - 1`` pushes and at most ``n - 1`` pops before its last
push, so ``2 (n - 1)`` vectorised iterations finish every maze of the batch. Each maze
is an exact draw (the batch only shares the numpy calls). The DFS is rooted at the start
cell, so the tree depth of the goal is its distance from the start; the generator
returns the shortest-path length and the fewest actions (moves plus turns) for free.

Shortest paths
--------------
:func:`distance_map`, :func:`shortest_path_length` and :func:`shortest_path_actions`
are breadth-first searches on any wall grid (perfect or not); the baselines' oracle and
the environment's ``info`` use them for tasks that were not generated here.
:func:`goal_action_table` answers the same question from *every* pose at once, batched
over many mazes: the optimal-action labels of the learning-history datasets
(:mod:`agents.in_context`) look up every step of every trial in it.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

from meta_envs.validation import check_int

FORWARD, TURN_LEFT, TURN_RIGHT = 0, 1, 2
NUM_ACTIONS = 3
NUM_HEADINGS = 4
#: ``(d_row, d_col)`` of one step forward, per heading (north, east, south, west)
HEADING_STEPS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)], np.int64)
#: fewest turn actions from heading ``a`` (row) to heading ``b`` (column)
TURN_COST = np.array([[min((b - a) % 4, (a - b) % 4) for b in range(4)] for a in range(4)], np.int64)
#: the heading after each action (row) from each heading (column)
NEXT_HEADING = np.array([[h, (h - 1) % 4, (h + 1) % 4] for h in range(4)], np.int64).T


# Choosing among the unvisited neighbours: a cell's neighbourhood is the 4-bit pattern
# sum(visited[h] << h); _CHOICE[pattern * 12 + r] is its (r mod k)-th unvisited heading.
_PATTERN_WEIGHTS = np.array([1, 2, 4, 8], np.uint8)
_ALL_VISITED = 15
_CHOICE_SPAN = 12
_CHOICE = np.array(
    [
        [h for h in range(NUM_HEADINGS) if not pattern >> h & 1][r % max(1, 4 - bin(pattern).count("1"))]
        if pattern != _ALL_VISITED else 0
        for pattern in range(16)
        for r in range(_CHOICE_SPAN)
    ],
    np.int64,
)


@dataclasses.dataclass(frozen=True)
class MazeBatch:
    """``num`` generated mazes with their start, heading, goal and path statistics.

    :param walls: ``(num, 2 * size + 1, 2 * size + 1)`` bool, ``True`` = wall.
    :param start: ``(num, 2)`` square (row, column) of the start.
    :param start_heading: ``(num,)`` heading at the start of every episode.
    :param goal: ``(num, 2)`` square (row, column) of the goal.
    :param shortest_path_length: ``(num,)`` fewest forward moves from start to goal.
    :param optimal_episode_length: ``(num,)`` fewest actions (moves and turns) from the
        start, facing ``start_heading``, to the goal.
    """

    walls: np.ndarray
    start: np.ndarray
    start_heading: np.ndarray
    goal: np.ndarray
    shortest_path_length: np.ndarray
    optimal_episode_length: np.ndarray


def generate_mazes(num: int, size: int, rng: np.random.Generator) -> MazeBatch:
    """Draw ``num`` random perfect mazes of ``size`` x ``size`` cells (see the module docstring).

    Start and goal are two distinct cells drawn uniformly; the start heading is uniform.

    :param num: how many mazes (>= 1).
    :param size: cells per side (>= 2).
    :param rng: the generator every draw comes from.
    :return: the mazes as a :class:`MazeBatch`.
    """
    check_int("num", num, 1)
    check_int("size", size, 2)
    side = 2 * size + 1
    # Cells live on a lattice of (size + 2) rows of `side` columns per maze, with a border
    # of sentinel cells (and unused columns) marked visited; every maze's wall grid has
    # twice as many squares, `side` wide. Then, for the global lattice index g of a cell,
    # its neighbours are g + steps[h], its square is 2g - side - 1 and the wall square
    # towards neighbour g + d is 2g + d - side - 1: no lookup tables in the loop.
    lattice = (size + 2) * side
    steps = HEADING_STEPS[:, 0] * side + HEADING_STEPS[:, 1]
    row, col = np.divmod(np.arange(size * size), size)
    cells = (row + 1) * side + col + 1
    start_cell = rng.integers(0, size * size, num)
    goal_cell = rng.integers(0, size * size - 1, num)
    goal_cell += goal_cell >= start_cell
    start_heading = rng.integers(0, NUM_HEADINGS, num)

    base = np.arange(num, dtype=np.int64) * lattice
    start = base + cells[start_cell]
    visited = np.ones((num, lattice), bool)
    visited[:, cells] = False
    visited = visited.reshape(-1)
    walls = np.ones((num, 2 * lattice), bool)
    walls[:, 2 * cells - side - 1] = False
    walls = walls.reshape(-1)
    # Writes that a maze must not make this iteration go to a spare last element instead.
    parent = np.zeros(num * lattice + 1, np.int64)
    entry_heading = np.zeros(num * lattice + 1, np.int64)
    spare_cell, spare_square = num * lattice, walls.size
    walls = np.append(walls, True)
    visited[start] = True
    parent[start] = start
    entry_heading[start] = start_heading

    cur = start
    for _ in range(2 * (size * size - 1)):
        visited_around = visited.take(steps[:, None] + cur)  # (4, num): one row per heading
        pattern = _PATTERN_WEIGHTS @ visited_around.view(np.uint8)
        # A uniform random unvisited neighbour: with k of them, r uniform on 0..11 picks
        # the (r mod k)-th (12 is a multiple of 1, 2, 3 and 4, so that is exactly uniform).
        heading = _CHOICE.take(pattern * _CHOICE_SPAN + rng.integers(0, _CHOICE_SPAN, num))
        pushes = pattern != _ALL_VISITED
        step = steps.take(heading)
        new = cur + step
        visited[new] = True  # harmless where nothing is pushed: `new` is visited already
        target = np.where(pushes, new, spare_cell)
        parent[target] = cur
        entry_heading[target] = heading
        passage = 2 * cur + step - (side + 1)
        walls[np.where(pushes, passage, spare_square)] = False
        cur = np.where(pushes, new, parent.take(cur))

    # The DFS tree is rooted at the start: walk from the goal up to it, counting moves
    # between cells and the turns between consecutive moves (the first from the start heading).
    node = base + cells[goal_cell]
    path_cells = np.zeros(num, np.int64)
    turns = np.zeros(num, np.int64)
    turn_cost = TURN_COST.reshape(-1)
    while True:
        active = node != start
        if not active.any():
            break
        up = parent.take(node)
        turns += turn_cost.take(entry_heading.take(up) * NUM_HEADINGS + entry_heading.take(node)) * active
        path_cells += active
        node = np.where(active, up, node)

    return MazeBatch(
        walls=walls[:-1].reshape(num, 2 * (size + 2), side)[:, :side].copy(),
        start=np.stack(np.divmod(start_cell, size), axis=1) * 2 + 1,
        start_heading=start_heading,
        goal=np.stack(np.divmod(goal_cell, size), axis=1) * 2 + 1,
        shortest_path_length=2 * path_cells,
        optimal_episode_length=2 * path_cells + turns,
    )


def _free_squares(walls: np.ndarray) -> tuple[np.ndarray, int]:
    """The grid's free squares, flattened, inside an extra wall border (so no move leaves it)."""
    padded = np.pad(np.asarray(walls, bool), 1, constant_values=True)
    return ~padded.reshape(-1), padded.shape[1]


def distance_map(walls: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """Fewest moves from ``source`` to every square (breadth-first search).

    :param walls: 2-D bool wall grid.
    :param source: a free square (row, column).
    :return: int64 array of the grid's shape; ``-1`` for walls and unreachable squares.
    """
    free, width = _free_squares(walls)
    dist = np.full(free.size, -1, np.int64)
    first = (int(source[0]) + 1) * width + int(source[1]) + 1
    dist[first] = 0
    queue = deque([first])
    steps = (-width, 1, width, -1)
    while queue:
        square = queue.popleft()
        for step in steps:
            nxt = square + step
            if free[nxt] and dist[nxt] < 0:
                dist[nxt] = dist[square] + 1
                queue.append(nxt)
    return dist.reshape(-1, width)[1:-1, 1:-1].copy()


def shortest_path_length(walls: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> int:
    """Fewest forward moves from ``start`` to ``goal``; ``-1`` if the goal is unreachable."""
    return int(distance_map(walls, start)[int(goal[0]), int(goal[1])])


def shortest_path_actions(
    walls: np.ndarray, start: tuple[int, int], start_heading: int, goal: tuple[int, int]
) -> list[int]:
    """The fewest actions that take an agent at ``start`` facing ``start_heading`` to ``goal``.

    A breadth-first search over (square, heading) with this module's actions, so turns
    count. The map-knowing oracle plays this sequence in every episode.

    :raises ValueError: if the goal cannot be reached.
    """
    free, width = _free_squares(walls)
    goal_square = (int(goal[0]) + 1) * width + int(goal[1]) + 1
    first = ((int(start[0]) + 1) * width + int(start[1]) + 1) * NUM_HEADINGS + int(start_heading)
    came_from: dict[int, tuple[int, int]] = {first: (-1, -1)}
    queue = deque([first])
    moves = [int(d_row) * width + int(d_col) for d_row, d_col in HEADING_STEPS]
    while queue:
        state = queue.popleft()
        square, heading = divmod(state, NUM_HEADINGS)
        if square == goal_square:
            actions = []
            while came_from[state][0] >= 0:
                state, action = came_from[state]
                actions.append(action)
            return actions[::-1]
        ahead = square + moves[heading]
        successors = (
            (FORWARD, ahead * NUM_HEADINGS + heading if free[ahead] else -1),
            (TURN_LEFT, square * NUM_HEADINGS + int(NEXT_HEADING[TURN_LEFT, heading])),
            (TURN_RIGHT, square * NUM_HEADINGS + int(NEXT_HEADING[TURN_RIGHT, heading])),
        )
        for action, nxt in successors:
            if nxt >= 0 and nxt not in came_from:
                came_from[nxt] = (state, action)
                queue.append(nxt)
    raise ValueError(f"the goal {tuple(goal)} cannot be reached from the start {tuple(start)}")


#: mazes per block of :func:`goal_action_table` (a block's arrays stay in the CPU caches)
_TABLE_BLOCK = 64


def goal_action_table(walls: np.ndarray, goals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fewest actions to the goal, and the first action of such a path, from every pose of many mazes.

    A pose is a free square and a heading. The distances solve the same shortest-path
    problem as :func:`shortest_path_actions` (moves and turns cost one action each; a
    forward move into a wall is never part of a shortest path) for every pose at once, by
    value iteration over blocks of mazes: a few numpy operations per unit of distance,
    rather than a Python search per pose.

    :param walls: ``(num, rows, cols)`` bool wall grids, ``True`` = wall, each with an
        all-wall outer border (as every :class:`~meta_envs.maze.MazeTask`).
    :param goals: ``(num, 2)`` (row, column) of each maze's goal, a free square.
    :return: ``(distances, actions)``, both int64 of shape ``(num, rows, cols, 4)`` indexed
        by (maze, row, column, heading): the fewest actions from that pose to the goal, and
        the first action of a fewest-action path (the lowest action index among ties:
        :data:`FORWARD` before :data:`TURN_LEFT` before :data:`TURN_RIGHT`). Both are ``-1``
        on walls and on squares from which the goal cannot be reached; on the goal itself
        the distance is 0 and the action ``-1`` (the episode is over there).
    :raises ValueError: for mismatched shapes, a grid without its wall border, or a goal
        outside the grid or inside a wall.
    """
    walls = np.asarray(walls, bool)
    goals = np.asarray(goals, np.int64)
    if walls.ndim != 3 or min(walls.shape[1:]) < 3:
        raise ValueError(f"walls must have shape (num, rows, cols) with rows, cols >= 3, got {walls.shape}")
    num, rows, cols = walls.shape
    if goals.shape != (num, 2):
        raise ValueError(f"goals must have shape ({num}, 2), one (row, column) per maze, got {goals.shape}")
    border = np.concatenate([walls[:, 0], walls[:, -1], walls[:, :, 0], walls[:, :, -1]], axis=1)
    if not border.all():
        raise ValueError("every wall grid needs an all-wall outer border (a move must never leave the grid)")
    inside = (goals[:, 0] >= 0) & (goals[:, 0] < rows) & (goals[:, 1] >= 0) & (goals[:, 1] < cols)
    if not inside.all() or walls[np.arange(num), goals[:, 0], goals[:, 1]].any():
        raise ValueError("every goal must be a free square inside its grid")
    squares = rows * cols
    # poses are flat indices square * 4 + heading; the pose each action leads to:
    square, heading = np.divmod(np.arange(squares * NUM_HEADINGS), NUM_HEADINGS)
    # (borders are walls, so the square ahead of a free square stays inside the grid)
    ahead = np.clip(square + (HEADING_STEPS[:, 0] * cols + HEADING_STEPS[:, 1])[heading], 0, squares - 1)
    forward_pose = ahead * NUM_HEADINGS + heading
    left_pose = square * NUM_HEADINGS + NEXT_HEADING[TURN_LEFT][heading]
    right_pose = square * NUM_HEADINGS + NEXT_HEADING[TURN_RIGHT][heading]
    free = np.repeat(~walls.reshape(num, squares), NUM_HEADINGS, axis=1)
    goal_poses = (goals[:, 0] * cols + goals[:, 1])[:, None] * NUM_HEADINGS + np.arange(NUM_HEADINGS)
    unreached = np.int32(1 << 30)  # int32: half the memory traffic of int64, ample range
    distances = np.empty((num, squares * NUM_HEADINGS), np.int64)
    actions = np.empty((num, squares * NUM_HEADINGS), np.int64)
    for begin in range(0, num, _TABLE_BLOCK):
        block = slice(begin, begin + _TABLE_BLOCK)
        open_ = free[block]
        can_move = open_ & np.take(open_, forward_pose, axis=1)
        size = len(open_)
        d = np.full(open_.shape, unreached, np.int32)
        d[np.arange(size)[:, None], goal_poses[block]] = 0
        while True:
            via = np.stack([np.take(d, pose, axis=1) for pose in (forward_pose, left_pose, right_pose)])
            via += 1
            via[0][~can_move] = unreached
            updated = np.minimum(d, via.min(axis=0))
            updated[~open_] = unreached
            if np.array_equal(updated, d):
                break
            d = updated
        reached = d < unreached
        # `via` was computed from the final distances: its argmin is a first optimal action
        actions[block] = np.where(reached, via.argmin(axis=0), -1)
        distances[block] = np.where(reached, d, -1)
    actions[np.arange(num)[:, None], goal_poses] = -1
    shape = (num, rows, cols, NUM_HEADINGS)
    return distances.reshape(shape), actions.reshape(shape)
