"""Write a course as an F1TENTH map: occupancy PNG + map_server YAML + centerline CSV.

Lets the family (or any corridor course) be raced as ``CourseConfig(kind='map')``, and builds
map files for tests and benchmarks without downloading anything.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from tinylidar_gym.sim.course import Course
from tinylidar_gym.tracks.corridor_grid import corridor_free_cells

_FREE_PX, _OCCUPIED_PX = 254, 0


def write_f1tenth_map(
    course: Course,
    directory: str | Path,
    name: str,
    resolution_m: float = 0.05,
    csv_width_excess_m: float = 0.0,
) -> Path:
    """Write ``<name>.png``, ``<name>.yaml`` and ``<name>_centerline.csv`` into ``directory``.

    Args:
        course: the course; its corridor (between the offset-curve walls given by the centerline
            and half widths) is rasterised, a cell free when its centre is inside.
        directory: where the files go (created if missing).
        name: file stem.
        resolution_m: cell size.
        csv_width_excess_m: added to the widths written to the CSV, as real maps' CSVs often
            overstate the room between the walls.

    Returns:
        The YAML path (what ``CourseConfig.map_yaml`` takes; the CSV is found next to it).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    free, origin = corridor_free_cells(course, resolution_m)
    pixels = np.where(free, _FREE_PX, _OCCUPIED_PX).astype(np.uint8)[::-1]  # image row 0 = top
    _atomic(directory / f"{name}.png", lambda p: Image.fromarray(pixels).save(p, format="PNG"))
    yaml_text = (
        f"image: {name}.png\nresolution: {resolution_m}\n"
        f"origin: [{origin[0]!r}, {origin[1]!r}, 0.0]\n"
        "negate: 0\noccupied_thresh: 0.65\nfree_thresh: 0.196\n"
    )
    _atomic(directory / f"{name}.yaml", lambda p: Path(p).write_text(yaml_text))
    rows = ["# x_m,y_m,w_tr_right_m,w_tr_left_m"]
    hl = course.half_width_left + csv_width_excess_m
    hr = course.half_width_right + csv_width_excess_m
    rows += [
        f"{x:.6f},{y:.6f},{r:.4f},{left:.4f}"
        for (x, y), r, left in zip(course.centerline, hr, hl, strict=True)
    ]
    csv_text = "\n".join(rows) + "\n"
    _atomic(directory / f"{name}_centerline.csv", lambda p: Path(p).write_text(csv_text))
    return directory / f"{name}.yaml"


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
