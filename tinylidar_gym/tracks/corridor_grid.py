"""Occupancy-grid walls for a corridor course: rasterise it like a map, walls on cell edges.

A course with ``family.walls='grid'`` looks to the LiDAR like an F1TENTH map: its walls are the
staircase boundaries of free cells, not smooth offset curves.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from tinylidar_gym.sim.course import Course
from tinylidar_gym.tracks.occupancy_map import occupancy_walls
from tinylidar_gym.tracks.wall_widths import widths_from_walls


def corridor_free_cells(
    course: Course, resolution_m: float
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Rasterise the corridor of ``course`` (between its offset-curve walls).

    Returns:
        free (H, W) bool, row 0 = lowest y (the ROS map convention), and the map origin
        ``(x_m, y_m, 0)`` of cell (0, 0)'s lower-left corner. A cell is free when its centre
        lies inside the corridor; a border of at least two occupied cells surrounds it.
    """
    cl = course.centerline
    tangent = np.roll(cl, -1, axis=0) - np.roll(cl, 1, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    left = cl + normal * course.half_width_left[:, None]
    right = cl - normal * course.half_width_right[:, None]
    lo = np.minimum(left.min(axis=0), right.min(axis=0)) - 3 * resolution_m
    hi = np.maximum(left.max(axis=0), right.max(axis=0)) + 3 * resolution_m
    width = int(math.ceil((hi[0] - lo[0]) / resolution_m))
    height = int(math.ceil((hi[1] - lo[1]) / resolution_m))
    image = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(image)

    def px(p: np.ndarray) -> list[tuple[float, float]]:
        # Pixel (c, r) covers [c, c + 1) x [r, r + 1) in pixel units; PIL fills a pixel whose
        # centre (c + 0.5, r + 0.5) is inside, so shift by half a pixel.
        q = (p - lo) / resolution_m - 0.5
        return [(float(x), float(y)) for x, y in q]

    nxt = np.roll(np.arange(len(cl)), -1)
    for i, j in zip(range(len(cl)), nxt, strict=True):
        draw.polygon(px(np.array([right[i], right[j], left[j], left[i]])), fill=1)
    free = np.asarray(image, dtype=bool)  # row r = y from lo[1]: already bottom-up
    return free, (float(lo[0]), float(lo[1]), 0.0)


def with_grid_walls(course: Course, resolution_m: float) -> Course:
    """``course`` with its walls replaced by the cell edges of its rasterised corridor; the half
    widths are measured from those walls, as for a map."""
    free, origin = corridor_free_cells(course, resolution_m)
    walls = occupancy_walls(free, resolution_m, origin)
    hl, hr = widths_from_walls(course.centerline, walls)
    return Course(course.centerline, hl, hr, walls, name=course.name)
