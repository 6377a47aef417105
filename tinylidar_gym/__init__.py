"""tinylidar_gym: a fast, exact 2D-LiDAR racing environment for Gymnasium.

Importing the package registers ``TinyLidar-v0``::

    import gymnasium as gym
    import tinylidar_gym  # noqa: F401  (gymnasium also finds it through its plugin entry point)

    env = gym.make("TinyLidar-v0")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tinylidar_gym.envs.registration import ENV_ID, register_envs

__version__ = "0.1.0"

register_envs()

# Heavy modules (numba, gymnasium) load on first use, so gymnasium's plugin hook stays cheap.
_LAZY = {
    "TinyLidarEnv": "tinylidar_gym.envs.tinylidar_env",
    "TinyLidarVectorEnv": "tinylidar_gym.envs.vector_env",
    "EnvConfig": "tinylidar_gym.sim.config",
    "CourseConfig": "tinylidar_gym.sim.config",
    "ObstacleConfig": "tinylidar_gym.sim.config",
    "VehicleConfig": "tinylidar_gym.sim.config",
    "LidarConfig": "tinylidar_gym.sim.config",
    "ConfigError": "tinylidar_gym.sim.config",
    "PRESETS": "tinylidar_gym.sim.config",
    "f1tenth_preset": "tinylidar_gym.sim.config",
    "kart_preset": "tinylidar_gym.sim.config",
    "EndReason": "tinylidar_gym.sim.world",
}

if TYPE_CHECKING:
    from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
    from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv
    from tinylidar_gym.sim.config import (
        PRESETS,
        ConfigError,
        CourseConfig,
        EnvConfig,
        LidarConfig,
        ObstacleConfig,
        VehicleConfig,
        f1tenth_preset,
        kart_preset,
    )
    from tinylidar_gym.sim.world import EndReason


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tinylidar_gym' has no attribute {name!r}")


__all__ = [
    "ENV_ID",
    "PRESETS",
    "ConfigError",
    "CourseConfig",
    "EndReason",
    "EnvConfig",
    "LidarConfig",
    "ObstacleConfig",
    "TinyLidarEnv",
    "TinyLidarVectorEnv",
    "VehicleConfig",
    "f1tenth_preset",
    "kart_preset",
    "register_envs",
]
