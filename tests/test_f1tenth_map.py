"""F1TENTH / ROS map_server maps: occupancy walls, centerline CSV, derived centerline, errors."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinylidar_gym.sim.config import LidarConfig
from tinylidar_gym.sim.lidar import scan_from_pose
from tinylidar_gym.tracks.f1tenth_map import (
    FREE,
    OCCUPIED,
    UNKNOWN,
    load_f1tenth_map,
    load_occupancy_map,
    occupancy_walls,
    read_centerline_csv,
)

RES = 0.05
OX, OY = -3.0, -2.0
H, W = 60, 80  # pixels; the map is 4 m x 3 m
FREE_PX, OCC_PX, UNKNOWN_PX = 254, 0, 205


def ring_image() -> np.ndarray:
    """(H, W) uint8: a rectangular ring track, image row 0 at the top.

    Free: rows 2..57, cols 2..77, minus the infield rows 20..39, cols 20..59 (occupied). The two
    outermost pixels are unknown (map_server gray 205).
    """
    img = np.full((H, W), FREE_PX, dtype=np.uint8)
    img[:2], img[-2:], img[:, :2], img[:, -2:] = UNKNOWN_PX, UNKNOWN_PX, UNKNOWN_PX, UNKNOWN_PX
    img[20:40, 20:60] = OCC_PX
    return img


def write_map(
    tmp_path: Path,
    img: np.ndarray | Image.Image,
    name: str = "ring",
    origin: tuple[float, ...] = (OX, OY, 0.0),
    negate: int = 0,
    occupied_thresh: float = 0.65,
    free_thresh: float = 0.196,
    ext: str = "png",
) -> Path:
    image = img if isinstance(img, Image.Image) else Image.fromarray(img)
    image.save(tmp_path / f"{name}.{ext}")
    yaml_path = tmp_path / f"{name}.yaml"
    yaml_path.write_text(
        f"image: {name}.{ext}\nresolution: {RES}\norigin: [{', '.join(map(str, origin))}]\n"
        f"negate: {negate}\noccupied_thresh: {occupied_thresh}\nfree_thresh: {free_thresh}\n"
    )
    return yaml_path


def write_csv(path: Path, points: np.ndarray, w_right: float, w_left: float) -> Path:
    lines = ["# x_m, y_m, w_tr_right_m, w_tr_left_m"]
    lines += [f"{x:.6f}, {y:.6f}, {w_right}, {w_left}" for x, y in points]
    path.write_text("\n".join(lines) + "\n")
    return path


def ring_midline(step: float = 0.1) -> np.ndarray:
    """Counter-clockwise rectangle through the middle of each corridor of the ring."""
    corners = np.array([[-2.45, -1.45], [0.45, -1.45], [0.45, 0.45], [-2.45, 0.45]])
    pts = []
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        n = int(round(np.hypot(*(b - a)) / step))
        pts.append(a + (b - a) * np.arange(n)[:, None] / n)
    return np.concatenate(pts)


def pixel_is_free(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Independent lookup: is world point (N, 2) on a free pixel of the yaw-0 test image?"""
    col = np.floor((xy[:, 0] - OX) / RES).astype(int)
    row = img.shape[0] - 1 - np.floor((xy[:, 1] - OY) / RES).astype(int)
    inside = (col >= 0) & (col < img.shape[1]) & (row >= 0) & (row < img.shape[0])
    out = np.zeros(len(xy), dtype=bool)
    out[inside] = img[row[inside], col[inside]] == FREE_PX
    return out


def sort_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def signed_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def reference_scan(x: float, y: float, angles: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """Brute force: nearest intersection of each ray with any segment (both faces)."""
    dx, dy = np.cos(angles)[:, None], np.sin(angles)[:, None]
    ex, ey = (walls[:, 2] - walls[:, 0])[None], (walls[:, 3] - walls[:, 1])[None]
    wx, wy = (walls[:, 0] - x)[None], (walls[:, 1] - y)[None]
    den = dx * ey - dy * ex
    safe = np.where(np.abs(den) < 1e-15, np.nan, den)
    t = (wx * ey - wy * ex) / safe
    u = (wx * dy - wy * dx) / safe
    hit = (t >= 0) & (u >= -1e-12) & (u <= 1 + 1e-12)
    return np.where(hit, t, np.inf).min(axis=1)


# --------------------------------------------------------------------------- walls


def test_ring_walls_are_exact_pixel_boundaries(tmp_path: Path) -> None:
    course = load_f1tenth_map(write_map(tmp_path, ring_image()), point_spacing_m=0.1)
    x = lambda col: OX + col * RES  # noqa: E731
    y = lambda row_from_bottom: OY + row_from_bottom * RES  # noqa: E731
    # Outer boundary (free inside, counter-clockwise) and infield (free outside, clockwise).
    xo0, xo1, yo0, yo1 = x(2), x(78), y(2), y(58)
    xi0, xi1, yi0, yi1 = x(20), x(60), y(H - 40), y(H - 20)
    expected = np.array(
        [
            [xo0, yo0, xo1, yo0],
            [xo1, yo0, xo1, yo1],
            [xo1, yo1, xo0, yo1],
            [xo0, yo1, xo0, yo0],
            [xi1, yi0, xi0, yi0],
            [xi0, yi0, xi0, yi1],
            [xi0, yi1, xi1, yi1],
            [xi1, yi1, xi1, yi0],
        ]
    )
    assert course.walls.shape == (8, 4)
    assert course.walls.dtype == np.float64
    np.testing.assert_allclose(sort_rows(course.walls), sort_rows(expected), rtol=0, atol=1e-9)
    assert course.name == "ring"


@pytest.mark.parametrize("seed", range(5))
def test_walls_free_on_left_and_fully_merged(seed: int) -> None:
    rng = np.random.default_rng(seed)
    free = rng.random((30, 40)) < 0.6
    free[10:20, 5:35] = True  # a long straight stretch
    origin = (1.25, -0.5, 0.0)
    walls = occupancy_walls(free, RES, origin)
    a, b = walls[:, :2], walls[:, 2:]
    e = b - a
    length = np.hypot(e[:, 0], e[:, 1])
    unit = e / length[:, None]
    normal_left = np.stack([-unit[:, 1], unit[:, 0]], axis=1)
    mid = 0.5 * (a + b)

    def cell_free(p: np.ndarray) -> np.ndarray:
        col = np.floor((p[:, 0] - origin[0]) / RES).astype(int)
        row = np.floor((p[:, 1] - origin[1]) / RES).astype(int)
        inside = (col >= 0) & (col < 40) & (row >= 0) & (row < 30)
        out = np.zeros(len(p), dtype=bool)
        out[inside] = free[row[inside], col[inside]]
        return out

    # Every unit edge along each segment has a free cell on its left and a wall on its right.
    for t in (0.5 * RES, 0.5):
        p = a + unit * np.minimum(t, length - 0.5 * RES)[:, None]
        assert cell_free(p + 0.25 * RES * normal_left).all()
        assert not cell_free(p - 0.25 * RES * normal_left).any()
    assert cell_free(mid + 0.25 * RES * normal_left).all()
    # Axis-aligned, whole cells, and the total length is the number of free/non-free cell edges.
    assert np.all((np.abs(e[:, 0]) < 1e-12) | (np.abs(e[:, 1]) < 1e-12))
    pad = np.pad(free, 1)
    n_edges = np.sum(pad[1:] != pad[:-1]) + np.sum(pad[:, 1:] != pad[:, :-1])
    assert math.isclose(length.sum(), n_edges * RES, rel_tol=1e-12)
    # Chained along closed loops: each segment starts where the previous ends, except where a
    # new loop starts, and each loop ends where it started.
    chained = np.all(a[1:] == b[:-1], axis=1)
    loop_start = np.concatenate([[0], np.flatnonzero(~chained) + 1, [len(walls)]])
    for lo, hi in zip(loop_start[:-1], loop_start[1:], strict=True):
        assert hi - lo >= 4 and np.array_equal(b[hi - 1], a[lo])
    # Fully merged: no segment continues straight into another one.
    starts = {(round(float(px), 9), round(float(py), 9)): k for k, (px, py) in enumerate(a)}
    for k in range(len(walls)):
        nxt = starts.get((round(float(b[k, 0]), 9), round(float(b[k, 1]), 9)))
        if nxt is not None:
            assert abs(float(np.dot(unit[k], unit[nxt]))) < 1e-9


def test_ring_free_side_left_from_free_points(tmp_path: Path) -> None:
    course = load_f1tenth_map(write_map(tmp_path, ring_image()))
    free_points = np.array([[-1.487, -1.493], [0.4, 0.1], [-2.5, -0.3], [-1.0, 0.5]])
    assert pixel_is_free(ring_image(), free_points).all()
    a, b = course.walls[:, :2], course.walls[:, 2:]
    for p in free_points:
        # The point faces the walls that bound its corridor (projection inside the segment).
        e = b - a
        u = np.einsum("ij,ij->i", p - a, e) / np.einsum("ij,ij->i", e, e)
        facing = (u > 0) & (u < 1)
        cross = e[:, 0] * (p - a)[:, 1] - e[:, 1] * (p - a)[:, 0]
        dist = np.abs(cross) / np.hypot(e[:, 0], e[:, 1])
        nearest = facing & (dist <= dist[facing].min() + 1e-12)
        assert np.all(cross[nearest] > 0)


def test_lidar_scan_matches_analytic_distances(tmp_path: Path) -> None:
    course = load_f1tenth_map(write_map(tmp_path, ring_image()))
    x, y = -1.487, -1.493  # bottom corridor, below the infield
    cfg = LidarConfig(n_beams=4, fov_deg=360.0, max_range_m=30.0, mount_offset_m=0.0)
    ranges = scan_from_pose(x, y, 0.0, course.walls, cfg)
    # Beams at -180, -90, 0, +90 degrees: left outer wall, bottom wall, right wall, infield.
    expected = [x - (OX + 2 * RES), y - (OY + 2 * RES), (OX + 78 * RES) - x, -1.0 - y]
    np.testing.assert_allclose(ranges, expected, rtol=0, atol=1e-9)

    cfg = LidarConfig(n_beams=181, fov_deg=270.0, max_range_m=30.0)
    for pose in [(x, y, 0.3), (0.4, 0.1, 2.0), (-2.5, -0.3, -1.2), (-1.0, 0.51, math.pi)]:
        angles = pose[2] + cfg.angle_min_rad + np.arange(cfg.n_beams) * cfg.angle_increment_rad
        ref = reference_scan(pose[0], pose[1], angles, course.walls)
        got = scan_from_pose(*pose, course.walls, cfg)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


def test_negate_gives_the_same_map(tmp_path: Path) -> None:
    plain = load_f1tenth_map(write_map(tmp_path, ring_image(), name="plain"))
    inverted = load_f1tenth_map(write_map(tmp_path, 255 - ring_image(), name="neg", negate=1))
    np.testing.assert_array_equal(plain.walls, inverted.walls)


def test_thresholds_classify_cells_like_map_server(tmp_path: Path) -> None:
    values = np.array([[254, 230, 205, 200, 128, 100, 80, 0]], dtype=np.uint8)
    grid = load_occupancy_map(write_map(tmp_path, values, name="a"))
    # p = (255 - v) / 255 = .004 .098 .196078 .216 .498 .608 .686 1.0 vs free .196, occupied .65
    expected = [FREE, FREE, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, OCCUPIED, OCCUPIED]
    np.testing.assert_array_equal(grid.occupancy[0], expected)
    grid = load_occupancy_map(
        write_map(tmp_path, values, name="b", occupied_thresh=0.55, free_thresh=0.5)
    )
    expected = [FREE, FREE, FREE, FREE, FREE, OCCUPIED, OCCUPIED, OCCUPIED]
    np.testing.assert_array_equal(grid.occupancy[0], expected)
    grid = load_occupancy_map(write_map(tmp_path, values, name="c", negate=1))
    expected = [OCCUPIED, OCCUPIED, OCCUPIED, OCCUPIED, UNKNOWN, UNKNOWN, UNKNOWN, FREE]
    np.testing.assert_array_equal(grid.occupancy[0], expected)
    # Unknown counts as a wall: one 2-cell room (4 walls) vs one 5-cell room at free_thresh .5.
    assert occupancy_walls(load_occupancy_map(tmp_path / "a.yaml").free, RES).shape == (4, 4)
    walls = occupancy_walls(load_occupancy_map(tmp_path / "b.yaml").free, RES)
    assert walls.shape == (4, 4)
    assert walls[:, [0, 2]].min() == 0.0 and walls[:, [0, 2]].max() == pytest.approx(5 * RES)


def test_image_row_zero_is_the_top(tmp_path: Path) -> None:
    img = np.zeros((4, 3), dtype=np.uint8)
    img[0, 1] = FREE_PX  # top row, middle column
    grid = load_occupancy_map(write_map(tmp_path, img, origin=(10.0, 20.0, 0.0)))
    assert grid.free.sum() == 1 and grid.free[3, 1]
    walls = occupancy_walls(grid.free, grid.resolution_m, grid.origin)
    np.testing.assert_allclose(walls[:, [0, 2]].min(), 10.0 + RES, atol=1e-12)
    np.testing.assert_allclose(walls[:, [1, 3]].min(), 20.0 + 3 * RES, atol=1e-12)
    np.testing.assert_allclose(walls[:, [1, 3]].max(), 20.0 + 4 * RES, atol=1e-12)


@pytest.mark.parametrize("kind", ["pgm", "rgb", "rgba", "la", "16bit"])
def test_image_formats(tmp_path: Path, kind: str) -> None:
    img = ring_image()
    ref = load_f1tenth_map(write_map(tmp_path, img, name="ref")).walls
    if kind == "pgm":
        path = write_map(tmp_path, img, name="m", ext="pgm")
    elif kind == "16bit":
        path = write_map(tmp_path, img.astype(np.uint16) * 257, name="m")
    else:
        rgb = np.stack([img, img, img], axis=2)
        alpha = np.full(img.shape + (1,), 255, dtype=np.uint8)
        alpha[:10] = 0  # alpha is ignored, as map_server does in trinary mode
        arr = {
            "rgb": rgb,
            "rgba": np.concatenate([rgb, alpha], axis=2),
            "la": np.concatenate([img[..., None], alpha], axis=2),
        }[kind]
        path = write_map(tmp_path, Image.fromarray(arr, mode=kind.upper()), name="m")
    np.testing.assert_array_equal(load_f1tenth_map(path).walls, ref)


def test_origin_yaw_rotates_the_map(tmp_path: Path) -> None:
    yaw = 0.3
    flat = load_f1tenth_map(write_map(tmp_path, ring_image(), name="flat"))
    turned = load_f1tenth_map(write_map(tmp_path, ring_image(), name="yaw", origin=(OX, OY, yaw)))
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s], [s, c]])
    o = np.array([OX, OY])
    expected = np.concatenate(
        [(flat.walls[:, :2] - o) @ rot.T + o, (flat.walls[:, 2:] - o) @ rot.T + o], axis=1
    )
    np.testing.assert_allclose(turned.walls, expected, rtol=0, atol=1e-9)
    grid = load_occupancy_map(tmp_path / "yaw.yaml")
    assert grid.is_free(turned.centerline).all()
    back = (turned.centerline - o) @ rot + o  # into the unrotated map
    assert pixel_is_free(ring_image(), back).all()


# --------------------------------------------------------------------------- centerline


def test_centerline_csv(tmp_path: Path) -> None:
    path = write_map(tmp_path, ring_image())
    mid = ring_midline()
    csv = write_csv(tmp_path / "line.csv", mid, w_right=0.4, w_left=0.5)
    course = load_f1tenth_map(path, centerline_csv=csv, point_spacing_m=0.2)
    assert course.n_points == 48  # 9.6 m at 0.2 m
    np.testing.assert_allclose(course.centerline[0], mid[0], atol=1e-12)
    step = np.hypot(*np.diff(course.centerline, axis=0).T)
    assert np.all(step < 0.2 + 1e-9) and np.sum(step < 0.2 - 1e-9) == 2  # chords at 2 corners
    # The widths are the walls' (0.45 m either side), not the CSV's 0.5 / 0.4: the left is
    # further only at the infield's corners, where the nearest wall point is diagonal.
    np.testing.assert_allclose(course.half_width_right, 0.45, atol=1e-9)
    assert course.half_width_left.min() == pytest.approx(0.45)
    assert np.all(course.half_width_left <= 0.45 * math.sqrt(2) + 1e-9)
    assert signed_area(course.centerline) > 0  # the CSV order: counter-clockwise
    assert course.walls.shape == (8, 4)
    assert course.length_m == pytest.approx(9.6, abs=0.15)  # two corners cut by chords
    x, y, yaw = course.start_pose()
    # Point 0 is the bottom-left corner; the start heading is a central difference across it.
    assert (x, y) == pytest.approx(tuple(mid[0])) and yaw == pytest.approx(-math.pi / 4)

    rev = load_f1tenth_map(path, centerline_csv=csv, point_spacing_m=0.2, reverse=True)
    np.testing.assert_allclose(rev.centerline[0], mid[0], atol=1e-12)
    assert signed_area(rev.centerline) < 0
    np.testing.assert_allclose(rev.half_width_left, 0.45, atol=1e-9)
    assert rev.half_width_right.min() == pytest.approx(0.45)
    assert rev.start_pose()[2] == pytest.approx(3 * math.pi / 4)
    np.testing.assert_allclose(sorted(rev.centerline[:, 0]), sorted(course.centerline[:, 0]))


def test_centerline_csv_found_next_to_yaml(tmp_path: Path) -> None:
    mid = ring_midline()
    path = write_map(tmp_path, ring_image(), name="track")
    write_csv(tmp_path / "track_centerline.csv", np.roll(mid, -7, axis=0), 0.45, 0.45)
    course = load_f1tenth_map(path)
    np.testing.assert_allclose(course.centerline[0], mid[7], atol=1e-12)
    assert course.half_width_left.min() == pytest.approx(0.45)
    # f1tenth_racetracks naming: Spielberg_map.yaml + Spielberg_centerline.csv
    path = write_map(tmp_path, ring_image(), name="Oval_map")
    write_csv(tmp_path / "Oval_centerline.csv", np.roll(mid, -3, axis=0), 0.45, 0.45)
    np.testing.assert_allclose(load_f1tenth_map(path).centerline[0], mid[3], atol=1e-12)
    assert load_f1tenth_map(path).name == "Oval_map"


def test_read_centerline_csv_variants(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "# generated by hand\n# x_m,y_m,w_tr_right_m,w_tr_left_m,z_m\n"
        "0,0,1,2,9\n1,0,1,2,9\n1,1,1.5,2,9\n0,1,1,2.5,9\n0,0,1,2,9\n"
    )
    cl, hl, hr = read_centerline_csv(path)
    np.testing.assert_array_equal(cl, [[0, 0], [1, 0], [1, 1], [0, 1]])  # repeated end dropped
    np.testing.assert_array_equal(hl, [2, 2, 2, 2.5])
    np.testing.assert_array_equal(hr, [1, 1, 1.5, 1])
    path.write_text("w_tr_left_m; y_m; x_m; w_tr_right_m\n2; 0; 0; 1\n2; 0; 1; 1\n2; 1; 1; 1\n")
    cl, hl, hr = read_centerline_csv(path)
    np.testing.assert_array_equal(cl, [[0, 0], [1, 0], [1, 1]])
    path.write_text("0,0,1,2\n1,0,1,2\n1,1,1,2\n")  # no header: the standard column order
    np.testing.assert_array_equal(read_centerline_csv(path)[2], [1, 1, 1])


def test_derived_centerline_is_midway(tmp_path: Path) -> None:
    img = ring_image()
    course = load_f1tenth_map(write_map(tmp_path, img), point_spacing_m=0.1)
    cl = course.centerline
    assert pixel_is_free(img, cl).all()
    assert signed_area(cl) > 0  # counter-clockwise by default
    step = np.hypot(*np.diff(cl, axis=0).T)
    assert np.all(np.abs(step - 0.1) < 0.02)
    # Straight parts (away from the corners) run down the middle of each 0.9 m corridor.
    bottom = (cl[:, 1] < -1.0) & (cl[:, 0] > -1.6) & (cl[:, 0] < -0.4)
    top = (cl[:, 1] > 0.0) & (cl[:, 0] > -1.6) & (cl[:, 0] < -0.4)
    right = (cl[:, 0] > 0.0) & (cl[:, 1] > -0.8) & (cl[:, 1] < -0.2)
    assert bottom.sum() >= 8 and top.sum() >= 8 and right.sum() >= 3
    np.testing.assert_allclose(cl[bottom, 1], -1.45, atol=0.02)
    np.testing.assert_allclose(cl[top, 1], 0.45, atol=0.02)
    np.testing.assert_allclose(cl[right, 0], 0.45, atol=0.02)
    straight = bottom | top | right
    np.testing.assert_allclose(course.half_width_left[straight], 0.45, atol=0.02)
    np.testing.assert_allclose(course.half_width_right[straight], 0.45, atol=0.02)
    assert np.all(course.half_width_left > 0.3) and np.all(course.half_width_right > 0.3)
    assert np.all(course.half_width_left + course.half_width_right < 1.35)
    # Starts nearest the world origin, which here is the infield's top-right corner.
    assert np.hypot(*cl[0]) == pytest.approx(np.hypot(cl[:, 0], cl[:, 1]).min())

    rev = load_f1tenth_map(tmp_path / "ring.yaml", point_spacing_m=0.1, reverse=True)
    assert signed_area(rev.centerline) < 0
    np.testing.assert_allclose(rev.centerline[0], cl[0], atol=1e-9)
    assert rev.half_width_left.mean() == pytest.approx(course.half_width_right.mean(), abs=0.01)
    assert rev.half_width_right.mean() == pytest.approx(course.half_width_left.mean(), abs=0.01)


def test_derived_centerline_on_a_large_map_is_fast(tmp_path: Path) -> None:
    n = 1000
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(xx - 499.5, yy - 499.5) * RES
    img = np.where((r > 12.5) & (r < 22.5), FREE_PX, OCC_PX).astype(np.uint8)
    img[700:703, 100:105] = FREE_PX  # a stray free speckle outside the track
    path = write_map(tmp_path, img, name="annulus", origin=(-25.0, -25.0, 0.0))
    t0 = time.perf_counter()
    course = load_f1tenth_map(path)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"loading a 1000x1000 map took {elapsed:.2f} s"
    radius = np.hypot(course.centerline[:, 0], course.centerline[:, 1])
    np.testing.assert_allclose(radius, 17.5, atol=0.1)
    np.testing.assert_allclose(course.half_width_left, 5.0, atol=0.1)
    np.testing.assert_allclose(course.half_width_right, 5.0, atol=0.1)
    assert course.n_points == pytest.approx(2 * math.pi * 17.5 / 0.5, abs=2)
    # Staircase walls: far fewer segments than unit pixel edges.
    pad = np.pad(img == FREE_PX, 1)
    n_edges = np.sum(pad[1:] != pad[:-1]) + np.sum(pad[:, 1:] != pad[:, :-1])
    assert len(course.walls) < 0.7 * n_edges


def test_map_that_is_not_a_loop_needs_a_csv(tmp_path: Path) -> None:
    room = np.full((40, 40), OCC_PX, dtype=np.uint8)
    room[5:35, 5:35] = FREE_PX
    with pytest.raises(ValueError, match="not a loop.*centerline CSV"):
        load_f1tenth_map(write_map(tmp_path, room, name="room"))
    two = room.copy()
    two[10:30, 10:18] = OCC_PX
    two[10:30, 22:30] = OCC_PX
    with pytest.raises(ValueError, match="not a simple loop.*two_centerline.csv"):
        load_f1tenth_map(write_map(tmp_path, two, name="two"))
    empty = np.zeros((10, 10), dtype=np.uint8)
    with pytest.raises(ValueError, match="no free cells"):
        load_f1tenth_map(write_map(tmp_path, empty, name="empty"))


# --------------------------------------------------------------------------- errors


def test_missing_image_names_the_file(tmp_path: Path) -> None:
    path = write_map(tmp_path, ring_image())
    path.write_text(path.read_text().replace("image: ring.png", "image: nowhere.png"))
    with pytest.raises(FileNotFoundError, match=r"ring\.yaml.*nowhere\.png"):
        load_f1tenth_map(path)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_f1tenth_map(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("resolution: 0.05\n", "", "missing required key 'resolution'"),
        ("resolution: 0.05", "resolution: -1", "resolution"),
        ("origin: [-3.0, -2.0, 0.0]", "origin: 5", "origin"),
        ("negate: 0", "negate: 2", "negate"),
        ("free_thresh: 0.196", "free_thresh: 0.9", "free_thresh"),
        ("negate: 0", "mode: raw", "mode"),
    ],
)
def test_bad_yaml_values(tmp_path: Path, old: str, new: str, match: str) -> None:
    path = write_map(tmp_path, ring_image())
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(ValueError, match=match) as info:
        load_f1tenth_map(path)
    assert "ring.yaml" in str(info.value)


def test_bad_image_file(tmp_path: Path) -> None:
    path = write_map(tmp_path, ring_image())
    (tmp_path / "ring.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"ring\.png.*cannot read"):
        load_f1tenth_map(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("# x,y,wr,wl\n0,0,1,1\n1,0,1,1\n1,1,1,1\n", "missing x_m, y_m, w_tr_right_m"),
        ("# x_m,y_m\n0,0\n1,0\n1,1\n", "missing w_tr_right_m, w_tr_left_m"),
        ("0,0\n1,0\n1,1\n", "no header and 2 columns"),
        ("# x_m,y_m,w_tr_right_m,w_tr_left_m\n0,0,1,1\n1,a,1,1\n1,1,1,1\n", r":3: non-numeric"),
        ("# x_m,y_m,w_tr_right_m,w_tr_left_m\n0,0,1,1\n1,0,1\n1,1,1,1\n", r":3: expected 4"),
        ("# x_m,y_m,w_tr_right_m,w_tr_left_m\n0,0,1,1\n1,0,1,1\n", "at least 3 points"),
        ("# x_m,y_m,w_tr_right_m,w_tr_left_m\n0,0,1,1\n1,0,0,1\n1,1,1,1\n", "must be > 0"),
    ],
)
def test_bad_centerline_csv(tmp_path: Path, content: str, match: str) -> None:
    path = write_map(tmp_path, ring_image())
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        load_f1tenth_map(path, centerline_csv=csv)
    assert "bad.csv" in str(info.value)


def test_centerline_csv_from_another_map(tmp_path: Path) -> None:
    path = write_map(tmp_path, ring_image())
    csv = write_csv(tmp_path / "far.csv", ring_midline() + 100.0, 0.45, 0.45)
    with pytest.raises(ValueError, match="free cells"):
        load_f1tenth_map(path, centerline_csv=csv)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_f1tenth_map(path, centerline_csv=tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="point_spacing_m"):
        load_f1tenth_map(path, point_spacing_m=0.0)
