"""Top-down RGB rendering (course, checkpoints, obstacles, car, scan rays) with Pillow.

Rendering is on demand only (``env.render()``); nothing here runs in the step path. The static
part of the picture is drawn once per layout and reused.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from tinylidar_gym.sim import world as w
from tinylidar_gym.sim.course import Course
from tinylidar_gym.sim.obstacles import Obstacles, box_corners

BACKGROUND = (28, 30, 34)
WALL = (220, 220, 220)
CENTERLINE = (70, 74, 80)
OBSTACLE = (235, 140, 40)
CAR = (60, 160, 255)
RAY = (80, 220, 120)
GATE = (110, 110, 60)
GATE_PASSED = (240, 220, 60)


class TopDownRenderer:
    """Draws one car of a :class:`World` from above into an (H, W, 3) uint8 array."""

    def __init__(self, width_px: int = 640, height_px: int = 640, ray_stride: int = 12) -> None:
        self.width_px = width_px
        self.height_px = height_px
        self.ray_stride = ray_stride
        self._static_for: tuple[Course, Obstacles] | None = None
        self._static: Image.Image | None = None
        self._scale = 1.0
        self._offset = np.zeros(2)

    def _to_px(self, xy: np.ndarray) -> np.ndarray:
        p = (np.asarray(xy, dtype=np.float64) - self._offset) * self._scale
        p[..., 1] = self.height_px - p[..., 1]  # image rows grow downward
        return p

    def _draw_static(self, course: Course, obstacles: Obstacles) -> Image.Image:
        walls = course.walls
        pts = walls.reshape(-1, 2)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        margin = 0.04 * float(max(hi - lo))
        lo, hi = lo - margin, hi + margin
        self._scale = min(self.width_px / (hi[0] - lo[0]), self.height_px / (hi[1] - lo[1]))
        # Centre the drawing.
        extent = np.array([self.width_px, self.height_px]) / self._scale
        self._offset = lo - (extent - (hi - lo)) / 2
        img = Image.new("RGB", (self.width_px, self.height_px), BACKGROUND)
        draw = ImageDraw.Draw(img)
        cl = self._to_px(np.vstack([course.centerline, course.centerline[:1]]))
        draw.line([tuple(p) for p in cl], fill=CENTERLINE, width=1)
        for a, b in zip(self._to_px(walls[:, :2]), self._to_px(walls[:, 2:]), strict=True):
            draw.line([tuple(a), tuple(b)], fill=WALL, width=2)
        for corners in obstacles.corners:
            draw.polygon([tuple(p) for p in self._to_px(corners)], fill=OBSTACLE)
        return img

    def render(self, world: w.World, i: int = 0) -> np.ndarray:
        """(height_px, width_px, 3) uint8 picture of car ``i`` and its world."""
        course, obstacles = world.courses[i], world.obstacles[i]
        if course is None or obstacles is None:
            raise RuntimeError("nothing to render before reset().")
        cached = self._static_for
        if cached is None or cached[0] is not course or cached[1] is not obstacles:
            self._static = self._draw_static(course, obstacles)
            self._static_for = (course, obstacles)
        img = self._static.copy()
        draw = ImageDraw.Draw(img)
        self._draw_gates(draw, course, world.cp_s[i], world.checkpoints_passed(i))
        x, y, yaw = world.pose(i)
        lidar = world.cfg.lidar
        mount = lidar.mount_offset_m
        sx, sy = x + mount * math.cos(yaw), y + mount * math.sin(yaw)
        ranges = world.scans[i]
        angles = yaw + lidar.angle_min_rad + lidar.angle_increment_rad * np.arange(len(ranges))
        sel = slice(0, len(ranges), self.ray_stride)
        ends = np.stack(
            [sx + ranges[sel] * np.cos(angles[sel]), sy + ranges[sel] * np.sin(angles[sel])], 1
        )
        origin = tuple(self._to_px(np.array([sx, sy])))
        for e in self._to_px(ends):
            draw.line([origin, tuple(e)], fill=RAY, width=1)
        vehicle = world.cfg.vehicle
        length, width = vehicle.length_m, vehicle.width_m
        centre_off = length / 2 - vehicle.rear_overhang_m
        cx, cy = x + centre_off * math.cos(yaw), y + centre_off * math.sin(yaw)
        box = np.array([[cx, cy, yaw, length, width]])
        draw.polygon([tuple(p) for p in self._to_px(box_corners(box)[0])], fill=CAR)
        return np.asarray(img, dtype=np.uint8)

    def _draw_gates(
        self, draw: ImageDraw.ImageDraw, course: Course, cp_s: np.ndarray, passed: int
    ) -> None:
        pos, yaw, idx = course.interpolate(cp_s)
        hl = course.half_width_left[idx]
        hr = course.half_width_right[idx]
        normal = np.stack([-np.sin(yaw), np.cos(yaw)], axis=1)
        left = self._to_px(pos + normal * hl[:, None])
        right = self._to_px(pos - normal * hr[:, None])
        for k, (a, b) in enumerate(zip(left, right, strict=True)):
            draw.line([tuple(a), tuple(b)], fill=GATE_PASSED if k < passed else GATE, width=2)
