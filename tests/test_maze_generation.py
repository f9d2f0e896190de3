"""Maze generation (batched randomised DFS), the task distribution and the shortest-path helpers."""

import numpy as np
import pytest

from meta_envs.maze import (
    FORWARD,
    TURN_LEFT,
    TURN_RIGHT,
    MazeTaskDistribution,
    distance_map,
    generate_mazes,
    shortest_path_actions,
    shortest_path_length,
)
from meta_envs.maze.generation import HEADING_STEPS, NEXT_HEADING


def assert_perfect_lattice_mazes(batch, size):
    """Every maze: lattice structure, a spanning tree of the cells, start and goal distinct cells."""
    walls = batch.walls
    side = 2 * size + 1
    assert walls.shape == (len(walls), side, side) and walls.dtype == bool
    assert walls[:, 0].all() and walls[:, -1].all() and walls[:, :, 0].all() and walls[:, :, -1].all()
    assert walls[:, ::2, ::2].all(), "squares at even-even coordinates must be walls"
    assert not walls[:, 1::2, 1::2].any(), "every cell must be free"
    free = ~walls
    squares = free.sum(axis=(1, 2))
    vertical = (free[:, 1:] & free[:, :-1]).sum(axis=(1, 2))
    adjacent = vertical + (free[:, :, 1:] & free[:, :, :-1]).sum(axis=(1, 2))
    # a connected graph with one edge fewer than nodes is a tree: perfect maze
    assert (adjacent == squares - 1).all()
    assert (squares == size * size + size * size - 1).all()
    assert (batch.start % 2 == 1).all() and (batch.goal % 2 == 1).all()
    assert (batch.start != batch.goal).any(axis=1).all()
    assert set(np.unique(batch.start_heading)) <= {0, 1, 2, 3}
    for i in range(len(walls)):
        dist = distance_map(walls[i], batch.start[i])
        assert (dist[free[i]] >= 0).all(), "every free square must be reachable"
        assert dist[tuple(batch.goal[i])] == batch.shortest_path_length[i]


@pytest.mark.parametrize("size", [2, 3, 5, 9])
def test_every_generated_maze_is_perfect_and_the_goal_reachable(size):
    for seed in range(4):
        batch = generate_mazes(300, size, np.random.default_rng(seed))
        assert_perfect_lattice_mazes(batch, size)


@pytest.mark.parametrize("size", [3, 5, 9])
def test_optimal_episode_length_is_the_bfs_over_position_and_heading(size):
    batch = generate_mazes(60, size, np.random.default_rng(7))
    for i in range(60):
        actions = shortest_path_actions(batch.walls[i], batch.start[i], batch.start_heading[i], batch.goal[i])
        assert len(actions) == batch.optimal_episode_length[i]
        assert actions.count(FORWARD) == batch.shortest_path_length[i]


def test_generation_is_reproducible_and_varied():
    a = generate_mazes(200, 5, np.random.default_rng(11))
    b = generate_mazes(200, 5, np.random.default_rng(11))
    for field in a.__dataclass_fields__:
        assert np.array_equal(getattr(a, field), getattr(b, field))
    distinct = {maze.tobytes() for maze in a.walls}
    assert len(distinct) == 200
    c = generate_mazes(200, 5, np.random.default_rng(12))
    assert not np.array_equal(a.walls, c.walls)


def test_start_goal_and_heading_are_uniform():
    batch = generate_mazes(20000, 3, np.random.default_rng(0))
    cells = (batch.start[:, 0] // 2) * 3 + batch.start[:, 1] // 2
    goals = (batch.goal[:, 0] // 2) * 3 + batch.goal[:, 1] // 2
    for counts, k in ((np.bincount(cells, minlength=9), 9), (np.bincount(goals, minlength=9), 9),
                      (np.bincount(batch.start_heading, minlength=4), 4)):
        expected = len(cells) / k
        chi2 = ((counts - expected) ** 2 / expected).sum()
        assert chi2 < 30, counts  # far beyond the 99.9% quantile of chi2(8) = 26.1


def test_passage_choice_is_uniform_among_unvisited_neighbours():
    # On 2 x 2 cells every perfect maze is the square minus one of its 4 passages; the DFS
    # picks each of them with probability 1/4 whatever the start.
    batch = generate_mazes(8000, 2, np.random.default_rng(3))
    walls = batch.walls
    passages = np.stack([walls[:, 1, 2], walls[:, 2, 1], walls[:, 2, 3], walls[:, 3, 2]], axis=1)
    assert (passages.sum(axis=1) == 1).all()
    shares = passages.mean(axis=0)
    assert np.allclose(shares, 0.25, atol=0.02), shares


def test_distribution_samples_valid_tasks():
    dist = MazeTaskDistribution(size=4)
    tasks = dist.sample_many(5, np.random.default_rng(0))
    assert len({t for t in tasks}) == 5
    assert all(t.walls.shape == (9, 9) for t in tasks)
    assert dist.sample(np.random.default_rng(1)) == dist.sample(np.random.default_rng(1))
    with pytest.raises(ValueError, match="size must be an integer >= 2"):
        MazeTaskDistribution(size=1)


@pytest.mark.parametrize(("num", "size", "match"), [(0, 5, "num must be"), (3, 1, "size must be")])
def test_generate_mazes_rejects_bad_arguments(num, size, match):
    with pytest.raises(ValueError, match=match):
        generate_mazes(num, size, np.random.default_rng(0))


# A room with a pillar: two equally short ways round it, and a walled-off pocket.
ROOM = np.array(
    [
        [1, 1, 1, 1, 1, 1, 1],
        [1, 0, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 1, 0, 1],
        [1, 0, 0, 0, 0, 0, 1],
        [1, 1, 1, 1, 1, 1, 1],
        [1, 0, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1, 1],
    ],
    bool,
)


def test_distance_map_on_a_grid_with_a_loop():
    dist = distance_map(ROOM, (1, 1))
    assert dist[1, 5] == 4 and dist[3, 5] == 6 and dist[3, 1] == 2 and dist[3, 3] == 4
    assert dist[5, 1] == -1, "the walled-off pocket is unreachable"
    assert (dist[ROOM] == -1).all()
    assert shortest_path_length(ROOM, (1, 1), (3, 5)) == 6
    assert shortest_path_length(ROOM, (1, 1), (5, 1)) == -1


def execute(walls, start, heading, actions):
    """Follow actions with the documented rules; returns the final (row, col) and heading."""
    row, col = start
    for action in actions:
        if action == FORWARD:
            d_row, d_col = HEADING_STEPS[heading]
            if not walls[row + d_row, col + d_col]:
                row, col = row + d_row, col + d_col
        else:
            heading = int(NEXT_HEADING[action, heading])
    return (row, col), heading


def test_shortest_path_actions_reach_the_goal_with_fewest_actions():
    # facing north at (3, 1): turn right, walk 4 east -> 5 actions to (3, 5)
    actions = shortest_path_actions(ROOM, (3, 1), 0, (3, 5))
    assert actions == [TURN_RIGHT] + [FORWARD] * 4
    # facing south at (1, 1): both ways round the pillar take 6 moves, but going south
    # first needs one turn (left, to face east) and going east first needs three
    actions = shortest_path_actions(ROOM, (1, 1), 2, (3, 5))
    assert actions == [FORWARD, FORWARD, TURN_LEFT] + [FORWARD] * 4
    assert execute(ROOM, (1, 1), 2, actions) == ((3, 5), 1)
    # facing west at (1, 1): one turn to face south or two to face east
    assert shortest_path_actions(ROOM, (1, 1), 3, (3, 1)) == [TURN_LEFT, FORWARD, FORWARD]
    with pytest.raises(ValueError, match="cannot be reached"):
        shortest_path_actions(ROOM, (1, 1), 0, (5, 1))
