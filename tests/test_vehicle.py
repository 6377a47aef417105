"""Kinematic bicycle, actuator limits, steering dead time and lag against closed-form motion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylidar_gym.sim.config import ConfigError, EnvConfig, VehicleConfig
from tinylidar_gym.sim.obstacles import Obstacles
from tinylidar_gym.sim.vehicle import (
    N_VEHICLE_PARAMS,
    dead_time_steps,
    integrate_substep,
    pack_vehicle_params,
)
from tinylidar_gym.sim.world import C_SPEED, C_STEER, C_X, C_Y, C_YAW, World
from tinylidar_gym.tracks.procedural import default_course

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None)


def params(**overrides) -> np.ndarray:
    return pack_vehicle_params(VehicleConfig(**overrides))


def run(state, steer, speed, p, dt, n) -> tuple[np.ndarray, float]:
    """n sub-steps with constant commands; returns the trajectory (n + 1, 5) and distance."""
    traj = [state.copy()]
    total = 0.0
    for _ in range(n):
        total += integrate_substep(state, steer, speed, p, dt)
        traj.append(state.copy())
    return np.array(traj), total


def wrap(a):
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


# --------------------------------------------------------------------------- parameters


def test_pack_vehicle_params_holds_every_limit():
    cfg = VehicleConfig(
        wheelbase_m=1.1,
        length_m=1.9,
        width_m=1.3,
        rear_overhang_m=0.4,
        max_steer_rad=0.37,
        max_steer_rate_radps=0.94,
        steer_lag_tau_s=0.15,
        max_accel_mps2=3.0,
        max_decel_mps2=5.0,
        max_speed_mps=15.0,
        min_speed_mps=-2.0,
    )
    p = pack_vehicle_params(cfg)
    assert p.shape == (N_VEHICLE_PARAMS,)
    assert p.dtype == np.float64
    # Every configured number (and half the width) appears in the packed vector.
    for value in (1.1, 1.9, 0.65, 0.4, 0.37, 0.94, 0.15, 3.0, 5.0, 15.0, -2.0):
        assert np.any(np.isclose(p, value, rtol=0, atol=1e-15)), value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("wheelbase_m", 0.0),
        ("max_steer_rad", math.pi / 2),
        ("min_speed_mps", 1.0),
        ("steer_dead_time_s", -0.1),
        ("rear_overhang_m", 0.58),
        ("max_decel_mps2", float("nan")),
    ],
)
def test_vehicle_config_errors_name_the_field(field, value):
    with pytest.raises(ConfigError, match=rf"VehicleConfig\.{field}="):
        VehicleConfig(**{field: value})


def test_min_turning_radius():
    cfg = VehicleConfig(wheelbase_m=0.33, max_steer_rad=0.4189)
    assert cfg.min_turning_radius_m == pytest.approx(0.33 / math.tan(0.4189), rel=1e-12)


# --------------------------------------------------------------------------- kinematics


@pytest.mark.parametrize("yaw", [0.0, 0.7, -2.5, math.pi])
@pytest.mark.parametrize("speed", [0.5, 3.0, -2.0])
def test_straight_line_at_constant_speed(yaw, speed):
    p = params()
    state = np.array([1.0, -2.0, yaw, speed, 0.0])
    dt, n = 0.005, 400
    traj, total = run(state, 0.0, speed, p, dt, n)
    t = np.arange(n + 1) * dt
    np.testing.assert_allclose(traj[:, 0], 1.0 + speed * t * math.cos(yaw), atol=1e-9)
    np.testing.assert_allclose(traj[:, 1], -2.0 + speed * t * math.sin(yaw), atol=1e-9)
    np.testing.assert_allclose(wrap(traj[:, 2] - yaw), 0.0, atol=1e-12)
    np.testing.assert_allclose(traj[:, 3], speed, atol=1e-12)
    assert total == pytest.approx(abs(speed) * n * dt, rel=1e-12)


@pytest.mark.parametrize("steer", [0.1, 0.3, -0.25, 0.4189])
@pytest.mark.parametrize("speed", [1.0, 4.0, -1.5])
def test_steady_steering_drives_a_circle_of_radius_l_over_tan_delta(steer, speed):
    wheelbase = 0.33
    p = params(wheelbase_m=wheelbase)
    yaw0 = 0.4
    state = np.array([2.0, 3.0, yaw0, speed, steer])
    radius = wheelbase / math.tan(abs(steer))
    omega = speed * math.tan(steer) / wheelbase
    dt = 0.005
    n = int(math.ceil(2 * math.pi / abs(omega) / dt))  # a little over one full turn
    traj, total = run(state, steer, speed, p, dt, n)
    # Centre of the circle: one radius to the left (steer > 0) or right of the rear axle.
    side = math.copysign(1.0, steer)
    centre = np.array([2.0 - side * radius * math.sin(yaw0), 3.0 + side * radius * math.cos(yaw0)])
    r = np.hypot(traj[:, 0] - centre[0], traj[:, 1] - centre[1])
    np.testing.assert_allclose(r, radius, rtol=1e-4)
    # Yaw grows linearly at v tan(delta) / L.
    t = np.arange(n + 1) * dt
    np.testing.assert_allclose(wrap(traj[:, 2] - (yaw0 + omega * t)), 0.0, atol=1e-9)
    assert np.all(np.abs(traj[:, 2]) <= math.pi + 1e-12)
    assert total == pytest.approx(abs(speed) * n * dt, rel=1e-12)
    # The heading is tangent to the circle (perpendicular to the radius).
    radial = traj[:, :2] - centre
    heading = np.stack([np.cos(traj[:, 2]), np.sin(traj[:, 2])], axis=1)
    np.testing.assert_allclose(np.sum(radial * heading, axis=1) / radius, 0.0, atol=1e-3)


@PROPERTY
@given(
    speed=st.floats(-5.0, 20.0),
    steer=st.floats(-0.41, 0.41),
    yaw=st.floats(-math.pi, math.pi),
    dt=st.floats(1e-4, 0.05),
)
def test_one_substep_matches_the_exact_arc(speed, steer, yaw, dt):
    """With steady inputs one sub-step lands on the exact arc to second order in dt."""
    wheelbase = 0.33
    p = params(wheelbase_m=wheelbase)
    state = np.array([0.0, 0.0, yaw, speed, steer])
    moved = integrate_substep(state, steer, speed, p, dt)
    omega = speed * math.tan(steer) / wheelbase
    if abs(omega) > 1e-12:
        radius = speed / omega
        x = radius * (math.sin(yaw + omega * dt) - math.sin(yaw))
        y = -radius * (math.cos(yaw + omega * dt) - math.cos(yaw))
    else:
        x, y = speed * dt * math.cos(yaw), speed * dt * math.sin(yaw)
    err_bound = abs(speed) * dt * (omega * dt) ** 2 / 20 + 1e-12
    assert math.hypot(state[0] - x, state[1] - y) <= err_bound
    assert wrap(state[2] - yaw - omega * dt) == pytest.approx(0.0, abs=1e-12)
    assert moved == pytest.approx(abs(speed) * dt, rel=1e-12)


# --------------------------------------------------------------------------- actuators


def test_steering_rate_limit():
    rate, max_steer = 3.2, 0.4189
    p = params(max_steer_rate_radps=rate, max_steer_rad=max_steer)
    dt, n = 0.01, 30
    traj, _ = run(np.zeros(5), 0.3, 0.0, p, dt, n)
    expect = np.minimum(rate * dt * np.arange(n + 1), 0.3)
    np.testing.assert_allclose(traj[:, 4], expect, atol=1e-12)
    # And back the other way, from +0.3 to -0.3.
    traj, _ = run(traj[-1].copy(), -0.3, 0.0, p, dt, n)
    expect = np.maximum(0.3 - rate * dt * np.arange(n + 1), -0.3)
    np.testing.assert_allclose(traj[:, 4], expect, atol=1e-12)


@pytest.mark.parametrize("target", [1.0, -5.0, 0.4189 + 1e-9])
def test_steering_angle_limit(target):
    p = params(max_steer_rad=0.4189, max_steer_rate_radps=100.0)
    traj, _ = run(np.zeros(5), target, 0.0, p, 0.01, 20)
    assert np.all(np.abs(traj[:, 4]) <= 0.4189 + 1e-15)
    assert traj[-1, 4] == pytest.approx(math.copysign(0.4189, target), abs=1e-12)


def test_steering_outside_limit_from_state_is_clipped():
    p = params(max_steer_rad=0.4)
    state = np.array([0.0, 0.0, 0.0, 0.0, 0.9])  # e.g. an injected out-of-range state
    integrate_substep(state, 0.9, 0.0, p, 0.01)
    assert state[4] <= 0.4 + 1e-15


def test_acceleration_and_speed_limit():
    accel, vmax = 9.51, 20.0
    p = params(max_accel_mps2=accel, max_speed_mps=vmax)
    dt, n = 0.01, 300
    state = np.zeros(5)
    traj, total = run(state, 0.0, 100.0, p, dt, n)  # command above the limit
    t = np.arange(n + 1) * dt
    v = np.minimum(accel * t, vmax)
    np.testing.assert_allclose(traj[:, 3], v, atol=1e-9)
    # Position: 0.5 a t^2 while accelerating, then constant speed (exact for this integrator).
    t_sat = vmax / accel
    x = np.where(t <= t_sat, 0.5 * accel * t**2, 0.5 * accel * t_sat**2 + vmax * (t - t_sat))
    np.testing.assert_allclose(traj[:, 0], x, atol=0.5 * accel * dt**2)
    assert total == pytest.approx(x[-1], abs=0.5 * accel * dt**2)


def test_braking_limit_and_reverse_limit():
    decel, vmin = 5.0, -2.0
    p = params(max_decel_mps2=decel, min_speed_mps=vmin)
    dt, n = 0.01, 300
    state = np.array([0.0, 0.0, 0.0, 6.0, 0.0])
    traj, _ = run(state, 0.0, -100.0, p, dt, n)  # command below the reverse limit
    t = np.arange(n + 1) * dt
    braking = t <= 6.0 / decel - dt
    np.testing.assert_allclose(traj[braking, 3], 6.0 - decel * t[braking], atol=1e-9)
    assert traj[-1, 3] == pytest.approx(vmin, abs=1e-12)
    assert np.all(traj[:, 3] >= vmin - 1e-12)
    # Farthest point = stopping distance v^2 / (2 a), then the car backs up.
    stop = np.argmax(traj[:, 0])
    assert traj[stop, 0] == pytest.approx(6.0**2 / (2 * decel), abs=decel * dt**2)
    assert traj[-1, 0] < traj[stop, 0]


def test_braking_from_reverse_uses_the_braking_limit():
    """Slowing down while reversing is braking; speeding up backwards is accelerating.

    ``max_decel_mps2`` is the braking limit: it bounds how fast |v| drops, in either direction
    of travel (as in f1tenth_gym's speed controller), and ``max_accel_mps2`` bounds how fast
    |v| grows. With asymmetric limits (the kart preset: 3 up, 5 down) the two must not swap.
    """
    accel, decel = 3.0, 5.0
    p = params(max_accel_mps2=accel, max_decel_mps2=decel, min_speed_mps=-2.0)
    dt, n = 0.01, 100
    t = np.arange(n + 1) * dt
    # Reversing at -2 m/s, commanded to stop: |v| falls at the braking limit.
    traj, _ = run(np.array([0.0, 0.0, 0.0, -2.0, 0.0]), 0.0, 0.0, p, dt, n)
    np.testing.assert_allclose(traj[:, 3], np.minimum(-2.0 + decel * t, 0.0), atol=1e-9)
    # From rest, commanded to reverse: |v| grows at the acceleration limit.
    traj, _ = run(np.zeros(5), 0.0, -2.0, p, dt, n)
    np.testing.assert_allclose(traj[:, 3], np.maximum(-accel * t, -2.0), atol=1e-9)


def test_speed_tracks_command_exactly_when_within_limits():
    p = params()
    state = np.array([0.0, 0.0, 0.0, 2.0, 0.0])
    integrate_substep(state, 0.0, 2.05, p, 0.01)  # 5 m/s^2 needed, 9.51 allowed
    assert state[3] == pytest.approx(2.05, abs=1e-12)


def test_first_order_lag_reaches_63_percent_after_tau():
    tau, dt = 0.1, 0.0005
    p = params(steer_lag_tau_s=tau, max_steer_rate_radps=1e6, max_steer_rad=1.0)
    target = 0.3
    n = int(round(3 * tau / dt))
    traj, _ = run(np.zeros(5), target, 0.0, p, dt, n)
    t = np.arange(n + 1) * dt
    analytic = target * (1.0 - np.exp(-t / tau))
    np.testing.assert_allclose(traj[:, 4], analytic, atol=0.005 * target)
    at_tau = traj[int(round(tau / dt)), 4] / target
    assert at_tau == pytest.approx(1.0 - math.exp(-1.0), abs=0.01)
    assert np.all(np.diff(traj[:, 4]) > 0)  # monotone, no overshoot
    assert np.all(traj[:, 4] < target)


def test_lag_is_still_rate_limited():
    tau, rate, dt = 0.01, 0.5, 0.001
    p = params(steer_lag_tau_s=tau, max_steer_rate_radps=rate)
    traj, _ = run(np.zeros(5), 0.4, 0.0, p, dt, 50)
    assert np.all(np.diff(traj[:, 4]) <= rate * dt + 1e-15)
    assert traj[-1, 4] == pytest.approx(rate * dt * 50, abs=1e-12)


# --------------------------------------------------------------------------- dead time (World)


def make_world(**vehicle) -> World:
    cfg = EnvConfig(vehicle=VehicleConfig(**vehicle), control_dt_s=0.025, substeps=5)
    world = World(cfg)
    world.set_layout(0, default_course(cfg.course, cfg.vehicle), Obstacles.empty())
    world.reset_car(0, noise_seed=0)
    return world


def test_dead_time_steps_rounding():
    assert dead_time_steps(VehicleConfig(steer_dead_time_s=0.1), 0.005) == 20
    assert dead_time_steps(VehicleConfig(steer_dead_time_s=0.3644), 0.01) == 36
    assert dead_time_steps(VehicleConfig(steer_dead_time_s=0.0), 0.005) == 0


@pytest.mark.parametrize("dead_time", [0.05, 0.1, 0.2])
def test_steering_does_not_move_before_the_dead_time(dead_time):
    world = make_world(steer_dead_time_s=dead_time, max_steer_rate_radps=3.2)
    steer_max = world.cfg.vehicle.max_steer_rad
    sub_dt = world.cfg.substep_dt_s
    start = world.cars[0, [C_X, C_Y, C_YAW]].copy()
    action = np.array([[1.0, -1.0]])  # full left, speed command 0: the car stays put
    times, steers = [], []
    for k in range(1, 25):
        world.step(action)
        times.append(k * world.cfg.control_dt_s)
        steers.append(world.cars[0, C_STEER])
    times, steers = np.array(times), np.array(steers)
    # Exactly zero for every step that ends no later than the dead time.
    assert np.all(steers[times <= dead_time + 1e-12] == 0.0)
    # After it, rate-limited growth starting one sub-step past the delay.
    active = np.maximum(times - dead_time, 0.0)
    expect = np.minimum(3.2 * active, steer_max)
    np.testing.assert_allclose(steers, expect, atol=1e-9)
    assert steers[-1] == pytest.approx(steer_max)
    np.testing.assert_array_equal(world.cars[0, [C_X, C_Y, C_YAW]], start)
    assert world.cars[0, C_SPEED] == 0.0
    assert sub_dt == pytest.approx(0.005)


def test_without_dead_time_steering_reacts_in_the_first_step():
    world = make_world(steer_dead_time_s=0.0, max_steer_rate_radps=3.2)
    world.step(np.array([[1.0, -1.0]]))
    assert world.cars[0, C_STEER] == pytest.approx(3.2 * 0.025, abs=1e-12)


def test_dead_time_delays_a_command_change_not_just_the_first_one():
    world = make_world(steer_dead_time_s=0.05, max_steer_rate_radps=100.0)
    steer_max = world.cfg.vehicle.max_steer_rad
    for _ in range(4):
        world.step(np.array([[1.0, -1.0]]))  # 0.1 s of full left
    assert world.cars[0, C_STEER] == pytest.approx(steer_max)
    world.step(np.array([[-1.0, -1.0]]))  # command full right at t = 0.1 s
    world.step(np.array([[-1.0, -1.0]]))
    # 0.05 s after the change the actuator still holds full left.
    assert world.cars[0, C_STEER] == pytest.approx(steer_max)
    world.step(np.array([[-1.0, -1.0]]))
    assert world.cars[0, C_STEER] == pytest.approx(-steer_max)


def test_dead_time_and_lag_in_the_world():
    dead, tau = 0.1, 0.2
    world = make_world(steer_dead_time_s=dead, steer_lag_tau_s=tau, max_steer_rate_radps=100.0)
    steer_max = world.cfg.vehicle.max_steer_rad
    dt = world.cfg.control_dt_s
    steers = []
    for _ in range(40):
        world.step(np.array([[1.0, -1.0]]))
        steers.append(world.cars[0, C_STEER])
    t = dt * np.arange(1, 41)
    analytic = steer_max * (1.0 - np.exp(-np.maximum(t - dead, 0.0) / tau))
    np.testing.assert_allclose(steers, analytic, atol=0.01 * steer_max)
    i_tau = int(round((dead + tau) / dt)) - 1
    assert steers[i_tau] / steer_max == pytest.approx(1 - math.exp(-1), abs=0.01)


def test_world_drives_straight_from_the_start_pose():
    world = make_world()
    x0, y0, yaw0 = (world.cars[0, C_X], world.cars[0, C_Y], world.cars[0, C_YAW])
    # Full speed command (8 m/s) for 0.2 s straight ahead: well inside the corridor.
    for _ in range(8):
        world.step(np.array([[0.0, 1.0]]))
    t = 0.2
    a = world.cfg.vehicle.max_accel_mps2
    v = min(a * t, 8.0)
    t_sat = 8.0 / a
    dist = 0.5 * a * t**2 if t <= t_sat else 0.5 * a * t_sat**2 + 8.0 * (t - t_sat)
    assert world.cars[0, C_SPEED] == pytest.approx(v, abs=1e-9)
    assert world.cars[0, C_X] - x0 == pytest.approx(dist * math.cos(yaw0), abs=1e-6)
    assert world.cars[0, C_Y] - y0 == pytest.approx(dist * math.sin(yaw0), abs=1e-6)
