"""The simulator's sealed surface: World accessors, named end reasons, one action mapping."""

from __future__ import annotations

import numpy as np
import pytest

from tinylidar_gym.envs.action import to_physical
from tinylidar_gym.envs.info import batch_info
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv
from tinylidar_gym.sim import state
from tinylidar_gym.sim.config import kart_preset
from tinylidar_gym.sim.world import EndReason

SMALL = {"lidar": {"n_beams": 61}}


def test_accessors_agree_with_info():
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=3)
    for _ in range(40):
        _, _, _, _, info = env.step(np.array([0.05, -0.5], dtype=np.float32))
    world = env.world
    assert world.pose(0) == (info["x_m"], info["y_m"], info["yaw_rad"])
    assert world.speed(0) == info["speed_mps"] > 0.0
    assert world.steer(0) == info["steer_rad"]
    assert world.progress_m(0) == info["progress_m"]
    assert world.checkpoints_passed(0) == info["checkpoints_passed"]
    assert world.reason(0) is EndReason.RUNNING
    assert 0.0 <= world.lap_position_m(0) < env.layout.course.length_m
    walls = len(env.layout.course.walls)
    assert world.segments(0).shape == (walls + len(env.layout.obstacles.segments), 4)


def test_reason_accessor_names_the_end():
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0)
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(np.array([1.0, 1.0], dtype=np.float32))
    assert env.world.reason(0).label == info["end_reason"] == "collision_wall"
    assert env.world.reason(0) == state.REASON_COLLISION_WALL


def test_place_reprojects_and_restore_puts_the_state_back():
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=1)
    for _ in range(30):
        env.step(np.array([0.0, 0.0], dtype=np.float32))
    world = env.world
    saved = world.snapshot(0)
    before = world.lap_position_m(0)
    course = env.layout.course
    ahead, yaw, _ = course.interpolate(np.array([before + 5.0]))
    world.place(0, (float(ahead[0, 0]), float(ahead[0, 1]), float(yaw[0])))
    assert world.lap_position_m(0) == pytest.approx(before + 5.0, abs=0.3)
    assert world.speed(0) == saved[state.C_SPEED]  # only the pose moved
    world.restore(0, saved)
    assert world.lap_position_m(0) == before
    assert np.array_equal(world.snapshot(0), saved)


def test_pending_steer_commands_in_the_order_they_take_effect():
    env = TinyLidarEnv(kart_preset())
    env.reset(seed=0)
    world = env.world
    assert world.dead_steps > 1
    assert np.array_equal(world.pending_steer_commands(0), np.zeros(world.dead_steps))
    env.step(np.array([0.5, 0.0], dtype=np.float32))
    env.step(np.array([-0.25, 0.0], dtype=np.float32))
    pending = world.pending_steer_commands(0)
    max_steer = env.config.vehicle.max_steer_rad
    substeps = env.config.substeps
    # The newest commands are last: `substeps` copies of each step's command.
    assert np.array_equal(pending[-substeps:], np.full(substeps, -0.25 * max_steer))
    assert np.array_equal(pending[-2 * substeps : -substeps], np.full(substeps, 0.5 * max_steer))
    assert np.array_equal(pending[: -2 * substeps], np.zeros(world.dead_steps - 2 * substeps))


def test_end_reason_constants_match_the_enum():
    assert [int(r) for r in EndReason] == [
        state.REASON_RUNNING, state.REASON_GOAL_REACHED, state.REASON_COLLISION_WALL,
        state.REASON_COLLISION_OBSTACLE, state.REASON_TIMEOUT, state.REASON_STUCK,
    ]  # fmt: skip


@pytest.mark.parametrize("action", [(0.37, -0.6), (-1.0, 1.0), (2.0, -3.0), (-0.01, 0.999)])
def test_kernel_commands_what_to_physical_says(action):
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array(action, dtype=np.float32))
    steer, speed = to_physical(np.array(action, dtype=np.float32), env.config)
    assert (info["steer_cmd_rad"], info["speed_cmd_mps"]) == (steer, speed)


def test_batch_progress_is_clipped_to_one():
    venv = TinyLidarVectorEnv(2, parallel=False, **SMALL)
    venv.reset(seed=0)
    world = venv.world
    goal = world.cp_s[:, -1]
    world.cars[:, state.C_PROGRESS] = goal * np.array([0.5, 1.02])  # car 1 past the finish
    np.testing.assert_array_equal(batch_info(world)["progress"], [0.5, 1.0])
