"""Pictures of a maze: the agent's pixel view, the whole maze from above, text, GIF files.

Colours are shared by every picture: walls dark, free squares light, the goal green,
the agent a red triangle pointing where it faces. From above, squares visited in
earlier episodes of the trial are light blue, those of the current episode blue, the
start square yellow, and an orange frame marks the agent's view window.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

#: pixels per square in the ``rgb`` observation (a 5 x 5 view is 40 x 40 x 3)
VIEW_TILE = 8
#: pixels per square in ``render()``'s top-down picture
MAP_TILE = 16

FREE = (236, 236, 228)
WALL = (48, 52, 64)
GOAL = (46, 160, 67)
AGENT = (214, 48, 49)
START = (247, 200, 70)
VISITED_EARLIER = (190, 214, 238)
VISITED_NOW = (110, 156, 226)
VIEW_FRAME = (245, 130, 32)
#: text rendering: one character per square
CHARS = {"wall": "#", "free": " ", "visited": ".", "start": "S", "goal": "G", "agent": "^>v<"}


@functools.lru_cache(maxsize=8)
def _arrow(tile: int) -> np.ndarray:
    """A bool mask of a triangle pointing up (north), inset in a ``tile`` x ``tile`` square."""
    y, x = np.mgrid[0:tile, 0:tile] + 0.5
    margin = tile / 8
    height = tile - 2 * margin
    inside_rows = (y >= margin) & (y <= tile - margin)
    return inside_rows & (np.abs(x - tile / 2) <= (y - margin) / height * (tile / 2 - margin))


@functools.lru_cache(maxsize=8)
def _view_tiles(tile: int) -> np.ndarray:
    """Tiles by code ``wall + 2 * goal + 3 * agent``: free, wall, goal, then the same with the agent."""
    tiles = np.array([FREE, WALL, GOAL] * 2, np.uint8)[:, None, None, :].repeat(tile, 1).repeat(tile, 2)
    tiles[3:][:, _arrow(tile)] = AGENT
    return tiles


def egocentric_pixels(codes: np.ndarray, view_size: int, tile: int = VIEW_TILE) -> np.ndarray:
    """Render a batch of egocentric views as pixels (the ``rgb`` observation).

    :param codes: ``(num_envs, view_size**2)`` uint8, per square of the window (row 0
        farthest ahead, the agent in the middle of the last row): 0 free, 1 wall, 2 goal.
    :param view_size: squares per side of the window.
    :param tile: pixels per square.
    :return: ``(num_envs, view_size * tile, view_size * tile, 3)`` uint8, the agent
        drawn at the bottom centre, pointing up (the way it faces).
    """
    num = len(codes)
    codes = codes.copy()
    codes[:, (view_size - 1) * view_size + view_size // 2] += 3
    pixels = _view_tiles(tile).take(codes, axis=0)
    side = view_size * tile
    # (env, window row, window column, pixel row, pixel column) -> image rows, then columns
    pixels = pixels.reshape(num, view_size, view_size, tile, tile, 3).transpose(0, 1, 3, 2, 4, 5)
    return pixels.reshape(num, side, side, 3)


def top_down_image(
    walls: np.ndarray,
    start: Sequence[int],
    goal: Sequence[int],
    agent: tuple[int, int, int],
    visited_earlier: Iterable[tuple[int, int]] = (),
    visited_now: Iterable[tuple[int, int]] = (),
    in_view: Iterable[tuple[int, int]] = (),
    tile: int = MAP_TILE,
) -> np.ndarray:
    """The whole maze from above as an RGB image.

    :param walls: 2-D bool wall grid.
    :param start: start square (row, column).
    :param goal: goal square (row, column).
    :param agent: ``(row, column, heading)`` of the agent.
    :param visited_earlier: squares visited in earlier episodes of the trial.
    :param visited_now: squares visited in the current episode.
    :param in_view: squares in the agent's view window (framed).
    :param tile: pixels per square.
    :return: ``(rows * tile, columns * tile, 3)`` uint8.
    """
    walls = np.asarray(walls, bool)
    colours = np.where(walls[..., None], np.array(WALL, np.uint8), np.array(FREE, np.uint8))
    for squares, colour in ((visited_earlier, VISITED_EARLIER), (visited_now, VISITED_NOW)):
        for row, col in squares:
            colours[row, col] = colour
    colours[start[0], start[1]] = START
    colours[goal[0], goal[1]] = GOAL
    image = colours.repeat(tile, axis=0).repeat(tile, axis=1)
    # thin grid lines make single squares countable
    image[::tile] = (0.85 * image[::tile]).astype(np.uint8)
    image[:, ::tile] = (0.85 * image[:, ::tile]).astype(np.uint8)
    in_view = np.array(list(in_view)).reshape(-1, 2)
    if len(in_view):  # frame the view window (the part of it inside the grid)
        (top, left), (bottom, right) = in_view.min(axis=0) * tile, (in_view.max(axis=0) + 1) * tile - 1
        width = max(1, tile // 8)
        for rows, cols in (
            (np.s_[top : top + width], np.s_[left : right + 1]),
            (np.s_[bottom - width + 1 : bottom + 1], np.s_[left : right + 1]),
            (np.s_[top : bottom + 1], np.s_[left : left + width]),
            (np.s_[top : bottom + 1], np.s_[right - width + 1 : right + 1]),
        ):
            image[rows, cols] = VIEW_FRAME
    row, col, heading = agent
    cell = image[row * tile : (row + 1) * tile, col * tile : (col + 1) * tile]
    cell[np.rot90(_arrow(tile), -heading)] = AGENT
    return image


def maze_text(
    walls: np.ndarray,
    start: Sequence[int],
    goal: Sequence[int],
    agent: tuple[int, int, int],
    visited: Iterable[tuple[int, int]] = (),
) -> str:
    """The maze as text: ``#`` wall, ``.`` visited, ``S`` start, ``G`` goal, ``^>v<`` agent."""
    grid = np.where(np.asarray(walls, bool), CHARS["wall"], CHARS["free"]).astype(object)
    for row, col in visited:
        grid[row, col] = CHARS["visited"]
    grid[start[0], start[1]] = CHARS["start"]
    grid[goal[0], goal[1]] = CHARS["goal"]
    row, col, heading = agent
    grid[row, col] = CHARS["agent"][heading]
    return "\n".join("".join(line) for line in grid)


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 8) -> Path:
    """Write RGB frames (e.g. from ``gymnasium.wrappers.RenderCollection``) to an animated GIF.

    Needs Pillow (installed with matplotlib, in the ``agents`` extra). For MP4 files use
    ``gymnasium.wrappers.RecordVideo``, which needs ``moviepy``.

    :param frames: ``(height, width, 3)`` uint8 images, all of one size.
    :param path: the ``.gif`` file to write.
    :param fps: frames per second (> 0).
    :return: the path written.
    """
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError("save_gif needs Pillow: pip install pillow") from err
    if len(frames) == 0:
        raise ValueError("save_gif got no frames")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    images = [Image.fromarray(np.asarray(frame, np.uint8)) for frame in frames]
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return path
