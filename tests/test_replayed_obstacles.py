"""Replayed obstacle layouts: malformed arrays and impossible layouts are refused, not regrouped."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tinylidar_gym import TinyLidarEnv
from tinylidar_gym.data.episode import read_config
from tinylidar_gym.sim.config import EnvConfig, config_to_dict
from tinylidar_gym.sim.obstacles import ObstacleError, boxes_overlap

SMALL = {"lidar": {"n_beams": 61}}


def _pose_ahead(env: TinyLidarEnv, dist_m: float) -> tuple[float, float, float]:
    x, y, yaw = env.layout.course.start_pose()
    return x + dist_m * np.cos(yaw), y + dist_m * np.sin(yaw), yaw


@pytest.mark.parametrize("shape", [(5, 2), (1, 10), (10,), (2, 5, 1)])
def test_reset_refuses_boxes_that_are_not_k_by_5(shape):
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0)
    boxes = np.ones(shape)
    with pytest.raises(ObstacleError, match=r"shape \(K, 5\)"):
        env.reset(seed=0, options={"obstacles": boxes})


def test_reset_refuses_non_finite_boxes():
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0)
    x, y, yaw = _pose_ahead(env, 4.0)
    with pytest.raises(ObstacleError, match="non-finite"):
        env.reset(seed=0, options={"obstacles": [[x, y, np.nan, 0.5, 0.5]]})


def test_reset_refuses_a_box_that_encloses_the_car_at_the_start():
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0)
    x, y, yaw = _pose_ahead(env, 0.2)
    with pytest.raises(ObstacleError, match="overlaps the car on the start line"):
        env.reset(seed=0, options={"obstacles": [[x, y, yaw, 1.5, 1.0]]})


def test_reset_refuses_a_box_outside_the_corridor():
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0)
    x, y, yaw = _pose_ahead(env, 8.0)
    off = 5.0  # metres to the left of the centerline: beyond the ~1.3 m half width
    box = [x - off * np.sin(yaw), y + off * np.cos(yaw), yaw, 0.5, 0.5]
    with pytest.raises(ObstacleError, match="outside the corridor"):
        env.reset(seed=0, options={"obstacles": [box]})


def test_generated_layouts_replay_unchanged():
    env = TinyLidarEnv(**SMALL)
    for seed in range(20):
        env.reset(seed=seed)
        boxes = env.layout.obstacles.boxes.copy()
        env.reset(seed=seed, options={"obstacles": boxes})
        assert np.array_equal(env.layout.obstacles.boxes, boxes)


def test_boxes_overlap_separating_axes():
    box = np.array([0.0, 0.0, 0.0, 2.0, 1.0])
    boxes = np.array(
        [
            [0.0, 0.0, 0.0, 4.0, 3.0],  # encloses it
            [1.4, 0.0, 0.5, 1.0, 1.0],  # a rotated box overlapping the front
            [3.0, 0.0, 0.0, 1.0, 1.0],  # clear ahead
            [1.6, 1.1, np.pi / 4, 1.0, 1.0],  # diagonal gap: only the rotated axis separates
        ]
    )
    assert boxes_overlap(boxes, box).tolist() == [True, True, False, False]


@pytest.mark.parametrize("boxes", [np.ones((5, 2)).tolist(), np.ones((1, 10)).tolist()])
def test_read_config_refuses_boxes_that_are_not_k_by_5(tmp_path, boxes):
    doc = {
        "seed": 0,
        "split": "train",
        "env": config_to_dict(EnvConfig()),
        "layout": {"obstacles": boxes},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match=r"shape \(K, 5\)"):
        read_config(tmp_path)
