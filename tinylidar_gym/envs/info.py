"""The ``info`` of a step: pose, speed, progress, checkpoints, distance, end reason.

Keys: ``x_m, y_m, yaw_rad`` (rear-axle pose), ``speed_mps``, ``steer_rad``, ``steer_cmd_rad``,
``speed_cmd_mps``, ``progress_m`` (signed arc length driven from the start line), ``progress``
(fraction of the goal distance, at most 1: a car that overshoots the finish has done the lap),
``lateral_offset_m`` (left of the centerline positive),
``checkpoints_passed``, ``checkpoints_total``, ``distance_m`` (driven), ``time_s``,
``min_obstacle_clearance_m`` (inf until an obstacle came within 2 m of the footprint),
``end_reason`` ('running', 'goal_reached', 'collision_wall', 'collision_obstacle', 'timeout',
'stuck') and ``is_success`` (the goal was reached).

This is the one module outside the simulator that reads the packed car-state columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinylidar_gym.sim import world as w

TERMINAL_REASONS = frozenset(
    {w.EndReason.GOAL_REACHED, w.EndReason.COLLISION_WALL, w.EndReason.COLLISION_OBSTACLE}
)
"""Reasons that end the MDP (``terminated``); timeout and stuck are cut-offs (``truncated``)."""

_LABELS = np.array([r.label for r in w.EndReason], dtype=object)

# info key -> column of the car state array (float values).
_FLOAT_COLUMNS = {
    "x_m": w.C_X,
    "y_m": w.C_Y,
    "yaw_rad": w.C_YAW,
    "speed_mps": w.C_SPEED,
    "steer_rad": w.C_STEER,
    "steer_cmd_rad": w.C_STEER_CMD,
    "speed_cmd_mps": w.C_SPEED_CMD,
    "progress_m": w.C_PROGRESS,
    "lateral_offset_m": w.C_LATERAL,
    "distance_m": w.C_DISTANCE,
    "time_s": w.C_TIME,
    "min_obstacle_clearance_m": w.C_MIN_CLEARANCE,
}


_FLOAT_ITEMS = tuple(_FLOAT_COLUMNS.items())
_LABEL_OF = tuple(r.label for r in w.EndReason)
_TERMINATED = tuple(r in TERMINAL_REASONS for r in w.EndReason)
_TRUNCATED = tuple(r not in TERMINAL_REASONS and r != w.EndReason.RUNNING for r in w.EndReason)
_TERMINATED_BY_CODE = np.array(_TERMINATED)
_TRUNCATED_BY_CODE = np.array(_TRUNCATED)
_FLOAT_COLS = np.array([col for _, col in _FLOAT_ITEMS])


def car_info(world: w.World, i: int) -> dict[str, Any]:
    """Info dict of car ``i`` (Python scalars)."""
    row = world.cars[i].tolist()  # one conversion for every key
    info: dict[str, Any] = {key: row[col] for key, col in _FLOAT_ITEMS}
    reason = int(row[w.C_REASON])
    cp_s = world.cp_s[i]
    info["progress"] = min(row[w.C_PROGRESS] / float(cp_s[-1]), 1.0)
    info["checkpoints_passed"] = int(row[w.C_NEXT_CP])
    info["checkpoints_total"] = cp_s.shape[0]
    info["end_reason"] = _LABEL_OF[reason]
    info["is_success"] = reason == w.REASON_GOAL_REACHED
    return info


def car_done(world: w.World, i: int) -> tuple[bool, bool]:
    """(terminated, truncated) of car ``i`` after a step (both False while it runs)."""
    reason = int(world.cars[i, w.C_REASON])
    return _TERMINATED[reason], _TRUNCATED[reason]


def batch_done(world: w.World) -> tuple[np.ndarray, np.ndarray]:
    """(terminated, truncated), each (N,) bool, of every car after a step."""
    codes = world.cars[:, w.C_REASON].astype(np.int64)
    return _TERMINATED_BY_CODE[codes], _TRUNCATED_BY_CODE[codes]


def batch_info(world: w.World) -> dict[str, Any]:
    """Vector-env info: the same keys as :func:`car_info`, each an (N,) array, with
    gymnasium's ``_key`` masks (all True: every sub-env reports every key each step)."""
    cars = world.cars
    n = cars.shape[0]
    columns = cars[:, _FLOAT_COLS].T.copy()  # one copy; each key gets a contiguous row
    info: dict[str, Any] = {key: columns[j] for j, (key, _) in enumerate(_FLOAT_ITEMS)}
    codes = cars[:, w.C_REASON].astype(np.int64)
    info["progress"] = np.minimum(cars[:, w.C_PROGRESS] / world.cp_s[:, -1], 1.0)
    info["checkpoints_passed"] = cars[:, w.C_NEXT_CP].astype(np.int64)
    info["checkpoints_total"] = np.full(n, world.cp_s.shape[1], dtype=np.int64)
    info["end_reason"] = _LABELS[codes]
    info["is_success"] = codes == w.REASON_GOAL_REACHED
    mask = np.ones(n, dtype=bool)
    for key in list(info):
        info["_" + key] = mask
    return info


def info_row(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s entry of a batched vector-env info (masks and final_* keys dropped)."""
    return {
        k: v[i] for k, v in infos.items() if not k.startswith("_") and not k.startswith("final")
    }
