"""``TinyLidar-v0``: drive one car around a walled course with obstacles, from LiDAR alone.

Observation
    float32 ``(n_beams,)`` ranges in metres (see :mod:`tinylidar_gym.envs.observation`).
Action
    ``Box(-1, 1, (2,))`` = [steering, speed command] (see :mod:`tinylidar_gym.envs.action`).
Reward
    ``progress_reward_per_m`` x metres of progress along the centerline this step (negative when
    driving backwards), minus ``collision_penalty`` on a collision, plus ``goal_bonus`` at the goal.
Episode end
    ``terminated``: goal_reached, collision_wall, collision_obstacle.
    ``truncated``: timeout (``max_episode_time_s``) and stuck (no progress for ``stuck_time_s``).
Seeding
    ``reset(seed=s)`` fully determines the layout and the sensor noise: the same seed and actions
    give bit-identical observations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from tinylidar_gym.envs.action import action_space, validate_action
from tinylidar_gym.envs.info import car_done, car_info
from tinylidar_gym.envs.observation import observation_space
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from tinylidar_gym.sim.world import EndReason, World
from tinylidar_gym.tracks.layout import Layout, draw_layout, with_replayed_obstacles

if TYPE_CHECKING:
    from tinylidar_gym.envs.rendering import TopDownRenderer


def resolve_config(
    config: EnvConfig | dict[str, Any] | None, overrides: dict[str, Any]
) -> EnvConfig:
    """The EnvConfig from a config (object or dict) plus top-level keyword overrides.

    Nested configs may be given as dataclasses or partial dicts, e.g.
    ``lidar={"n_beams": 541}``. Unknown names raise ``ConfigError`` with a suggestion.
    """
    base = config if isinstance(config, EnvConfig) else EnvConfig()
    if isinstance(config, dict):
        overrides = {**config, **overrides}
    return with_overrides(base, **overrides) if overrides else base


class TinyLidarEnv(gym.Env[np.ndarray, np.ndarray]):
    """A single car. Construct with ``gym.make("TinyLidar-v0", **kwargs)`` or directly.

    Args:
        config: full configuration (default: the f1tenth preset).
        render_mode: None or "rgb_array".
        **overrides: top-level :class:`EnvConfig` fields to replace,
            e.g. ``lidar={"n_beams": 541}``.

    ``reset(options=...)`` accepts ``{"obstacles": (K, 5) boxes}`` to replay a recorded obstacle
    layout instead of drawing one.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 40}

    def __init__(
        self,
        config: EnvConfig | dict[str, Any] | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        self.config = resolve_config(config, overrides)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; use one of "
                f"{self.metadata['render_modes']} or None."
            )
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.config.control_dt_s)}
        self.action_space = action_space()
        self.observation_space = observation_space(self.config.lidar)
        self.world = World(self.config, n_cars=1)
        self.layout: Layout | None = None
        self._actions = np.zeros((1, 2))
        self._renderer: TopDownRenderer | None = None
        self._done = True

    # ------------------------------------------------------------------ template pieces

    def _reset(self, options: dict[str, Any] | None) -> None:
        layout = draw_layout(self.config, self.np_random)
        if options and options.get("obstacles") is not None:
            layout = with_replayed_obstacles(layout, options["obstacles"], self.config.vehicle)
        self.layout = layout
        self.world.set_layout(0, layout.course, layout.obstacles)
        self.world.reset_car(0, layout.noise_seed, time_limit_s=layout.time_limit_s)

    def _reward(self) -> float:
        return float(self.world.rewards[0])

    def _end_reason(self) -> EndReason:
        return self.world.reason(0)

    def _info(self) -> dict[str, Any]:
        return car_info(self.world, 0)

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._reset(options)
        self._done = False
        return self.world.scans[0].copy(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError(
                "step() called on a finished episode (or before reset()); call reset() first."
            )
        self._actions[0] = validate_action(action)
        world = self.world
        world.step(self._actions)
        terminated, truncated = car_done(world, 0)
        self._done = terminated or truncated
        return world.scans[0].copy(), float(world.rewards[0]), terminated, truncated, self._info()

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array'.")
            return None
        if self._renderer is None:
            from tinylidar_gym.envs.rendering import TopDownRenderer  # Pillow: only when drawn

            self._renderer = TopDownRenderer()
        return self._renderer.render(self.world, 0)
