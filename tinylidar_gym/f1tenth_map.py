"""Race on real F1TENTH track maps: ROS ``map_server`` occupancy grids plus a centerline.

A map is a YAML file (``image``, ``resolution``, ``origin``, ``negate``, ``occupied_thresh``,
``free_thresh``) next to a grayscale image (PNG, PGM, ...). Each pixel becomes one cell of an
occupancy grid; the walls of the :class:`~tinylidar_gym.sim.course.Course` are the exact
boundaries between free and non-free cells (unknown cells and everything outside the image count
as occupied), merged into maximal straight segments and oriented with free space on their left.

The centerline comes from a CSV in the F1TENTH / TUM racetrack-database format
(``# x_m,y_m,w_tr_right_m,w_tr_left_m``), or, for a map that is a simple loop, is derived from
the free space between the outer boundary and the infield.

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

from tinylidar_gym.sim.course import Course

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


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    j, s, e = _runs(above & ~below)  # free above: run towards +x
    up = np.stack([s, j, e, j], axis=1)
    j, s, e = _runs(below & ~above)  # free below: towards -x
    down = np.stack([e, j, s, j], axis=1)
    # Vertical edges on vertex column i (0..W), between cell columns i - 1 (left) and i (right).
    left, right = p[1:-1, :-1].T, p[1:-1, 1:].T
    i, s, e = _runs(right & ~left)  # free on the right (+x): towards -y
    rgt = np.stack([i, e, i, s], axis=1)
    i, s, e = _runs(left & ~right)  # free on the left: towards +y
    lft = np.stack([i, s, i, e], axis=1)
    return np.concatenate([up, down, rgt, lft]).astype(np.int64)


def _chained_edges(free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _grid_to_world(
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
    edges, _ = _chained_edges(np.asarray(free, dtype=bool))
    a = _grid_to_world(edges[:, :2], resolution_m, origin)
    b = _grid_to_world(edges[:, 2:], resolution_m, origin)
    return np.ascontiguousarray(np.concatenate([a, b], axis=1), dtype=np.float64)


# --------------------------------------------------------------------------- centerline CSV


def read_centerline_csv(csv_path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a centerline in the F1TENTH / TUM racetrack-database CSV format.

    The header (``# x_m,y_m,w_tr_right_m,w_tr_left_m``, leading ``#`` optional, spaces allowed,
    extra columns ignored, ``,`` or ``;`` separated) names the columns; a file without a header
    must have exactly these four columns in this order. Rows are in driving order; a last row
    repeating the first is dropped.

    Returns:
        centerline (P, 2) metres, half_width_left (P,) and half_width_right (P,) metres.

    Raises:
        FileNotFoundError: no such file.
        ValueError: wrong columns, non-numeric values, fewer than 3 points, widths <= 0.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"centerline CSV not found: {csv_path}")
    lines = [
        (n, ln.strip())
        for n, ln in enumerate(csv_path.read_text(encoding="utf-8-sig").splitlines(), 1)
    ]
    lines = [(n, ln) for n, ln in lines if ln]
    header: list[str] | None = None
    data: list[tuple[int, str]] = []
    for n, ln in lines:
        if ln.startswith("#"):
            # The header is the comment line before the data that names x_m (else the last one).
            if not data and (header is None or "x_m" not in header or "x_m" in ln.lower()):
                header = [c.strip().lower() for c in _split(ln.lstrip("#"))]
            continue
        if not data and header is None and not _is_number(_split(ln)[0]):
            header = [c.strip().lower() for c in _split(ln)]
            continue
        data.append((n, ln))
    expected = ", ".join(CSV_COLUMNS)
    if header is None or not any(header):
        cols = list(range(4))
        n_cols = 4
        if data and len(_split(data[0][1])) != 4:
            raise ValueError(
                f"{csv_path}: centerline CSV has no header and {len(_split(data[0][1]))} "
                f"columns; expected the 4 columns {expected} (header '# {','.join(CSV_COLUMNS)}')."
            )
    else:
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise ValueError(
                f"{csv_path}: centerline CSV needs columns {expected} (F1TENTH racetrack-database "
                f"format); missing {', '.join(missing)}; found columns {header}."
            )
        cols = [header.index(c) for c in CSV_COLUMNS]
        n_cols = len(header)
    rows = []
    for n, ln in data:
        fields = _split(ln)
        if len(fields) < n_cols:
            raise ValueError(
                f"{csv_path}:{n}: expected {n_cols} columns, got {len(fields)}: {ln!r}"
            )
        try:
            rows.append([float(fields[c]) for c in cols])
        except ValueError as exc:
            raise ValueError(f"{csv_path}:{n}: non-numeric value in {ln!r}") from exc
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{csv_path}: centerline CSV contains non-finite values.")
    if len(arr) > 1 and np.allclose(arr[0, :2], arr[-1, :2]):
        arr = arr[:-1]
    if len(arr) < 3:
        raise ValueError(f"{csv_path}: centerline CSV needs at least 3 points, got {len(arr)}.")
    if np.any(arr[:, 2:] <= 0):
        raise ValueError(f"{csv_path}: w_tr_right_m and w_tr_left_m must be > 0 on every row.")
    return arr[:, :2].copy(), arr[:, 3].copy(), arr[:, 2].copy()


def _split(line: str) -> list[str]:
    sep = ";" if ";" in line and "," not in line else ","
    return [f.strip() for f in line.split(sep)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- geometry helpers


def _resample_closed(values: np.ndarray, spacing_m: float) -> np.ndarray:
    """Resample a closed polyline (P, k) (columns 0, 1 are x, y) at uniform arc length.

    Extra columns are interpolated along; point 0 stays the first point.
    """
    step = np.hypot(*(np.roll(values[:, :2], -1, axis=0) - values[:, :2]).T)
    keep = step > 1e-12
    values, step = values[keep], step[keep]
    arc = np.concatenate([[0.0], np.cumsum(step)])
    n = max(8, int(round(arc[-1] / spacing_m)))
    s = np.arange(n) * (arc[-1] / n)
    closed = np.concatenate([values, values[:1]])
    return np.stack([np.interp(s, arc, closed[:, k]) for k in range(values.shape[1])], axis=1)


def _smooth_closed(points: np.ndarray, window: int) -> np.ndarray:
    """Circular moving average of a closed polyline (P, k) over ``window`` (odd) points."""
    k = min(window // 2, (len(points) - 1) // 2)
    if k < 1:
        return points
    padded = np.concatenate([points[-k:], points, points[:k]])
    kernel = np.ones(2 * k + 1) / (2 * k + 1)
    return np.stack(
        [np.convolve(padded[:, c], kernel, mode="valid") for c in range(points.shape[1])], axis=1
    )


def _nearest_on_loop(q: np.ndarray, loop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest points (Q, 2) and distances (Q,) from points q (Q, 2) to a closed polyline."""
    a = loop
    e = np.roll(loop, -1, axis=0) - a
    ee = np.maximum(np.einsum("ij,ij->i", e, e), 1e-300)
    feet = np.empty_like(q)
    dist = np.empty(len(q))
    chunk = max(1, 2_000_000 // max(len(a), 1))
    for k in range(0, len(q), chunk):
        rel = q[k : k + chunk, None, :] - a[None]  # (c, S, 2)
        u = np.clip(np.einsum("csk,sk->cs", rel, e) / ee, 0.0, 1.0)
        d = rel - u[..., None] * e
        d2 = np.einsum("csk,csk->cs", d, d)
        best = np.argmin(d2, axis=1)
        rows = np.arange(len(best))
        feet[k : k + chunk] = a[best] + u[rows, best, None] * e[best]
        dist[k : k + chunk] = np.sqrt(d2[rows, best])
    return feet, dist


def _signed_area(loop: np.ndarray) -> float:
    x, y = loop[:, 0], loop[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _largest_component(free: np.ndarray) -> np.ndarray:
    """(H, W) bool mask of the largest 4-connected free region (union-find over row runs)."""
    h, w = free.shape
    row, start, end = _runs(free)
    if len(row) == 0:
        return np.zeros_like(free)
    key_start = row * (w + 1) + start
    key_end = row * (w + 1) + end
    # Runs on the next row that overlap run a: b.end > a.start and b.start < a.end.
    lo = np.searchsorted(key_end, (row + 1) * (w + 1) + start, side="right")
    hi = np.searchsorted(key_start, (row + 1) * (w + 1) + end, side="left")
    count = np.maximum(hi - lo, 0)
    a = np.repeat(np.arange(len(row)), count)
    b = lo[a] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    parent = np.arange(len(row))
    while True:  # hook roots onto smaller roots, then compress, until every edge agrees
        pa, pb = parent[a], parent[b]
        diff = pa != pb
        if not diff.any():
            break
        np.minimum.at(parent, np.maximum(pa, pb)[diff], np.minimum(pa, pb)[diff])
        while True:
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                break
            parent = nxt
    sizes = np.bincount(parent, weights=end - start)
    sel = parent == int(np.argmax(sizes))
    marks = np.zeros((h, w + 1), dtype=np.int32)
    np.add.at(marks, (row[sel], start[sel]), 1)
    np.add.at(marks, (row[sel], end[sel]), -1)
    return np.cumsum(marks, axis=1)[:, :w] > 0


def _boundary_loops(free: np.ndarray) -> list[np.ndarray]:
    """Closed boundary loops (n, 2) of ``free`` in vertex indices, free space on the left.

    Each 4-connected free region has one counter-clockwise outer loop and one clockwise loop per
    hole.
    """
    edges, loop_start = _chained_edges(free)
    return [
        edges[a:b, :2].astype(np.float64)
        for a, b in zip(loop_start[:-1], loop_start[1:], strict=True)
    ]


def _derive_centerline(
    grid: OccupancyMap, spacing_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centerline (P, 2), half widths left/right (P,) of a map whose free space is one ring.

    The track is the largest free region; its outer boundary and its largest hole (the infield)
    are the two walls. Starting from the midpoints between the infield and the nearest outer
    points, each point is moved a few times to the midpoint of its nearest points on both walls,
    smoothed and resampled. The loop runs counter-clockwise and starts at the point nearest the
    world origin (where F1TENTH maps usually start the mapping run).
    """
    where = f"{grid.yaml_path}: cannot derive a centerline"
    hint = (
        "provide a centerline CSV (columns x_m, y_m, w_tr_right_m, w_tr_left_m) via "
        f"centerline_csv or as {grid.yaml_path.stem}_centerline.csv next to the YAML."
    )
    region = _largest_component(grid.free)
    if not region.any():
        raise ValueError(f"{where}: the map has no free cells; {hint}")
    loops = _boundary_loops(region)
    areas = np.array([_signed_area(lp) for lp in loops])
    holes = np.argsort(areas)  # most negative (largest hole) first
    if areas[holes[0]] >= 0:
        raise ValueError(f"{where}: the free space has no infield (it is not a loop); {hint}")
    if len(holes) > 1 and areas[holes[1]] < 0 and areas[holes[1]] < 0.25 * areas[holes[0]]:
        raise ValueError(
            f"{where}: the free space surrounds several large islands, so it is not a simple "
            f"loop; {hint}"
        )
    outer = _grid_to_world(loops[int(np.argmax(areas))], grid.resolution_m, grid.origin)
    inner = _grid_to_world(loops[holes[0]][::-1], grid.resolution_m, grid.origin)  # now CCW
    pts = _resample_closed(inner, spacing_m)
    width = float(np.median(_nearest_on_loop(pts, outer)[1]))
    window = max(3, 2 * int(round(width / spacing_m / 2)) + 1)
    center = 0.5 * (pts + _nearest_on_loop(pts, outer)[0])
    for _ in range(4):
        center = _resample_closed(_smooth_closed(center, window), spacing_m)
        center = 0.5 * (_nearest_on_loop(center, outer)[0] + _nearest_on_loop(center, inner)[0])
    center = _resample_closed(_smooth_closed(center, 3), spacing_m)  # light: no shrinking
    if _signed_area(center) <= 0 or not np.all(grid.is_free(center)):
        raise ValueError(f"{where}: the derived centerline leaves the free space; {hint}")
    hl = _nearest_on_loop(center, inner)[1]  # counter-clockwise: the infield is on the left
    hr = _nearest_on_loop(center, outer)[1]
    first = int(np.argmin(np.hypot(center[:, 0], center[:, 1])))
    return np.roll(center, -first, axis=0), np.roll(hl, -first), np.roll(hr, -first)


# --------------------------------------------------------------------------- public loader


def _default_csv(yaml_path: Path) -> Path | None:
    stem = yaml_path.stem
    names = [f"{stem}_centerline.csv"]
    if stem.endswith("_map"):  # f1tenth_racetracks: Spielberg_map.yaml + Spielberg_centerline.csv
        names.append(f"{stem[: -len('_map')]}_centerline.csv")
    for name in names:
        if (yaml_path.parent / name).is_file():
            return yaml_path.parent / name
    return None


def load_f1tenth_map(
    yaml_path: str | Path,
    centerline_csv: str | Path | None = None,
    point_spacing_m: float = 0.5,
    reverse: bool = False,
) -> Course:
    """Load an F1TENTH / ROS ``map_server`` map as a :class:`Course`.

    Args:
        yaml_path: the map YAML (``image`` is relative to it).
        centerline_csv: centerline in the racetrack-database format (``x_m, y_m, w_tr_right_m,
            w_tr_left_m``, rows in driving order). If None, ``<yaml stem>_centerline.csv`` (or,
            for ``X_map.yaml``, ``X_centerline.csv``) next to the YAML is used when it exists;
            otherwise the centerline is derived from a map whose free space is a simple loop
            (driven counter-clockwise, starting nearest the world origin).
        point_spacing_m: centerline resampling distance, metres (> 0).
        reverse: drive the other way round (the start point stays; left and right swap).

    Returns:
        A Course with ``walls`` (S, 4) the occupancy-grid boundaries (free space on the left),
        ``centerline`` (P, 2) resampled every ~``point_spacing_m`` metres starting at the first
        CSV point, ``half_width_left`` / ``half_width_right`` (P,) metres, ``name`` the YAML stem.

    Raises:
        FileNotFoundError: the YAML, its image, or the given CSV does not exist.
        ValueError: invalid YAML values, a malformed CSV, a CSV centerline that mostly misses
            the free space, or (without a CSV) a map that is not a simple loop.
    """
    if not (isinstance(point_spacing_m, int | float) and point_spacing_m > 0):
        raise ValueError(f"point_spacing_m={point_spacing_m!r} is invalid: must be > 0.")
    grid = load_occupancy_map(yaml_path)
    walls = occupancy_walls(grid.free, grid.resolution_m, grid.origin)
    csv_path = Path(centerline_csv) if centerline_csv is not None else _default_csv(grid.yaml_path)
    if csv_path is not None:
        cl, hl, hr = read_centerline_csv(csv_path)
        free_frac = float(np.mean(grid.is_free(cl)))
        if free_frac < 0.5:
            raise ValueError(
                f"{csv_path}: only {free_frac:.0%} of the centerline points lie in free cells of "
                f"{grid.image_path}; does the CSV belong to this map (same origin/resolution)?"
            )
    else:
        cl, hl, hr = _derive_centerline(grid, float(point_spacing_m))
    if reverse:
        cl, hl, hr = (np.roll(v[::-1], 1, axis=0) for v in (cl, hr, hl))
    res = _resample_closed(np.column_stack([cl, hl, hr]), float(point_spacing_m))
    return Course(
        centerline=np.ascontiguousarray(res[:, :2]),
        half_width_left=np.ascontiguousarray(res[:, 2]),
        half_width_right=np.ascontiguousarray(res[:, 3]),
        walls=walls,
        name=grid.name,
    )
