"""Registers ``TinyLidar-v0`` with gymnasium.

Also the target of the ``gymnasium.envs`` entry-point plugin, which gymnasium calls while it is
still importing itself: keep this module free of heavy imports.
"""

from __future__ import annotations

ENV_ID = "TinyLidar-v0"


def register_envs() -> None:
    """Register ``TinyLidar-v0`` (idempotent)."""
    from gymnasium.envs.registration import register, registry

    if ENV_ID in registry:
        return
    register(
        id=ENV_ID,
        entry_point="tinylidar_gym.envs.tinylidar_env:TinyLidarEnv",
        vector_entry_point="tinylidar_gym.envs.vector_env:TinyLidarVectorEnv",
        # Episodes end on their own (timeout is part of the config), so no TimeLimit wrapper.
        max_episode_steps=None,
    )
