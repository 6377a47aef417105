"""N cars, each with its own course and obstacle layout, stepped together in one compiled call.

``World`` owns flat preallocated arrays (cars, geometry, scans) and steps them with the kernel of
:mod:`tinylidar_gym.sim.kernel`: vehicle sub-steps with collision checks, progress and
checkpoints, end conditions, reward, and one LiDAR scan per car. The single env is a World with
one car and the vector env a World with N; both run the same per-car kernel, so their results
are bit-identical. Code outside the simulator reads a car through the accessors (``pose``,
``speed``, ``reason``, ...), never through the packed columns of ``cars``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import set_parallel_chunksize

from tinylidar_gym.sim.config import EnvConfig
from tinylidar_gym.sim.course import Course
from tinylidar_gym.sim.kernel import observe_car, step_parallel, step_serial
from tinylidar_gym.sim.lidar import beam_directions
from tinylidar_gym.sim.obstacles import Obstacles
from tinylidar_gym.sim.progress import checkpoint_positions, project_global
from tinylidar_gym.sim.state import (  # noqa: F401  (re-exported: the packed layout)
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
    C_STEER,
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
    E_MAX_TIME,
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
    N_CAR_STATE,
    N_ENV_PARAMS,
    REASON_COLLISION_OBSTACLE,
    REASON_COLLISION_WALL,
    REASON_GOAL_REACHED,
    REASON_RUNNING,
    REASON_STUCK,
    REASON_TIMEOUT,
    EndReason,
)
from tinylidar_gym.sim.vehicle import dead_time_steps, pack_vehicle_params


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
        self._arrays: tuple[np.ndarray, ...] | None = None

    # ------------------------------------------------------------------ layout and reset

    def set_layout(self, i: int, course: Course, obstacles: Obstacles) -> None:
        """Give car ``i`` its course and obstacles (geometry is copied into packed arrays)."""
        walls = course.walls
        obs_segs = obstacles.segments
        n_total = len(walls) + len(obs_segs)
        self._arrays = None
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
        self,
        i: int,
        noise_seed: int,
        pose: tuple[float, float, float] | None = None,
        time_limit_s: float | None = None,
    ) -> None:
        """Place car ``i`` at rest on its start line (or ``pose``) and take the first scan.
        ``time_limit_s``: this episode's time limit (default ``max_episode_time_s``)."""
        course = self.courses[i]
        if course is None:
            raise RuntimeError(f"car {i} has no layout; call set_layout first.")
        x, y, yaw = pose if pose is not None else course.start_pose()
        car = self.cars[i]
        car[:] = 0.0
        car[C_X], car[C_Y], car[C_YAW] = x, y, yaw
        car[C_MIN_CLEARANCE] = np.inf
        car[C_TIME_LIMIT] = self.env_params[E_MAX_TIME] if time_limit_s is None else time_limit_s
        idx, s = project_global(x, y, self.centerline[i], int(self.n_cl[i]))
        car[C_CL_IDX] = idx
        car[C_S_LOCAL] = s
        self.steer_buf[i] = 0.0
        self.rng[i] = np.uint64(noise_seed)
        observe_car(
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
        arrays = self._arrays
        if arrays is None:  # once per layout: the arrays may have grown
            arrays = self._arrays = (
                self.cars, self.steer_buf, self.vehicle_params, self.env_params,
                self.lidar_params, self.segs, self.n_wall, self.n_seg, self.centerline,
                self.n_cl, self.lap_len, self.cp_s, self.beam_cos, self.beam_sin, self.rng,
                self.cand, self.scratch, self.scans, self.rewards,
            )  # fmt: skip
        if not self.parallel:
            step_serial(actions, *arrays)
            return
        # Dynamic scheduling: threads take one car at a time, so a thread slowed down by another
        # process on its core steps fewer cars instead of holding up the whole step (a static
        # split waits for its slowest thread).
        previous = set_parallel_chunksize(1)
        try:
            step_parallel(actions, *arrays)
        finally:
            set_parallel_chunksize(previous)

    # ------------------------------------------------------------------ reading a car

    def reason(self, i: int) -> EndReason:
        """Why car ``i``'s episode ended (``EndReason.RUNNING`` while it has not)."""
        return EndReason(int(self.cars[i, C_REASON]))

    def pose(self, i: int) -> tuple[float, float, float]:
        """Car ``i``'s rear-axle pose ``(x_m, y_m, yaw_rad)`` in the course frame."""
        car = self.cars[i]
        return float(car[C_X]), float(car[C_Y]), float(car[C_YAW])

    def speed(self, i: int) -> float:
        """Car ``i``'s speed along its heading, m/s (negative when reversing)."""
        return float(self.cars[i, C_SPEED])

    def steer(self, i: int) -> float:
        """Car ``i``'s current steering angle, rad (positive = left)."""
        return float(self.cars[i, C_STEER])

    def progress_m(self, i: int) -> float:
        """Signed arc length car ``i`` has driven along the centerline since the start, m."""
        return float(self.cars[i, C_PROGRESS])

    def checkpoints_passed(self, i: int) -> int:
        """How many checkpoints car ``i`` has passed, in order (the last is the finish)."""
        return int(self.cars[i, C_NEXT_CP])

    def lap_position_m(self, i: int) -> float:
        """Arc length of car ``i``'s projection onto the centerline, in [0, lap length), m."""
        return float(self.cars[i, C_S_LOCAL])

    def pending_steer_commands(self, i: int) -> np.ndarray:
        """(dead_steps,) steering commands (rad) still in car ``i``'s dead-time pipeline, the
        one that takes effect next first; empty without dead time."""
        dead = self.dead_steps
        head = int(self.cars[i, C_BUF_HEAD])
        return np.array([self.steer_buf[i, (head + j) % dead] for j in range(dead)])

    def segments(self, i: int) -> np.ndarray:
        """(S, 4) rows ``ax, ay, bx, by``: car ``i``'s walls, then its obstacles' sides (a view)."""
        return self.segs[i, : int(self.n_seg[i])]

    def snapshot(self, i: int) -> np.ndarray:
        """A copy of car ``i``'s whole state, for :meth:`restore`."""
        return self.cars[i].copy()

    def restore(self, i: int, snapshot: np.ndarray) -> None:
        """Put back a state taken by :meth:`snapshot`."""
        self.cars[i] = snapshot

    def place(self, i: int, pose: tuple[float, float, float]) -> None:
        """Move car ``i`` to ``pose`` (rear axle, rad) and re-project it onto the centerline;
        speed, steering, time and progress stay as they are (to ask what a policy would do
        there)."""
        car = self.cars[i]
        car[C_X], car[C_Y], car[C_YAW] = pose
        car[C_CL_IDX], car[C_S_LOCAL] = project_global(
            pose[0], pose[1], self.centerline[i], int(self.n_cl[i])
        )
