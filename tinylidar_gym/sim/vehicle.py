"""Kinematic bicycle with actuator limits, steering dead time and first-order steering lag.

State (one row of the world's car array, reference point: rear axle centre):
``x_m, y_m, yaw_rad, speed_mps, steer_rad``. Inputs: steering angle command (rad) and speed
command (m/s). The speed loop is an ideal tracker bounded by the acceleration limits; steering
goes command -> dead time -> first-order lag -> rate limit -> angle limit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinylidar_gym.sim.config import VehicleConfig

# Indices into the packed parameter vector (see pack_vehicle_params).
P_WHEELBASE = 0
P_MAX_STEER = 1
P_MAX_STEER_RATE = 2
P_LAG_TAU = 3
P_MAX_ACCEL = 4
P_MAX_DECEL = 5
P_MAX_SPEED = 6
P_MIN_SPEED = 7
P_LENGTH = 8
P_HALF_WIDTH = 9
P_REAR_OVERHANG = 10
N_VEHICLE_PARAMS = 11


def pack_vehicle_params(cfg: VehicleConfig) -> np.ndarray:
    """The vehicle config as the flat float64 vector the compiled kernels read."""
    p = np.zeros(N_VEHICLE_PARAMS)
    p[P_WHEELBASE] = cfg.wheelbase_m
    p[P_MAX_STEER] = cfg.max_steer_rad
    p[P_MAX_STEER_RATE] = cfg.max_steer_rate_radps
    p[P_LAG_TAU] = cfg.steer_lag_tau_s
    p[P_MAX_ACCEL] = cfg.max_accel_mps2
    p[P_MAX_DECEL] = cfg.max_decel_mps2
    p[P_MAX_SPEED] = cfg.max_speed_mps
    p[P_MIN_SPEED] = cfg.min_speed_mps
    p[P_LENGTH] = cfg.length_m
    p[P_HALF_WIDTH] = cfg.width_m / 2.0
    p[P_REAR_OVERHANG] = cfg.rear_overhang_m
    return p


def dead_time_steps(cfg: VehicleConfig, substep_dt_s: float) -> int:
    """Steering delay expressed in integration sub-steps (rounded)."""
    return int(round(cfg.steer_dead_time_s / substep_dt_s))


@njit(cache=True, nogil=True)
def command_from_action(
    steer_action: float,
    speed_action: float,
    max_steer_rad: float,
    min_speed_cmd_mps: float,
    max_speed_cmd_mps: float,
) -> tuple[float, float]:
    """(steering_rad, speed_cmd_mps) that an action in [-1, 1] commands (clipped first).

    ``steering = a0 * max_steer_rad`` (positive = left);
    ``speed = min + (a1 + 1) / 2 * (max - min)``. The one mapping from actions to commands: the
    step kernel and the env's action helpers both call it.
    """
    a0 = min(max(steer_action, -1.0), 1.0)
    a1 = min(max(speed_action, -1.0), 1.0)
    steer = a0 * max_steer_rad
    speed = min_speed_cmd_mps + 0.5 * (a1 + 1.0) * (max_speed_cmd_mps - min_speed_cmd_mps)
    return steer, speed


@njit(cache=True, nogil=True)
def _clip(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else (hi if v > hi else v)


@njit(cache=True, nogil=True)
def integrate_substep(
    state: np.ndarray,
    steer_target: float,
    speed_cmd: float,
    params: np.ndarray,
    dt: float,
) -> float:
    """Advance ``state[0:5]`` in place by ``dt`` seconds; returns the distance driven (m).

    ``steer_target`` is the (already delayed) steering command in radians.
    """
    max_steer = params[P_MAX_STEER]
    max_rate = params[P_MAX_STEER_RATE]
    tau = params[P_LAG_TAU]
    target = _clip(steer_target, -max_steer, max_steer)
    steer = state[4]
    if tau > 0.0:
        rate = (target - steer) / max(tau, dt)
    else:
        rate = (target - steer) / dt
    rate = _clip(rate, -max_rate, max_rate)
    steer = _clip(steer + rate * dt, -max_steer, max_steer)

    v = state[3]
    cmd = _clip(speed_cmd, params[P_MIN_SPEED], params[P_MAX_SPEED])
    # Braking (|v| shrinking, in either direction of travel) is bounded by max_decel,
    # speeding up (forwards or backwards) by max_accel.
    dv = cmd - v
    braking = (v > 0.0 and dv < 0.0) or (v < 0.0 and dv > 0.0)
    limit = params[P_MAX_DECEL] if braking else params[P_MAX_ACCEL]
    accel = _clip(dv / dt, -limit, limit)
    v_new = _clip(v + accel * dt, params[P_MIN_SPEED], params[P_MAX_SPEED])
    v_mid = 0.5 * (v + v_new)

    yaw = state[2]
    yaw_rate = v_mid * math.tan(steer) / params[P_WHEELBASE]
    yaw_mid = yaw + 0.5 * yaw_rate * dt
    state[0] += v_mid * math.cos(yaw_mid) * dt
    state[1] += v_mid * math.sin(yaw_mid) * dt
    state[2] = math.atan2(math.sin(yaw + yaw_rate * dt), math.cos(yaw + yaw_rate * dt))
    state[3] = v_new
    state[4] = steer
    return abs(v_mid) * dt
