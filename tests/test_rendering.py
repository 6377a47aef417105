"""Tests of top-down rgb_array rendering."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from tinylidar_gym.envs import rendering
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv

SMALL = {"lidar": {"n_beams": 61}}


def colour_mask(img: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.all(img == np.array(rgb, dtype=np.uint8), axis=-1)


def count(img: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int(colour_mask(img, rgb).sum())


def centroid_px(img: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    rows, cols = np.nonzero(colour_mask(img, rgb))
    return np.array([cols.mean(), rows.mean()])


@pytest.fixture
def env():
    e = TinyLidarEnv(render_mode="rgb_array", **SMALL)
    yield e
    e.close()


def test_render_returns_rgb_uint8_with_scene(env):
    env.reset(seed=0)
    img = env.render()
    assert isinstance(img, np.ndarray)
    assert img.shape == (640, 640, 3)
    assert img.dtype == np.uint8
    # Walls, obstacles, the car and scan rays are all drawn in their colours.
    assert count(img, rendering.WALL) > 500
    assert count(img, rendering.OBSTACLE) > 10 * 5  # ten boxes, each several pixels
    assert count(img, rendering.CAR) > 5
    assert count(img, rendering.RAY) > 20
    # Most of the picture is background.
    assert count(img, rendering.BACKGROUND) > img.shape[0] * img.shape[1] // 2


def test_render_without_obstacles_has_no_obstacle_pixels():
    e = TinyLidarEnv(render_mode="rgb_array", lidar={"n_beams": 61}, obstacles={"count": 0})
    e.reset(seed=0)
    img = e.render()
    assert count(img, rendering.OBSTACLE) == 0
    assert count(img, rendering.CAR) > 5


def test_render_without_render_mode_returns_none():
    e = TinyLidarEnv(**SMALL)
    e.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert e.render() is None


def test_render_via_gym_make():
    e = gym.make("TinyLidar-v0", render_mode="rgb_array")
    e.reset(seed=1)
    img = e.render()
    assert img.shape == (640, 640, 3) and img.dtype == np.uint8
    assert count(img, rendering.CAR) > 5
    assert e.metadata["render_fps"] == 40
    e.close()


def test_render_before_reset_raises(env):
    with pytest.raises(RuntimeError, match="reset"):
        env.render()


def test_car_moves_in_picture_and_static_layer_is_not_mutated(env):
    env.reset(seed=0)
    first = env.render()
    c0 = centroid_px(first, rendering.CAR)
    for _ in range(20):
        env.step(np.array([0.0, 0.5], dtype=np.float32))
    moved = env.render()
    c1 = centroid_px(moved, rendering.CAR)
    assert np.linalg.norm(c1 - c0) > 3.0
    # The car heads along its yaw: image y grows downward.
    _, _, yaw = env.layout.course.start_pose()
    direction = np.array([math.cos(yaw), -math.sin(yaw)])
    assert float(np.dot(c1 - c0, direction)) > 0.0
    # Drawing the dynamic layer must not leak into the cached static picture.
    env.reset(seed=0)
    assert np.array_equal(env.render(), first)


def test_new_layout_is_redrawn(env):
    env.reset(seed=0)
    a = env.render()
    env.reset(seed=1)
    b = env.render()
    assert not np.array_equal(
        colour_mask(a, rendering.OBSTACLE), colour_mask(b, rendering.OBSTACLE)
    )
    # Rendering is deterministic: a fresh env shows the same picture for the same state.
    other = TinyLidarEnv(render_mode="rgb_array", **SMALL)
    other.reset(seed=1)
    assert np.array_equal(other.render(), b)


def test_obstacle_option_is_rendered_where_placed(env):
    env.reset(seed=0)
    x, y, yaw = env.layout.course.start_pose()
    box = [x + 4.0 * math.cos(yaw), y + 4.0 * math.sin(yaw), yaw, 1.0, 1.0]
    env.reset(seed=0, options={"obstacles": [box]})
    img = env.render()
    obst = centroid_px(img, rendering.OBSTACLE)
    car = centroid_px(img, rendering.CAR)
    # The single box lies 4 m (rear axle) ahead of the car, in the heading direction.
    d = obst - car
    direction = np.array([math.cos(yaw), -math.sin(yaw)])
    assert float(np.dot(d, direction)) > 0.9 * np.linalg.norm(d)
