"""One step of everything, for N cars at once, in one compiled call.

``World`` owns flat preallocated arrays (cars, geometry, scans) and steps them with a numba kernel:
vehicle sub-steps with collision checks, progress and checkpoints, end conditions, reward, and one
LiDAR scan per car. The single env is a World with one car and the vector env a World with N; both
run the same per-car kernel, so their results are bit-identical.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
from numba import njit, prange

from tinylidar_gym.sim.collision import (
    box_segment_distance,
    point_segment_distance,
    segment_hits_box,
)
from tinylidar_gym.sim.config import EnvConfig
from tinylidar_gym.sim.course import Course
from tinylidar_gym.sim.lidar import beam_directions, cast_scan
from tinylidar_gym.sim.obstacles import Obstacles
from tinylidar_gym.sim.progress import (
    checkpoint_positions,
    project_global,
    project_local,
    unwrap_delta,
)
from tinylidar_gym.sim.vehicle import (
    P_HALF_WIDTH,
    P_LENGTH,
    P_MAX_STEER,
    P_REAR_OVERHANG,
    dead_time_steps,
    integrate_substep,
    pack_vehicle_params,
)


class EndReason(IntEnum):
    """Why an episode ended (``RUNNING`` while it has not)."""

    RUNNING = 0
    GOAL_REACHED = 1
    COLLISION_WALL = 2
    COLLISION_OBSTACLE = 3
    TIMEOUT = 4
    STUCK = 5

    @property
    def label(self) -> str:
        return self.name.lower()


# Columns of the per-car state array.
C_X, C_Y, C_YAW, C_SPEED, C_STEER = 0, 1, 2, 3, 4
C_PROGRESS = 5  # unwrapped arc length since the start line, m
C_BEST_PROGRESS = 6  # best progress that reset the stuck timer, m
C_CL_IDX = 7  # centerline segment of the last projection
C_TIME = 8  # simulated time, s
C_LAST_PROGRESS_TIME = 9
C_DISTANCE = 10  # distance driven, m
C_NEXT_CP = 11  # index of the next checkpoint (= passed count)
C_REASON = 12  # EndReason
C_BUF_HEAD = 13  # steering dead-time ring buffer head
C_MIN_CLEARANCE = 14  # smallest footprint-obstacle distance seen, m (inf if none near)
C_S_LOCAL = 15  # arc length of the last projection in [0, lap)
C_STEER_CMD = 16  # last steering command, rad
C_SPEED_CMD = 17  # last speed command, m/s
C_LATERAL = 18  # signed distance from the centerline (left positive), m
N_CAR_STATE = 19

# Packed env parameters.
E_SUBSTEPS, E_SUB_DT, E_VMIN_CMD, E_VMAX_CMD, E_MAX_TIME = 0, 1, 2, 3, 4
E_STUCK_TIME, E_STUCK_MIN_PROGRESS, E_W_PROGRESS, E_COLLISION_PENALTY = 5, 6, 7, 8
E_GOAL_BONUS, E_CONTROL_DT, E_WINDOW, E_DEAD_STEPS = 9, 10, 11, 12
N_ENV_PARAMS = 13

# Packed lidar parameters.
L_ANGLE_MIN, L_ANGLE_INC, L_MAX_RANGE, L_NOISE_STD, L_MOUNT = 0, 1, 2, 3, 4

CLEARANCE_RADIUS_M = 2.0
"""Obstacles farther than this from the footprint are not measured for clearance."""


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
def _observe_car(
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
    yaw = cars[i, C_YAW]
    sx = cars[i, C_X] + lp[L_MOUNT] * math.cos(yaw)
    sy = cars[i, C_Y] + lp[L_MOUNT] * math.sin(yaw)
    buf = scratch[i]
    cast_scan(
        sx,
        sy,
        yaw,
        segs[i],
        n_seg[i],
        beam_cos,
        beam_sin,
        lp[L_ANGLE_MIN],
        lp[L_ANGLE_INC],
        lp[L_MAX_RANGE],
        buf,
    )
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
def _step_car(
    i: int,
    actions: np.ndarray,
    cars: np.ndarray,
    steer_buf: np.ndarray,
    vp: np.ndarray,
    ep: np.ndarray,
    lp: np.ndarray,
    segs: np.ndarray,
    n_wall: np.ndarray,
    n_seg: np.ndarray,
    centerline: np.ndarray,
    n_cl: np.ndarray,
    lap_len: np.ndarray,
    cp_s: np.ndarray,
    beam_cos: np.ndarray,
    beam_sin: np.ndarray,
    rng: np.ndarray,
    cand: np.ndarray,
    scratch: np.ndarray,
    scans: np.ndarray,
    rewards: np.ndarray,
) -> None:
    car = cars[i]
    a0 = min(max(actions[i, 0], -1.0), 1.0)
    a1 = min(max(actions[i, 1], -1.0), 1.0)
    steer_cmd = a0 * vp[P_MAX_STEER]
    speed_cmd = ep[E_VMIN_CMD] + 0.5 * (a1 + 1.0) * (ep[E_VMAX_CMD] - ep[E_VMIN_CMD])
    car[C_STEER_CMD] = steer_cmd
    car[C_SPEED_CMD] = speed_cmd

    length = vp[P_LENGTH]
    half_len = 0.5 * length
    half_wid = vp[P_HALF_WIDTH]
    centre_off = half_len - vp[P_REAR_OVERHANG]
    box_radius = math.sqrt(half_len * half_len + half_wid * half_wid)
    control_dt = ep[E_CONTROL_DT]
    travel = (abs(car[C_SPEED]) + abs(speed_cmd)) * control_dt + 0.05

    # Broad phase once per control step: segments the footprint can reach during this step.
    cx = car[C_X] + centre_off * math.cos(car[C_YAW])
    cy = car[C_Y] + centre_off * math.sin(car[C_YAW])
    n_cand = 0
    reach = box_radius + travel
    for k in range(n_seg[i]):
        if point_segment_distance(cx, cy, segs[i, k]) <= reach:
            cand[i, n_cand] = k
            n_cand += 1

    reason = 0
    dist = 0.0
    n_sub = int(ep[E_SUBSTEPS])
    dead = int(ep[E_DEAD_STEPS])
    sub_dt = ep[E_SUB_DT]
    for _ in range(n_sub):
        if dead > 0:
            head = int(car[C_BUF_HEAD])
            target = steer_buf[i, head]
            steer_buf[i, head] = steer_cmd
            car[C_BUF_HEAD] = (head + 1) % dead
        else:
            target = steer_cmd
        dist += integrate_substep(car, target, speed_cmd, vp, sub_dt)
        cyaw = math.cos(car[C_YAW])
        syaw = math.sin(car[C_YAW])
        cx = car[C_X] + centre_off * cyaw
        cy = car[C_Y] + centre_off * syaw
        for c in range(n_cand):
            k = cand[i, c]
            if segment_hits_box(segs[i, k], cx, cy, cyaw, syaw, half_len, half_wid):
                reason = 2 if k < n_wall[i] else 3
                break
        if reason != 0:
            break
    car[C_DISTANCE] += dist
    car[C_TIME] += control_dt

    # Clearance to obstacles (a metric only; the footprint at the end of the step).
    cyaw = math.cos(car[C_YAW])
    syaw = math.sin(car[C_YAW])
    cx = car[C_X] + centre_off * cyaw
    cy = car[C_Y] + centre_off * syaw
    for k in range(n_wall[i], n_seg[i]):
        if point_segment_distance(cx, cy, segs[i, k]) <= box_radius + CLEARANCE_RADIUS_M:
            d = box_segment_distance(segs[i, k], cx, cy, cyaw, syaw, half_len, half_wid)
            if d < car[C_MIN_CLEARANCE]:
                car[C_MIN_CLEARANCE] = d

    # Progress along the centerline.
    lap = lap_len[i]
    idx, s_local, d2 = project_local(
        car[C_X], car[C_Y], centerline[i], n_cl[i], int(car[C_CL_IDX]), int(ep[E_WINDOW])
    )
    ds = unwrap_delta(s_local, car[C_S_LOCAL], lap)
    car[C_CL_IDX] = idx
    car[C_S_LOCAL] = s_local
    car[C_PROGRESS] += ds
    # Side of the centerline from the projected segment's direction.
    j = idx
    k2 = j + 1 if j + 1 < n_cl[i] else 0
    ex = centerline[i, k2, 0] - centerline[i, j, 0]
    ey = centerline[i, k2, 1] - centerline[i, j, 1]
    side = ex * (car[C_Y] - centerline[i, j, 1]) - ey * (car[C_X] - centerline[i, j, 0])
    car[C_LATERAL] = math.copysign(math.sqrt(d2), side)

    n_cp = cp_s.shape[1]
    while car[C_NEXT_CP] < n_cp and car[C_PROGRESS] >= cp_s[i, int(car[C_NEXT_CP])]:
        car[C_NEXT_CP] += 1
    if car[C_PROGRESS] > car[C_BEST_PROGRESS] + ep[E_STUCK_MIN_PROGRESS]:
        car[C_BEST_PROGRESS] = car[C_PROGRESS]
        car[C_LAST_PROGRESS_TIME] = car[C_TIME]

    reward = ds * ep[E_W_PROGRESS]
    if reason == 0 and car[C_NEXT_CP] >= n_cp:
        reason = 1
        reward += ep[E_GOAL_BONUS]
    elif reason != 0:
        reward -= ep[E_COLLISION_PENALTY]
    # Small epsilon: accumulated float time must not end an episode one step late.
    if reason == 0 and car[C_TIME] - car[C_LAST_PROGRESS_TIME] >= ep[E_STUCK_TIME] - 1e-9:
        reason = 5
    if reason == 0 and car[C_TIME] >= ep[E_MAX_TIME] - 1e-9:
        reason = 4
    car[C_REASON] = reason
    rewards[i] = reward
    _observe_car(i, cars, lp, segs, n_seg, beam_cos, beam_sin, rng, scratch, scans)


@njit(cache=True, nogil=True)
def _step_serial(
    actions, cars, steer_buf, vp, ep, lp, segs, n_wall, n_seg, centerline, n_cl, lap_len, cp_s,
    beam_cos, beam_sin, rng, cand, scratch, scans, rewards,
):  # fmt: skip
    for i in range(cars.shape[0]):
        _step_car(
            i, actions, cars, steer_buf, vp, ep, lp, segs, n_wall, n_seg, centerline, n_cl,
            lap_len, cp_s, beam_cos, beam_sin, rng, cand, scratch, scans, rewards,
        )  # fmt: skip


@njit(cache=True, nogil=True, parallel=True)
def _step_parallel(
    actions, cars, steer_buf, vp, ep, lp, segs, n_wall, n_seg, centerline, n_cl, lap_len, cp_s,
    beam_cos, beam_sin, rng, cand, scratch, scans, rewards,
):  # fmt: skip
    for i in prange(cars.shape[0]):
        _step_car(
            i, actions, cars, steer_buf, vp, ep, lp, segs, n_wall, n_seg, centerline, n_cl,
            lap_len, cp_s, beam_cos, beam_sin, rng, cand, scratch, scans, rewards,
        )  # fmt: skip


def _grow(arr: np.ndarray, axis: int, size: int) -> np.ndarray:
    if arr.shape[axis] >= size:
        return arr
    shape = list(arr.shape)
    shape[axis] = max(size, 2 * arr.shape[axis])
    out = np.zeros(shape, dtype=arr.dtype)
    out[tuple(slice(0, s) for s in arr.shape)] = arr
    return out


class World:
    """N independent cars, each with its own course and obstacle layout, stepped together.

    Args:
        cfg: shared configuration (vehicle, lidar, timing, rewards).
        n_cars: number of cars.
        parallel: step cars on all cores (worth it from a few cars up).
    """

    def __init__(self, cfg: EnvConfig, n_cars: int = 1, parallel: bool = False) -> None:
        if n_cars < 1:
            raise ValueError(f"n_cars must be >= 1, got {n_cars}.")
        self.cfg = cfg
        self.n_cars = n_cars
        self.parallel = parallel
        n_beams = cfg.lidar.n_beams
        self.vehicle_params = pack_vehicle_params(cfg.vehicle)
        self.beam_cos, self.beam_sin = beam_directions(cfg.lidar)
        lc = cfg.lidar
        self.lidar_params = np.array(
            [
                lc.angle_min_rad,
                lc.angle_increment_rad,
                lc.max_range_m,
                lc.noise_std_m,
                lc.mount_offset_m,
            ]
        )
        self.dead_steps = dead_time_steps(cfg.vehicle, cfg.substep_dt_s)
        self.env_params = np.zeros(N_ENV_PARAMS)
        ep = self.env_params
        ep[E_SUBSTEPS] = cfg.substeps
        ep[E_SUB_DT] = cfg.substep_dt_s
        ep[E_VMIN_CMD] = cfg.min_speed_command_mps
        ep[E_VMAX_CMD] = cfg.max_speed_command_mps
        ep[E_MAX_TIME] = cfg.max_episode_time_s
        ep[E_STUCK_TIME] = cfg.stuck_time_s
        ep[E_STUCK_MIN_PROGRESS] = cfg.stuck_min_progress_m
        ep[E_W_PROGRESS] = cfg.progress_reward_per_m
        ep[E_COLLISION_PENALTY] = cfg.collision_penalty
        ep[E_GOAL_BONUS] = cfg.goal_bonus
        ep[E_CONTROL_DT] = cfg.control_dt_s
        ep[E_WINDOW] = 3
        ep[E_DEAD_STEPS] = self.dead_steps

        self.cars = np.zeros((n_cars, N_CAR_STATE))
        self.steer_buf = np.zeros((n_cars, max(1, self.dead_steps)))
        self.segs = np.zeros((n_cars, 16, 4))
        self.n_wall = np.zeros(n_cars, dtype=np.int64)
        self.n_seg = np.zeros(n_cars, dtype=np.int64)
        self.centerline = np.zeros((n_cars, 16, 3))
        self.n_cl = np.ones(n_cars, dtype=np.int64)
        self.lap_len = np.ones(n_cars)
        self.cp_s = np.zeros((n_cars, cfg.n_checkpoints))
        self.rng = np.zeros(n_cars, dtype=np.uint64)
        self.cand = np.zeros((n_cars, 16), dtype=np.int64)
        self.scratch = np.zeros((n_cars, n_beams))
        self.scans = np.zeros((n_cars, n_beams), dtype=np.float32)
        self.rewards = np.zeros(n_cars)
        self.courses: list[Course | None] = [None] * n_cars
        self.obstacles: list[Obstacles | None] = [None] * n_cars
        self._windows = np.full(n_cars, 3, dtype=np.int64)

    # ------------------------------------------------------------------ layout and reset

    def set_layout(self, i: int, course: Course, obstacles: Obstacles) -> None:
        """Give car ``i`` its course and obstacles (geometry is copied into packed arrays)."""
        walls = course.walls
        obs_segs = obstacles.segments
        n_total = len(walls) + len(obs_segs)
        self.segs = _grow(self.segs, 1, n_total)
        self.cand = _grow(self.cand, 1, n_total)
        self.segs[i, len(walls) : n_total] = obs_segs
        self.n_seg[i] = n_total
        if self.courses[i] is not course:  # resets on the same course only swap obstacles
            self._set_course(i, course)
        self.obstacles[i] = obstacles

    def _set_course(self, i: int, course: Course) -> None:
        walls = course.walls
        self.segs[i, : len(walls)] = walls
        self.n_wall[i] = len(walls)
        cl = course.centerline
        arc = course.arc_length
        self.centerline = _grow(self.centerline, 1, len(cl) + 1)
        self.centerline[i, : len(cl), :2] = cl
        self.centerline[i, : len(cl), 2] = arc[:-1]
        self.centerline[i, len(cl), :2] = cl[0]
        self.centerline[i, len(cl), 2] = arc[-1]
        self.n_cl[i] = len(cl)
        self.lap_len[i] = arc[-1]
        self.cp_s[i] = checkpoint_positions(arc[-1], self.cfg.n_checkpoints, self.cfg.laps)
        # Search window: enough centerline segments to cover the fastest step, plus slack.
        min_seg = float(np.diff(arc).min())
        max_step = self.cfg.vehicle.max_speed_mps * self.cfg.control_dt_s
        self._windows[i] = int(math.ceil(max_step / max(min_seg, 1e-6))) + 2
        self.env_params[E_WINDOW] = float(self._windows.max())
        self.courses[i] = course

    def reset_car(
        self, i: int, noise_seed: int, pose: tuple[float, float, float] | None = None
    ) -> None:
        """Place car ``i`` at rest on its start line (or ``pose``) and take the first scan."""
        course = self.courses[i]
        if course is None:
            raise RuntimeError(f"car {i} has no layout; call set_layout first.")
        x, y, yaw = pose if pose is not None else course.start_pose()
        car = self.cars[i]
        car[:] = 0.0
        car[C_X], car[C_Y], car[C_YAW] = x, y, yaw
        car[C_MIN_CLEARANCE] = np.inf
        idx, s = project_global(x, y, self.centerline[i], int(self.n_cl[i]))
        car[C_CL_IDX] = idx
        car[C_S_LOCAL] = s
        self.steer_buf[i] = 0.0
        self.rng[i] = np.uint64(noise_seed)
        _observe_car(
            i,
            self.cars,
            self.lidar_params,
            self.segs,
            self.n_seg,
            self.beam_cos,
            self.beam_sin,
            self.rng,
            self.scratch,
            self.scans,
        )

    # ------------------------------------------------------------------ stepping

    def step(self, actions: np.ndarray) -> None:
        """Advance every car by one control step. ``actions``: (n_cars, 2) float64 in [-1, 1]."""
        kernel = _step_parallel if self.parallel else _step_serial
        kernel(
            actions,
            self.cars,
            self.steer_buf,
            self.vehicle_params,
            self.env_params,
            self.lidar_params,
            self.segs,
            self.n_wall,
            self.n_seg,
            self.centerline,
            self.n_cl,
            self.lap_len,
            self.cp_s,
            self.beam_cos,
            self.beam_sin,
            self.rng,
            self.cand,
            self.scratch,
            self.scans,
            self.rewards,
        )

    def reason(self, i: int) -> EndReason:
        return EndReason(int(self.cars[i, C_REASON]))
