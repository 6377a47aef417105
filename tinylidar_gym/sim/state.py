"""The packed layout of the simulator's arrays: car-state columns, parameter slots, end reasons.

Only the simulator (``sim/``) and the env's info builder (``envs/info.py``) read these columns;
everything else goes through :class:`tinylidar_gym.sim.world.World`'s accessors.
"""

from __future__ import annotations

from enum import IntEnum

# End reasons as plain ints, for the compiled kernel (EndReason below names the same values).
REASON_RUNNING = 0
REASON_GOAL_REACHED = 1
REASON_COLLISION_WALL = 2
REASON_COLLISION_OBSTACLE = 3
REASON_TIMEOUT = 4
REASON_STUCK = 5


class EndReason(IntEnum):
    """Why an episode ended (``RUNNING`` while it has not)."""

    RUNNING = REASON_RUNNING
    GOAL_REACHED = REASON_GOAL_REACHED
    COLLISION_WALL = REASON_COLLISION_WALL
    COLLISION_OBSTACLE = REASON_COLLISION_OBSTACLE
    TIMEOUT = REASON_TIMEOUT
    STUCK = REASON_STUCK

    @property
    def label(self) -> str:
        """Lower-case name, as in ``info["end_reason"]`` (e.g. ``"collision_wall"``)."""
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
C_TIME_LIMIT = 19  # this episode's time limit, s (scales with the lap length)
N_CAR_STATE = 20

# Packed env parameters.
E_SUBSTEPS, E_SUB_DT, E_VMIN_CMD, E_VMAX_CMD, E_MAX_TIME = 0, 1, 2, 3, 4
E_STUCK_TIME, E_STUCK_MIN_PROGRESS, E_W_PROGRESS, E_COLLISION_PENALTY = 5, 6, 7, 8
E_GOAL_BONUS, E_CONTROL_DT, E_WINDOW, E_DEAD_STEPS = 9, 10, 11, 12
N_ENV_PARAMS = 13

# Packed lidar parameters.
L_ANGLE_MIN, L_ANGLE_INC, L_MAX_RANGE, L_NOISE_STD, L_MOUNT = 0, 1, 2, 3, 4
N_LIDAR_PARAMS = 5

CLEARANCE_RADIUS_M = 2.0
"""Obstacles farther than this from the footprint are not measured for clearance."""
