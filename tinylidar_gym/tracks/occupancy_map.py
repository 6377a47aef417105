"""ROS ``map_server`` occupancy grids and their walls as exact line segments.

A map is a YAML file (``image``, ``resolution``, ``origin``, ``negate``, ``occupied_thresh``,
``free_thresh``) next to a grayscale image (PNG, PGM, ...). Each pixel becomes one cell of an
occupancy grid; walls are the exact boundaries between free and non-free cells (unknown cells and
everything outside the image count as occupied), merged into maximal straight segments and
oriented with free space on their left (the course convention the LiDAR relies on).

Coordinates: cell ``(row, col)`` of :attr:`OccupancyMap.occupancy` (row 0 = the image's *bottom*
row, as in ROS ``nav_msgs/OccupancyGrid``) covers ``[col, col + 1] x [row, row + 1]`` times
``resolution`` in the map frame, whose world pose is ``origin = (x, y, yaw)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

FREE = 0
OCCUPIED = 100
UNKNOWN = -1
CSV_COLUMNS = ("x_m", "y_m", "w_tr_right_m", "w_tr_left_m")
"""Required centerline CSV columns (F1TENTH / TUM racetrack-database format)."""


@dataclass(frozen=True)
class OccupancyMap:
    """An occupancy grid read from a ROS ``map_server`` YAML + image.

    Attributes:
        occupancy: (H, W) int8, ROS ``OccupancyGrid`` values: 0 free, 100 occupied, -1 unknown.
            Row 0 is the image's bottom row (lowest y in the map frame).
        resolution_m: cell size, metres per pixel.
        origin: (x_m, y_m, yaw_rad) world pose of the lower-left corner of cell (0, 0).
        yaml_path: the YAML the map was read from.
        image_path: the image the cells were read from.
    """

    occupancy: np.ndarray
    resolution_m: float
    origin: tuple[float, float, float]
    yaml_path: Path
    image_path: Path

    @property
    def free(self) -> np.ndarray:
        """(H, W) bool, True where a cell is free (unknown and occupied are both False)."""
        return self.occupancy == FREE

    @property
    def name(self) -> str:
        """The map's name: the YAML file's stem."""
        return self.yaml_path.stem

    def world_to_cell(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cells containing world points.

        Args:
            xy: (..., 2) world coordinates, metres.

        Returns:
            rows, cols (...,) int64 indices into :attr:`occupancy` (clipped into the grid) and
            inside (...,) bool, False for points outside the image.
        """
        xy = np.asarray(xy, dtype=np.float64)
        ox, oy, yaw = self.origin
        c, s = math.cos(yaw), math.sin(yaw)
        dx = xy[..., 0] - ox
        dy = xy[..., 1] - oy
        u = (c * dx + s * dy) / self.resolution_m
        v = (-s * dx + c * dy) / self.resolution_m
        h, w = self.occupancy.shape
        cols = np.floor(u).astype(np.int64)
        rows = np.floor(v).astype(np.int64)
        inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        return np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1), inside

    def is_free(self, xy: np.ndarray) -> np.ndarray:
        """(...,) bool: is each world point (..., 2) inside a free cell of the image?"""
        rows, cols, inside = self.world_to_cell(xy)
        return inside & (self.occupancy[rows, cols] == FREE)


# --------------------------------------------------------------------------- YAML and image


def _number(yaml_path: Path, key: str, value: object, lo: float, hi: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (lo <= float(value) <= hi) or not math.isfinite(float(value)):
        raise ValueError(
            f"{yaml_path}: '{key}: {value!r}' is invalid: must be a number in [{lo}, {hi}]."
        )
    return float(value)


def load_occupancy_map(yaml_path: str | Path) -> OccupancyMap:
    """Read a ROS ``map_server`` map (YAML + image) into an occupancy grid.

    Pixel value ``v`` (0..255; colour images use the mean of their RGB channels, alpha is
    ignored, 16-bit images are scaled to 0..255) has occupancy probability ``p = (255 - v) / 255``,
    or ``v / 255`` when ``negate: 1``. A cell is occupied if ``p > occupied_thresh``, free if
    ``p < free_thresh``, unknown otherwise (``mode: trinary`` and ``mode: scale`` give the same
    cells here; ``mode: raw`` is not supported). Missing ``negate``/``occupied_thresh``/
    ``free_thresh`` take the ROS defaults 0 / 0.65 / 0.196.

    Raises:
        FileNotFoundError: the YAML or its image does not exist.
        ValueError: a key is missing or invalid, or the image cannot be read.
    """
    yaml_path = Path(yaml_path)
    if not yaml_path.is_file():
        raise FileNotFoundError(f"F1TENTH map YAML not found: {yaml_path}")
    try:
        meta = yaml.safe_load(yaml_path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{yaml_path}: not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{yaml_path}: expected a mapping of map_server keys, got {meta!r}.")
    for key in ("image", "resolution", "origin"):
        if key not in meta:
            raise ValueError(
                f"{yaml_path}: missing required key '{key}' (a map_server YAML needs image, "
                "resolution, origin; negate, occupied_thresh, free_thresh are optional)."
            )
    image = meta["image"]
    if not isinstance(image, str) or not image:
        raise ValueError(f"{yaml_path}: 'image: {image!r}' must be a file name.")
    resolution = _number(yaml_path, "resolution", meta["resolution"], 1e-9, math.inf)
    origin = meta["origin"]
    if (
        not isinstance(origin, list | tuple)
        or len(origin) not in (2, 3)
        or not all(isinstance(o, int | float) and not isinstance(o, bool) for o in origin)
        or not all(math.isfinite(float(o)) for o in origin)
    ):
        raise ValueError(f"{yaml_path}: 'origin: {origin!r}' must be [x, y, yaw] (finite numbers).")
    ox, oy = float(origin[0]), float(origin[1])
    yaw = float(origin[2]) if len(origin) == 3 else 0.0
    negate = meta.get("negate", 0)
    if negate not in (0, 1):  # also accepts True/False
        raise ValueError(f"{yaml_path}: 'negate: {negate!r}' must be 0 or 1.")
    occ_th = _number(yaml_path, "occupied_thresh", meta.get("occupied_thresh", 0.65), 0.0, 1.0)
    free_th = _number(yaml_path, "free_thresh", meta.get("free_thresh", 0.196), 0.0, 1.0)
    if free_th > occ_th:
        raise ValueError(
            f"{yaml_path}: free_thresh ({free_th}) must not exceed occupied_thresh ({occ_th})."
        )
    mode = meta.get("mode", "trinary")
    if mode not in ("trinary", "scale"):
        raise ValueError(
            f"{yaml_path}: 'mode: {mode!r}' is not supported (use 'trinary' or 'scale')."
        )

    image_path = Path(image) if Path(image).is_absolute() else yaml_path.parent / image
    if not image_path.is_file():
        raise FileNotFoundError(
            f"{yaml_path}: map image '{image}' not found (looked for {image_path})."
        )
    value = _read_gray(image_path)
    p = value / 255.0 if negate else (255.0 - value) / 255.0
    grid = np.full(p.shape, UNKNOWN, dtype=np.int8)
    grid[p > occ_th] = OCCUPIED
    grid[p < free_th] = FREE
    return OccupancyMap(
        occupancy=np.ascontiguousarray(grid[::-1]),  # image row 0 is the top (largest y)
        resolution_m=resolution,
        origin=(ox, oy, yaw),
        yaml_path=yaml_path,
        image_path=image_path,
    )


def _read_gray(image_path: Path) -> np.ndarray:
    """(H, W) float64 gray values in [0, 255], image row 0 first (the top of the map)."""
    try:
        with Image.open(image_path) as img:
            img.load()
            if img.mode in ("P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV"):
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            arr = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{image_path}: cannot read the map image: {exc}") from exc
    if arr.ndim == 3:
        n_colour = 1 if arr.shape[2] <= 2 else 3  # L/LA: gray, RGB/RGBA: average, ignore alpha
        arr = arr[..., :n_colour].astype(np.float64).mean(axis=2)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{image_path}: expected a 2D grayscale or colour image, got {arr.shape}.")
    wide = arr.dtype.itemsize > 1 and (arr.dtype.kind == "u" or arr.max(initial=0) > 255)
    arr = arr.astype(np.float64)
    return arr * (255.0 / 65535.0) if wide else arr  # 16-bit images scale to 0..255


# --------------------------------------------------------------------------- walls


def row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of True along axis 1 of a (L, N) bool array: line, start, end (exclusive).

    Runs come sorted by line, then start.
    """
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    line, start = np.nonzero(d == 1)
    _, end = np.nonzero(d == -1)
    return line, start, end


def _grid_edges(free: np.ndarray) -> np.ndarray:
    """(S, 4) int64 merged boundary edges of ``free`` (H, W) in vertex indices ``(col, row)``.

    Free space is on the left of each edge; outside the grid counts as not free.
    """
    h, w = free.shape
    p = np.zeros((h + 2, w + 2), dtype=bool)
    p[1:-1, 1:-1] = free
    # Horizontal edges on vertex row j (0..H), between cell rows j - 1 (below) and j (above).
    below, above = p[:-1, 1:-1], p[1:, 1:-1]
    j, s, e = row_runs(above & ~below)  # free above: run towards +x
    up = np.stack([s, j, e, j], axis=1)
    j, s, e = row_runs(below & ~above)  # free below: towards -x
    down = np.stack([e, j, s, j], axis=1)
    # Vertical edges on vertex column i (0..W), between cell columns i - 1 (left) and i (right).
    left, right = p[1:-1, :-1].T, p[1:-1, 1:].T
    i, s, e = row_runs(right & ~left)  # free on the right (+x): towards -y
    rgt = np.stack([i, e, i, s], axis=1)
    i, s, e = row_runs(left & ~right)  # free on the left: towards +y
    lft = np.stack([i, s, i, e], axis=1)
    return np.concatenate([up, down, rgt, lft]).astype(np.int64)


def chained_edges(free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merged boundary edges of ``free`` ordered along their closed loops.

    Returns:
        edges (S, 4) int64 as in :func:`_grid_edges`, each loop's edges consecutive and in
        traversal order (every edge starts where the previous one of its loop ends), and
        loop_start (L + 1,) offsets of the loops into ``edges``.

    Where two free cells touch only at a corner, the loop turns left, which keeps diagonal
    neighbours in separate loops (free space is 4-connected). Vectorised: pointer jumping finds
    each loop's smallest edge index and each edge's distance from it.
    """
    edges = _grid_edges(free)
    n = len(edges)
    if n == 0:
        return edges, np.zeros(1, dtype=np.int64)
    w = free.shape[1] + 1
    start_key = edges[:, 1] * w + edges[:, 0]
    end_key = edges[:, 3] * w + edges[:, 2]
    order = np.argsort(start_key, kind="stable")
    sorted_keys = start_key[order]
    lo = np.searchsorted(sorted_keys, end_key, side="left")
    n_out = np.searchsorted(sorted_keys, end_key, side="right") - lo
    first = order[lo]
    second = order[np.minimum(lo + 1, n - 1)]
    d = np.sign(edges[:, 2:] - edges[:, :2])
    turns_left = d[:, 0] * d[second, 1] - d[:, 1] * d[second, 0] > 0
    nxt = np.where((n_out == 2) & turns_left, second, first)  # a permutation of the edges
    head = np.arange(n)
    jump = nxt
    while True:  # head = smallest edge index on the loop
        new_head = np.minimum(head, head[jump])
        if np.array_equal(new_head, head):
            break
        head, jump = new_head, jump[jump]
    prev = np.empty(n, dtype=np.int64)
    prev[nxt] = np.arange(n)
    is_head = head == np.arange(n)
    prev[is_head] = np.flatnonzero(is_head)
    dist = (~is_head).astype(np.int64)
    while True:  # list ranking: dist = steps from the loop's head
        if np.array_equal(prev, prev[prev]):
            break
        dist, prev = dist + dist[prev], prev[prev]
    size = np.bincount(head, minlength=n)  # loop lengths, stored at each loop's head
    offset = np.cumsum(size) - size
    ordered = np.empty(n, dtype=np.int64)
    ordered[offset[head] + dist] = np.arange(n)
    return edges[ordered], np.append(offset[is_head], n)


def grid_to_world(
    xy: np.ndarray, resolution_m: float, origin: tuple[float, float, float]
) -> np.ndarray:
    """Map-frame vertex indices (..., 2) -> world metres (..., 2)."""
    ox, oy, yaw = origin
    c, s = math.cos(yaw), math.sin(yaw)
    u = xy[..., 0] * resolution_m
    v = xy[..., 1] * resolution_m
    return np.stack([ox + (c * u - s * v), oy + (s * u + c * v)], axis=-1)


def occupancy_walls(
    free: np.ndarray, resolution_m: float, origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
) -> np.ndarray:
    """Wall segments around the free cells of a grid.

    Args:
        free: (H, W) bool, row 0 = lowest y. Cells outside the grid count as occupied.
        resolution_m: cell size in metres.
        origin: (x_m, y_m, yaw_rad) world pose of the lower-left corner of cell (0, 0).

    Returns:
        (S, 4) float64 rows ``ax, ay, bx, by`` in world metres: the exact boundaries between free
        and non-free cells, collinear neighbouring edges merged into one segment, oriented with
        free space on the left (``cross(b - a, p - a) > 0`` for free ``p`` next to the segment).
        Segments are ordered along their closed boundary loops: each starts where the previous
        one ends, except the first segment of each loop.
    """
    edges, _ = chained_edges(np.asarray(free, dtype=bool))
    a = grid_to_world(edges[:, :2], resolution_m, origin)
    b = grid_to_world(edges[:, 2:], resolution_m, origin)
    return np.ascontiguousarray(np.concatenate([a, b], axis=1), dtype=np.float64)


# --------------------------------------------------------------------------- centerline CSV
