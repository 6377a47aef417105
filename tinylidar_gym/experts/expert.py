"""The privileged expert: plans around the obstacles, then tracks the plan with pure pursuit.

It reads the true state (pose, speed, layout) from the simulator, so it can label *any* state the
env is in, not only states on its own trajectory: DAgger asks it about states a learner visits.

    expert = Expert(env.unwrapped.config)
    action = expert.act(env.unwrapped.world, 0)      # (2,) float32 in [-1, 1]
    policy = expert.policy_for(env)                  # obs -> action, for run_episode
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from tinylidar_gym.envs.action import from_physical
from tinylidar_gym.envs.wrappers import ActionNoise
from tinylidar_gym.experts.planner import Plan, PlannerConfig, plan_path
from tinylidar_gym.sim import world as w
from tinylidar_gym.sim.config import EnvConfig


@dataclass(frozen=True)
class ExpertConfig:
    """Tuning of the expert's tracker (the planner has its own config)."""

    planner: PlannerConfig = field(default_factory=PlannerConfig)
    """Path planner and speed profile."""
    lookahead_min_wheelbases: float = 1.8
    """Pure-pursuit lookahead at standstill, in wheelbases (0.6 m for the F1TENTH car)."""
    lookahead_gain_s: float = 0.22
    """Lookahead grows by this many seconds of travel at the current speed."""
    speed_preview_s: float = 0.15
    """The speed command is taken this far ahead on the profile (actuator latency)."""
    noise_steer_std: float = 0.05
    """Collection only: std of correlated noise added to the executed steering (action units);
    the recorded labels stay the expert's clean actions, so the data shows recoveries (DART).
    Evaluation never adds noise."""
    noise_speed_std: float = 0.05
    """Collection only: std of correlated noise added to the executed speed (action units)."""
    noise_correlation_s: float = 0.3
    """Collection only: time constant of that noise."""


def with_collection_noise(env: gym.Env, cfg: ExpertConfig) -> gym.Env:
    """``env`` wrapped in the correlated action noise ``cfg`` asks for during collection, or
    ``env`` itself when the noise is off. Collection, replay and relabelling share this, so a
    recorded episode is re-driven exactly as it was collected."""
    if cfg.noise_steer_std > 0 or cfg.noise_speed_std > 0:
        std = (cfg.noise_steer_std, cfg.noise_speed_std)
        return ActionNoise(env, std, cfg.noise_correlation_s)
    return env


class Expert:
    """Plans once per layout (cached) and returns actions for any car of a :class:`World`."""

    def __init__(self, env_cfg: EnvConfig, cfg: ExpertConfig | None = None) -> None:
        self.env_cfg = env_cfg
        self.cfg = cfg or ExpertConfig()
        self._plans: dict[tuple[int, int], tuple[object, object, Plan]] = {}
        vehicle = env_cfg.vehicle
        self._wheelbase = vehicle.wheelbase_m
        self._lag_s = vehicle.steer_lag_tau_s
        self._max_steer = vehicle.max_steer_rad
        self._max_rate = vehicle.max_steer_rate_radps
        self._sub_dt = env_cfg.substep_dt_s
        planner = self.cfg.planner
        # The speed profile never asks for more than the car or the action range can give.
        self._planner_cfg = dataclasses.replace(
            planner,
            max_speed_mps=min(planner.max_speed_mps, env_cfg.max_speed_command_mps),
            max_accel_mps2=min(planner.max_accel_mps2, vehicle.max_accel_mps2),
            max_decel_mps2=min(planner.max_decel_mps2, vehicle.max_decel_mps2),
        )

    def plan_for(self, world: w.World, i: int) -> Plan:
        """The (cached) plan for car ``i``'s current course and obstacles."""
        course, obstacles = world.courses[i], world.obstacles[i]
        if course is None or obstacles is None:
            raise RuntimeError("the env has no layout yet; call reset() first.")
        key = (id(course), id(obstacles))
        cached = self._plans.get(key)
        # Keep references to the keyed objects so their ids cannot be reused while cached.
        if cached is None or cached[0] is not course or cached[1] is not obstacles:
            if len(self._plans) > 256:
                self._plans.clear()
            cached = (
                course,
                obstacles,
                plan_path(course, obstacles, self.env_cfg.vehicle, self._planner_cfg),
            )
            self._plans[key] = cached
        return cached[2]

    def act(self, world: w.World, i: int = 0) -> np.ndarray:
        """Action (2,) float32 for car ``i`` in its current state."""
        plan = self.plan_for(world, i)
        x, y, yaw = world.pose(i)
        v = world.speed(i)
        if world.dead_steps > 0 or self._lag_s > 0.0:
            # Steer for where the car will be when this command takes effect: replay the
            # commands already in the dead-time pipeline, then the lag at constant steering.
            x, y, yaw = self._predict_pose(world, i, x, y, yaw, v)
        n = len(plan.s)
        step = plan.lap_m / n
        k, _ = _nearest_on_plan(plan, world.lap_position_m(i), x, y)
        lookahead = (
            self.cfg.lookahead_min_wheelbases * self._wheelbase
            + self.cfg.lookahead_gain_s * max(v, 0.0)
        )
        kt = (k + max(1, int(round(lookahead / step)))) % n
        dx, dy = plan.xy[kt, 0] - x, plan.xy[kt, 1] - y
        alpha = math.atan2(dy, dx) - yaw
        dist = math.hypot(dx, dy)
        steer = math.atan2(2.0 * self._wheelbase * math.sin(alpha), max(dist, 1e-3))
        ks = (k + int(round(max(v, 0.0) * self.cfg.speed_preview_s / step))) % n
        return from_physical(steer, float(plan.speed[ks]), self.env_cfg)

    def path_deviation_m(self, world: w.World, i: int = 0) -> float:
        """Distance from car ``i``'s rear axle to the nearest point of its plan, metres: how far
        it is from where the expert would drive (DAgger hands control back to the expert past a
        limit)."""
        x, y, _ = world.pose(i)
        return _nearest_on_plan(self.plan_for(world, i), world.lap_position_m(i), x, y)[1]

    def _predict_pose(
        self, world: w.World, i: int, x: float, y: float, yaw: float, v: float
    ) -> tuple[float, float, float]:
        steer = world.steer(i)
        dt = self._sub_dt
        lag = max(self._lag_s, dt)
        for target in world.pending_steer_commands(i):
            target = float(target)
            target = min(max(target, -self._max_steer), self._max_steer)
            rate = min(max((target - steer) / lag, -self._max_rate), self._max_rate)
            steer = min(max(steer + rate * dt, -self._max_steer), self._max_steer)
            yaw_rate = v * math.tan(steer) / self._wheelbase
            x += v * math.cos(yaw) * dt
            y += v * math.sin(yaw) * dt
            yaw += yaw_rate * dt
        n = int(math.ceil(self._lag_s / dt))
        yaw_rate = v * math.tan(steer) / self._wheelbase
        for _ in range(n):
            x += v * math.cos(yaw) * dt
            y += v * math.sin(yaw) * dt
            yaw += yaw_rate * dt
        return x, y, yaw

    def act_all(self, world: w.World) -> np.ndarray:
        """Actions (n_cars, 2) float32 for every car of ``world`` (e.g. a vector env's)."""
        return np.stack([self.act(world, i) for i in range(world.n_cars)])

    def policy_for(self, env: gym.Env):
        """A ``policy(obs) -> action`` bound to ``env`` (it ignores ``obs``: it is privileged)."""
        world = env.unwrapped.world  # type: ignore[attr-defined]
        return lambda obs: self.act(world, 0)


def _nearest_on_plan(plan: Plan, lap_position_m: float, x: float, y: float) -> tuple[int, float]:
    """(index, distance in m) of the plan point nearest to (x, y), searched around the car's own
    centerline projection at ``lap_position_m`` (the simulator's), so a lap's far side is never
    matched."""
    n = len(plan.s)
    k0 = int(round(lap_position_m / (plan.lap_m / n))) % n
    window = np.arange(k0 - 10, k0 + 11) % n
    d2 = (plan.xy[window, 0] - x) ** 2 + (plan.xy[window, 1] - y) ** 2
    j = int(np.argmin(d2))
    return int(window[j]), math.sqrt(float(d2[j]))
