"""The privileged expert: plans around the obstacles, then tracks the plan with pure pursuit.

It reads the true state (pose, speed, layout) from the simulator, so it can label *any* state the
env is in, not only states on its own trajectory: DAgger asks it about states a learner visits.

    expert = Expert(env.unwrapped.config)
    action = expert.act(env.unwrapped.world, 0)      # (2,) float32 in [-1, 1]
    policy = expert.policy_for(env)                  # obs -> action, for run_episode
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from tinylidar_gym.envs.action import from_physical
from tinylidar_gym.experts.planner import Plan, PlannerConfig, plan_path
from tinylidar_gym.sim import world as w
from tinylidar_gym.sim.config import EnvConfig


@dataclass(frozen=True)
class ExpertConfig:
    """Tuning of the expert's tracker (the planner has its own config)."""

    planner: PlannerConfig = field(default_factory=PlannerConfig)
    """Path planner and speed profile."""
    lookahead_min_m: float = 0.6
    """Pure-pursuit lookahead at standstill."""
    lookahead_gain_s: float = 0.22
    """Lookahead grows by this many seconds of travel at the current speed."""
    speed_preview_s: float = 0.15
    """The speed command is taken this far ahead on the profile (actuator latency)."""


class Expert:
    """Plans once per layout (cached) and returns actions for any car of a :class:`World`."""

    def __init__(self, env_cfg: EnvConfig, cfg: ExpertConfig | None = None) -> None:
        self.env_cfg = env_cfg
        self.cfg = cfg or ExpertConfig()
        self._plans: dict[tuple[int, int], tuple[object, object, Plan]] = {}

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
                plan_path(course, obstacles, self.env_cfg.vehicle, self.cfg.planner),
            )
            self._plans[key] = cached
        return cached[2]

    def act(self, world: w.World, i: int = 0) -> np.ndarray:
        """Action (2,) float32 for car ``i`` in its current state."""
        plan = self.plan_for(world, i)
        car = world.cars[i]
        x, y, yaw, v = car[w.C_X], car[w.C_Y], car[w.C_YAW], car[w.C_SPEED]
        n = len(plan.s)
        step = plan.lap_m / n
        # The simulator's own centerline projection locates the car on the plan's grid.
        k0 = int(round(car[w.C_S_LOCAL] / step)) % n
        window = np.arange(k0 - 10, k0 + 11) % n
        d2 = (plan.xy[window, 0] - x) ** 2 + (plan.xy[window, 1] - y) ** 2
        k = int(window[int(np.argmin(d2))])
        lookahead = self.cfg.lookahead_min_m + self.cfg.lookahead_gain_s * max(v, 0.0)
        kt = (k + max(1, int(round(lookahead / step)))) % n
        dx, dy = plan.xy[kt, 0] - x, plan.xy[kt, 1] - y
        alpha = math.atan2(dy, dx) - yaw
        dist = math.hypot(dx, dy)
        wheelbase = self.env_cfg.vehicle.wheelbase_m
        steer = math.atan2(2.0 * wheelbase * math.sin(alpha), max(dist, 1e-3))
        ks = (k + int(round(max(v, 0.0) * self.cfg.speed_preview_s / step))) % n
        return from_physical(steer, float(plan.speed[ks]), self.env_cfg)

    def act_all(self, world: w.World) -> np.ndarray:
        """Actions (n_cars, 2) float32 for every car of ``world`` (e.g. a vector env's)."""
        return np.stack([self.act(world, i) for i in range(world.n_cars)])

    def policy_for(self, env: gym.Env):
        """A ``policy(obs) -> action`` bound to ``env`` (it ignores ``obs``: it is privileged)."""
        world = env.unwrapped.world  # type: ignore[attr-defined]
        return lambda obs: self.act(world, 0)
