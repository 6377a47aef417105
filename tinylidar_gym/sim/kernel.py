"""The compiled step: one control step of one car, as a few named steps, and the N-car loops.

A car's step: command from the action -> broad phase (segments it can reach this step) ->
sub-steps of the vehicle with the footprint checked after each -> clearance to obstacles ->
progress along the centerline and checkpoints -> end reason and reward -> a LiDAR scan.
The single env and the vector env run the same per-car code, so their results are bit-identical.
"""

from __future__ import annotations

import math
import os

import numpy as np
from numba import njit, prange

from tinylidar_gym.sim.collision import (
    box_segment_distance,
    point_segment_distance,
    segment_hits_box,
)
from tinylidar_gym.sim.lidar import cast_scan
from tinylidar_gym.sim.progress import project_local, unwrap_delta
from tinylidar_gym.sim.state import (
    C_BEST_PROGRESS,
    C_BUF_HEAD,
    C_CL_IDX,
    C_DISTANCE,
    C_LAST_PROGRESS_TIME,
    C_LATERAL,
    C_MIN_CLEARANCE,
    C_NEXT_CP,
    C_PROGRESS,
    C_REASON,
    C_S_LOCAL,
    C_SPEED,
    C_SPEED_CMD,
    C_STEER_CMD,
    C_TIME,
    C_TIME_LIMIT,
    C_X,
    C_Y,
    C_YAW,
    CLEARANCE_RADIUS_M,
    E_COLLISION_PENALTY,
    E_CONTROL_DT,
    E_DEAD_STEPS,
    E_GOAL_BONUS,
    E_STUCK_MIN_PROGRESS,
    E_STUCK_TIME,
    E_SUB_DT,
    E_SUBSTEPS,
    E_VMAX_CMD,
    E_VMIN_CMD,
    E_W_PROGRESS,
    E_WINDOW,
    L_ANGLE_INC,
    L_ANGLE_MIN,
    L_MAX_RANGE,
    L_MOUNT,
    L_NOISE_STD,
    REASON_COLLISION_OBSTACLE,
    REASON_COLLISION_WALL,
    REASON_GOAL_REACHED,
    REASON_RUNNING,
    REASON_STUCK,
    REASON_TIMEOUT,
)
from tinylidar_gym.sim.vehicle import (
    P_HALF_WIDTH,
    P_LENGTH,
    P_MAX_STEER,
    P_REAR_OVERHANG,
    command_from_action,
    integrate_substep,
)

# Idle OpenMP threads of the parallel kernel sleep instead of spinning (OpenMP's default). A
# spinning thread takes the core from whatever else runs there; with one core busy elsewhere the
# vector env ran 5-7x slower spinning than sleeping. Read when numba first starts its threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@njit(cache=True, nogil=True)
def _splitmix64(state: np.ndarray, i: int) -> float:
    """Next uniform in (0, 1) from the per-car 64-bit generator state[i]."""
    z = state[i] + np.uint64(0x9E3779B97F4A7C15)
    state[i] = z
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (float(z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def observe_car(
    i: int,
    cars: np.ndarray,
    lp: np.ndarray,
    segs: np.ndarray,
    n_seg: np.ndarray,
    beam_cos: np.ndarray,
    beam_sin: np.ndarray,
    rng: np.ndarray,
    scratch: np.ndarray,
    scans: np.ndarray,
) -> None:
    """Cast car ``i``'s scan into ``scans[i]`` (float32 metres), with seeded Gaussian noise."""
    yaw = cars[i, C_YAW]
    sx = cars[i, C_X] + lp[L_MOUNT] * math.cos(yaw)
    sy = cars[i, C_Y] + lp[L_MOUNT] * math.sin(yaw)
    buf = scratch[i]
    cast_scan(
        sx, sy, yaw, segs[i], n_seg[i], beam_cos, beam_sin,
        lp[L_ANGLE_MIN], lp[L_ANGLE_INC], lp[L_MAX_RANGE], buf,
    )  # fmt: skip
    std = lp[L_NOISE_STD]
    max_range = lp[L_MAX_RANGE]
    out = scans[i]
    if std > 0.0:
        n = buf.shape[0]
        for j in range(0, n, 2):
            u1 = _splitmix64(rng, i)
            u2 = _splitmix64(rng, i)
            mag = std * math.sqrt(-2.0 * math.log(u1))
            out[j] = min(max(buf[j] + mag * math.cos(2.0 * math.pi * u2), 0.0), max_range)
            if j + 1 < n:
                out[j + 1] = min(
                    max(buf[j + 1] + mag * math.sin(2.0 * math.pi * u2), 0.0), max_range
                )
    else:
        for j in range(buf.shape[0]):
            out[j] = buf[j]


@njit(cache=True, nogil=True)
def _footprint(car: np.ndarray, vp: np.ndarray) -> tuple[float, float, float, float]:
    """Centre (x, y) and heading (cos, sin) of the car's footprint rectangle."""
    centre_off = 0.5 * vp[P_LENGTH] - vp[P_REAR_OVERHANG]
    cyaw = math.cos(car[C_YAW])
    syaw = math.sin(car[C_YAW])
    return car[C_X] + centre_off * cyaw, car[C_Y] + centre_off * syaw, cyaw, syaw


@njit(cache=True, nogil=True)
def _broad_phase(
    segs: np.ndarray, n_seg: int, cx: float, cy: float, reach: float, cand: np.ndarray
) -> int:
    """Store in ``cand`` the segments within ``reach`` of (cx, cy), in order; returns how many."""
    n_cand = 0
    for k in range(n_seg):
        # A segment whose bounding box is out of reach is too; the exact distance decides
        # the rest.
        ax = segs[k, 0]
        ay = segs[k, 1]
        bx = segs[k, 2]
        by = segs[k, 3]
        if min(ax, bx) - cx > reach or cx - max(ax, bx) > reach:
            continue
        if min(ay, by) - cy > reach or cy - max(ay, by) > reach:
            continue
        if point_segment_distance(cx, cy, segs[k]) <= reach:
            cand[n_cand] = k
            n_cand += 1
    return n_cand


@njit(cache=True, nogil=True)
def _drive(
    i: int,
    car: np.ndarray,
    steer_cmd: float,
    speed_cmd: float,
    steer_buf: np.ndarray,
    vp: np.ndarray,
    ep: np.ndarray,
    segs: np.ndarray,
    n_wall: int,
    cand: np.ndarray,
    n_cand: int,
) -> int:
    """Integrate the sub-steps, checking the footprint after each against the candidates.

    Returns the collision reason (``REASON_RUNNING`` when none); stops at the first contact.
    """
    half_len = 0.5 * vp[P_LENGTH]
    half_wid = vp[P_HALF_WIDTH]
    dist = 0.0
    reason = REASON_RUNNING
    dead = int(ep[E_DEAD_STEPS])
    sub_dt = ep[E_SUB_DT]
    for _ in range(int(ep[E_SUBSTEPS])):
        if dead > 0:  # the command enters the dead-time ring buffer, the oldest leaves it
            head = int(car[C_BUF_HEAD])
            target = steer_buf[i, head]
            steer_buf[i, head] = steer_cmd
            car[C_BUF_HEAD] = (head + 1) % dead
        else:
            target = steer_cmd
        dist += integrate_substep(car, target, speed_cmd, vp, sub_dt)
        cx, cy, cyaw, syaw = _footprint(car, vp)
        for c in range(n_cand):
            k = cand[c]
            if segment_hits_box(segs[k], cx, cy, cyaw, syaw, half_len, half_wid):
                reason = REASON_COLLISION_WALL if k < n_wall else REASON_COLLISION_OBSTACLE
                break
        if reason != REASON_RUNNING:
            break
    car[C_DISTANCE] += dist
    car[C_TIME] += ep[E_CONTROL_DT]
    return reason


@njit(cache=True, nogil=True)
def _update_clearance(car: np.ndarray, vp: np.ndarray, segs: np.ndarray, n_wall: int, n_seg: int):
    """Smallest footprint-to-obstacle distance so far (a metric only; end-of-step footprint)."""
    half_len = 0.5 * vp[P_LENGTH]
    half_wid = vp[P_HALF_WIDTH]
    box_radius = math.sqrt(half_len * half_len + half_wid * half_wid)
    cx, cy, cyaw, syaw = _footprint(car, vp)
    for k in range(n_wall, n_seg):
        if point_segment_distance(cx, cy, segs[k]) <= box_radius + CLEARANCE_RADIUS_M:
            d = box_segment_distance(segs[k], cx, cy, cyaw, syaw, half_len, half_wid)
            if d < car[C_MIN_CLEARANCE]:
                car[C_MIN_CLEARANCE] = d


@njit(cache=True, nogil=True)
def _update_progress(
    car: np.ndarray, centerline: np.ndarray, n_cl: int, lap: float, window: int
) -> float:
    """Project onto the centerline near the last projection; returns this step's progress, m."""
    x = car[C_X]
    y = car[C_Y]
    idx, s_local, d2 = project_local(x, y, centerline, n_cl, int(car[C_CL_IDX]), window)
    ds = unwrap_delta(s_local, car[C_S_LOCAL], lap)
    car[C_CL_IDX] = idx
    car[C_S_LOCAL] = s_local
    car[C_PROGRESS] += ds
    # Side of the centerline from the projected segment's direction.
    k2 = idx + 1 if idx + 1 < n_cl else 0
    ex = centerline[k2, 0] - centerline[idx, 0]
    ey = centerline[k2, 1] - centerline[idx, 1]
    side = ex * (car[C_Y] - centerline[idx, 1]) - ey * (car[C_X] - centerline[idx, 0])
    car[C_LATERAL] = math.copysign(math.sqrt(d2), side)
    return ds


@njit(cache=True, nogil=True)
def _end_and_reward(car: np.ndarray, ep: np.ndarray, cp_s: np.ndarray, reason: int, ds: float):
    """Count passed checkpoints, update the stuck timer, then set the end reason; returns the
    step's reward (progress, minus the collision penalty, plus the goal bonus)."""
    n_cp = cp_s.shape[0]
    while car[C_NEXT_CP] < n_cp and car[C_PROGRESS] >= cp_s[int(car[C_NEXT_CP])]:
        car[C_NEXT_CP] += 1
    if car[C_PROGRESS] > car[C_BEST_PROGRESS] + ep[E_STUCK_MIN_PROGRESS]:
        car[C_BEST_PROGRESS] = car[C_PROGRESS]
        car[C_LAST_PROGRESS_TIME] = car[C_TIME]
    reward = ds * ep[E_W_PROGRESS]
    if reason == REASON_RUNNING and car[C_NEXT_CP] >= n_cp:
        reason = REASON_GOAL_REACHED
        reward += ep[E_GOAL_BONUS]
    elif reason != REASON_RUNNING:
        reward -= ep[E_COLLISION_PENALTY]
    # Small epsilon: accumulated float time must not end an episode one step late.
    stalled = car[C_TIME] - car[C_LAST_PROGRESS_TIME] >= ep[E_STUCK_TIME] - 1e-9
    if reason == REASON_RUNNING and stalled:
        reason = REASON_STUCK
    if reason == REASON_RUNNING and car[C_TIME] >= car[C_TIME_LIMIT] - 1e-9:
        reason = REASON_TIMEOUT
    car[C_REASON] = reason
    return reward


@njit(cache=True, nogil=True)
def step_car(
    i, actions, cars, steer_buf, vp, ep, lp, segs, n_wall, n_seg, centerline, n_cl, lap_len,
    cp_s, beam_cos, beam_sin, rng, cand, scratch, scans, rewards,
):  # fmt: skip
    """One control step of car ``i`` (arrays as held by ``World``)."""
    car = cars[i]
    steer_cmd, speed_cmd = command_from_action(
        actions[i, 0], actions[i, 1], vp[P_MAX_STEER], ep[E_VMIN_CMD], ep[E_VMAX_CMD]
    )
    car[C_STEER_CMD] = steer_cmd
    car[C_SPEED_CMD] = speed_cmd
    # Broad phase once per control step: segments the footprint can reach during this step.
    half_len = 0.5 * vp[P_LENGTH]
    half_wid = vp[P_HALF_WIDTH]
    box_radius = math.sqrt(half_len * half_len + half_wid * half_wid)
    travel = (abs(car[C_SPEED]) + abs(speed_cmd)) * ep[E_CONTROL_DT] + 0.05
    cx, cy, _, _ = _footprint(car, vp)
    n_cand = _broad_phase(segs[i], n_seg[i], cx, cy, box_radius + travel, cand[i])
    reason = _drive(
        i, car, steer_cmd, speed_cmd, steer_buf, vp, ep, segs[i], n_wall[i], cand[i], n_cand
    )
    _update_clearance(car, vp, segs[i], n_wall[i], n_seg[i])
    ds = _update_progress(car, centerline[i], n_cl[i], lap_len[i], int(ep[E_WINDOW]))
    rewards[i] = _end_and_reward(car, ep, cp_s[i], reason, ds)
    observe_car(i, cars, lp, segs, n_seg, beam_cos, beam_sin, rng, scratch, scans)


@njit(cache=True, nogil=True)
def step_serial(
    actions, cars, steer_buf, vp, ep, lp, segs, n_wall, n_seg, centerline, n_cl, lap_len, cp_s,
    beam_cos, beam_sin, rng, cand, scratch, scans, rewards,
):  # fmt: skip
    """Step every car in turn (one thread)."""
    for i in range(cars.shape[0]):
        step_car(
            i, actions, cars, steer_buf, vp, ep, lp, segs, n_wall, n_seg, centerline, n_cl,
            lap_len, cp_s, beam_cos, beam_sin, rng, cand, scratch, scans, rewards,
        )  # fmt: skip


@njit(cache=True, nogil=True, parallel=True)
def step_parallel(
    actions, cars, steer_buf, vp, ep, lp, segs, n_wall, n_seg, centerline, n_cl, lap_len, cp_s,
    beam_cos, beam_sin, rng, cand, scratch, scans, rewards,
):  # fmt: skip
    """Step the cars on all threads. Call it with numba's parallel chunk size set to 1 (as
    ``World.step`` does) so that cars are handed out one at a time."""
    for i in prange(cars.shape[0]):
        step_car(
            i, actions, cars, steer_buf, vp, ep, lp, segs, n_wall, n_seg, centerline, n_cl,
            lap_len, cp_s, beam_cos, beam_sin, rng, cand, scratch, scans, rewards,
        )  # fmt: skip
