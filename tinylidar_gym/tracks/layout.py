"""Episode layouts: the course and the obstacles an episode runs on, drawn from its seed.

Kept out of ``sim/`` because map courses are read from files. Deterministic course builds are
cached, so a reset costs only the obstacle draw.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tinylidar_gym.sim.config import CourseConfig, EnvConfig, VehicleConfig
from tinylidar_gym.sim.course import Course
from tinylidar_gym.sim.obstacles import Obstacles, check_obstacles_fit, generate_obstacles
from tinylidar_gym.tracks.family import family_course
from tinylidar_gym.tracks.procedural import default_course, procedural_course

SEEDED_KINDS = ("procedural", "family")
"""Course kinds drawn from a seed: the episode's, unless ``CourseConfig.seed`` fixes one."""


@dataclass(frozen=True)
class Layout:
    """What one episode runs on. ``noise_seed`` seeds the LiDAR noise generator."""

    course: Course
    obstacles: Obstacles
    course_seed: int | None
    obstacle_seed: int
    noise_seed: int
    time_limit_s: float
    """Episode time limit on this course (``EnvConfig.time_limit_s`` of its lap length)."""


@lru_cache(maxsize=32)
def _cached_course(cfg: CourseConfig, vehicle: VehicleConfig, course_seed: int | None) -> Course:
    if cfg.kind == "default":
        return default_course(cfg, vehicle)
    if cfg.kind == "map":
        from tinylidar_gym.tracks.f1tenth_map import load_f1tenth_map

        return load_f1tenth_map(
            cfg.map_yaml,  # type: ignore[arg-type]
            centerline_csv=cfg.centerline_csv,
            point_spacing_m=cfg.point_spacing_m,
            reverse=cfg.reverse,
        )
    if cfg.kind == "family":
        return family_course(cfg, np.random.default_rng(course_seed), vehicle)
    return procedural_course(cfg, np.random.default_rng(course_seed), vehicle)


def build_course(cfg: EnvConfig, course_seed: int | None) -> Course:
    """The course for ``cfg`` (``course_seed`` is used by procedural and family courses only)."""
    c = cfg.course
    if c.kind in SEEDED_KINDS and c.seed is not None:
        course_seed = c.seed
    if c.kind not in SEEDED_KINDS:
        course_seed = None
    return _cached_course(c, cfg.vehicle, course_seed)


def draw_layout(cfg: EnvConfig, rng: np.random.Generator) -> Layout:
    """Draw an episode layout from ``rng`` (the env's ``np_random``).

    Three independent child seeds are always drawn, so the obstacle layout of a seed does not
    depend on the course kind and the noise stream does not depend on either.
    """
    course_seed, obstacle_seed, noise_seed = (int(s) for s in rng.integers(0, 2**63, size=3))
    course = build_course(cfg, course_seed)
    obstacles = generate_obstacles(
        course, cfg.obstacles, cfg.vehicle, np.random.default_rng(obstacle_seed)
    )
    used_course_seed = course_seed if cfg.course.kind in SEEDED_KINDS else None
    if cfg.course.kind in SEEDED_KINDS and cfg.course.seed is not None:
        used_course_seed = cfg.course.seed
    time_limit_s = cfg.time_limit_s(course.length_m)
    return Layout(course, obstacles, used_course_seed, obstacle_seed, noise_seed, time_limit_s)


def with_replayed_obstacles(layout: Layout, boxes: object, vehicle: VehicleConfig) -> Layout:
    """``layout`` with its obstacles replaced by given boxes (a recorded layout), checked like a
    generated layout: (K, 5) finite rows, inside the corridor, clear of the car at the start.

    Raises:
        ObstacleError: the boxes are malformed or do not fit the course (the message says which).
    """
    obstacles = Obstacles.from_boxes(boxes)
    check_obstacles_fit(layout.course, obstacles, vehicle)
    return dataclasses.replace(layout, obstacles=obstacles)
