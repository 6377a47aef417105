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

from pathlib import Path

import numpy as np

from tinylidar_gym.sim.course import Course
from tinylidar_gym.tracks.occupancy_map import (  # noqa: F401  (re-exported: the map API in one place)
    CSV_COLUMNS,
    FREE,
    OCCUPIED,
    UNKNOWN,
    OccupancyMap,
    chained_edges,
    grid_to_world,
    load_occupancy_map,
    occupancy_walls,
    row_runs,
)
from tinylidar_gym.tracks.wall_widths import widths_from_walls


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
    row, start, end = row_runs(free)
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
    edges, loop_start = chained_edges(free)
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
    outer = grid_to_world(loops[int(np.argmax(areas))], grid.resolution_m, grid.origin)
    inner = grid_to_world(loops[holes[0]][::-1], grid.resolution_m, grid.origin)  # now CCW
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
        CSV point, ``half_width_left`` / ``half_width_right`` (P,) metres measured from those
        walls (not the CSV's widths, which often overstate the room), ``name`` the YAML stem.

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
    centerline = np.ascontiguousarray(res[:, :2])
    # The occupancy walls are what the car hits: the CSV's widths are often wider.
    hl, hr = widths_from_walls(centerline, walls)
    return Course(
        centerline=centerline,
        half_width_left=hl,
        half_width_right=hr,
        walls=walls,
        name=grid.name,
    )
