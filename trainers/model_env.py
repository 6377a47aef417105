"""The env a model may drive in: its own, with the course, obstacles and episode rules changed.

A model is trained for one sensor and one car interface: the beam count, field of view, range and
mount of the LiDAR, the action mapping (steering and speed-command limits), the control rate and
the car's dynamics. Those must match the model's env config exactly; the course, the obstacles
and the episode rules (time limit, laps, checkpoints) may change, which is what evaluating a
model "on any course" means. Changes are partial nested dicts over :class:`EnvConfig`
(``{"course": {"kind": "map", "map_yaml": "..."}, "obstacles": {"count": 0}}``), so a new field
of ``CourseConfig`` or ``ObstacleConfig`` is free to change without any code here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from tinylidar_gym.sim.config import EnvConfig, config_from_dict, config_to_dict
from tinylidar_gym.sim.errors import UserError

FREE: tuple[str, ...] = ("course", "obstacles", "max_episode_time_s", "laps", "n_checkpoints")
"""Top-level :class:`EnvConfig` fields (whole sections included) that may differ from the
model's env; every other field is part of the model's contract and must match it."""


class ModelContractError(UserError, ValueError):
    """An env field that is part of a model's contract differs from the model's value."""


def _leaves(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple, Any]]:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def env_changes(env: EnvConfig, base: EnvConfig | None = None) -> dict[str, Any]:
    """The fields of ``env`` that differ from ``base`` (default: ``EnvConfig()``), as a partial
    nested dict (e.g. the env flags given on a command line)."""
    new, old = config_to_dict(env), config_to_dict(base or EnvConfig())
    changes: dict[str, Any] = {}
    for path, value in _leaves(new):
        at = old
        for key in path:
            at = at.get(key) if isinstance(at, Mapping) else None
        if value != at:
            node = changes
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
    return changes


def _merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _flag(path: tuple[str, ...]) -> str:
    return "--env." + ".".join(p.replace("_", "-") for p in path)


def env_for_model(
    model_env: EnvConfig | Mapping[str, Any], changes: Mapping[str, Any] | None = None
) -> EnvConfig:
    """The model's env config with ``changes`` (a partial nested dict) applied.

    Raises :class:`ModelContractError` naming the first changed field outside :data:`FREE` whose
    value differs from the model's, and ``ConfigError`` for an invalid resulting config.
    """
    if dataclasses.is_dataclass(model_env):
        model_env = config_to_dict(model_env)
    model = dict(model_env)
    for path, value in _leaves(changes or {}):
        if path[0] in FREE:
            continue
        at: Any = model
        for key in path:
            at = at.get(key) if isinstance(at, Mapping) else None
        if value != at:
            free = ", ".join(f"--env.{f.replace('_', '-')}" for f in FREE)
            raise ModelContractError(
                f"{_flag(path)} {value!r} differs from the model's {at!r}: it is part of what "
                f"the model was trained for (leave {_flag(path)} out; only {free} may change)"
            )
    return config_from_dict(EnvConfig, _merge(model, changes or {}))


def changes_tag(changes: Mapping[str, Any]) -> str:
    """A short stable tag of ``changes`` for run names ('' when there are none)."""
    if not changes:
        return ""
    text = json.dumps(changes, sort_keys=True, default=str)
    return "env-" + hashlib.sha256(text.encode()).hexdigest()[:8]
