"""Obstacle density and the time limit scale with the lap length; the default course keeps
exactly today's 10 obstacles and 60 s."""

from __future__ import annotations

import numpy as np
import pytest

from tinylidar_gym import TinyLidarEnv
from tinylidar_gym.sim.config import CourseConfig, EnvConfig, ObstacleConfig, VehicleConfig
from tinylidar_gym.sim.obstacles import generate_obstacles
from tinylidar_gym.tracks.procedural import default_course, procedural_course

SMALL = {"lidar": {"n_beams": 61}}


def test_default_course_keeps_ten_obstacles_and_identical_layouts():
    course = default_course()
    for seed in range(5):
        by_density = generate_obstacles(
            course, ObstacleConfig(), VehicleConfig(), np.random.default_rng(seed)
        )
        by_count = generate_obstacles(
            course, ObstacleConfig(count=10), VehicleConfig(), np.random.default_rng(seed)
        )
        assert by_density.count == 10
        assert np.array_equal(by_density.boxes, by_count.boxes)


@pytest.mark.parametrize("length_m", [180.0, 300.0])
def test_obstacle_count_follows_the_lap_length(length_m):
    cfg = CourseConfig(kind="procedural", length_m=length_m, curviness=0.2)
    course = procedural_course(cfg, np.random.default_rng(0))
    obstacles = generate_obstacles(
        course, ObstacleConfig(per_100m=5.0), VehicleConfig(), np.random.default_rng(0)
    )
    assert obstacles.count == round(5.0 * course.length_m / 100.0)
    assert ObstacleConfig(count=3).count_for(course.length_m) == 3


def test_time_limit_scales_with_the_lap_length():
    assert EnvConfig().time_limit_s(default_course().length_m) == 60.0
    assert EnvConfig().time_limit_s(450.0) == pytest.approx(300.0)
    env = TinyLidarEnv(
        **SMALL,
        course={"kind": "procedural", "length_m": 180.0, "curviness": 0.2, "seed": 1},
        obstacles={"count": 0},
        max_episode_time_s=0.5,
    )
    env.reset(seed=0)
    lap = env.layout.course.length_m
    assert env.layout.time_limit_s == pytest.approx(0.5 * lap / 90.0)
    steps = 0
    while True:
        *_, terminated, truncated, info = env.step([0.0, -0.5])
        steps += 1
        if terminated or truncated:
            break
    assert info["end_reason"] == "timeout"
    assert info["time_s"] == pytest.approx(np.ceil(0.5 * lap / 90.0 / 0.025 - 1e-9) * 0.025)


def test_each_vector_sub_env_times_out_at_its_own_laps_limit():
    from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv

    venv = TinyLidarVectorEnv(
        2,
        course={"kind": "family", "family": {"length_range_m": [150.0, 300.0]}},
        obstacles={"count": 0},
        max_episode_time_s=0.5,
        **SMALL,
    )
    venv.reset(seed=0)
    limits = [layout.time_limit_s for layout in venv.layouts]
    assert limits[0] != limits[1]
    ended_at = [None, None]
    for _ in range(400):
        *_, terminated, truncated, infos = venv.step(np.tile([0.0, -0.5], (2, 1)))
        for i in np.flatnonzero(terminated | truncated):
            if ended_at[i] is None:
                info = infos["final_info"][i]
                ended_at[i] = (info["end_reason"], info["time_s"])
        if all(ended_at):
            break
    for i in range(2):
        reason, time_s = ended_at[i]
        assert reason == "timeout"
        assert time_s == pytest.approx(np.ceil(limits[i] / 0.025 - 1e-9) * 0.025)
