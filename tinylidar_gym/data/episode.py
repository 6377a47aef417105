"""Episode directories: ``config.yaml``, ``simulation.mcap``, ``result.json`` (written last).

An episode directory is complete exactly when ``result.json`` exists and parses: every file is
written atomically and ``result.json`` comes last, so a crash never leaves an episode that looks
complete. ``config.yaml`` alone is enough to rebuild and replay the episode bit for bit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tinylidar_gym.data.atomic import atomic_write_json, atomic_write_yaml
from tinylidar_gym.experts.expert import ExpertConfig
from tinylidar_gym.sim.config import EnvConfig, config_from_dict, config_to_dict
from tinylidar_gym.sim.obstacles import boxes_array
from tinylidar_gym.tracks.layout import Layout

FORMAT_VERSION = 1
CONFIG_FILE = "config.yaml"
RESULT_FILE = "result.json"
MCAP_FILE = "simulation.mcap"


def episode_dir(run_dir: str | Path, split: str, seed: int) -> Path:
    """``run_dir/<split>/seed_<seed>``, e.g. ``runs/expert-train/train/seed_0000042``."""
    return Path(run_dir) / split / f"seed_{seed:07d}"


@dataclass(frozen=True)
class EpisodeConfig:
    """Everything needed to rebuild an episode (the content of ``config.yaml``)."""

    seed: int
    split: str
    env: EnvConfig
    obstacles: np.ndarray | None
    """(K, 5) boxes ``[x_m, y_m, yaw_rad, length_m, width_m]`` (None: drawn from the seed)."""
    driver: str
    """'expert' or a policy path."""
    expert: ExpertConfig | None
    index: int = 0
    """Position of the episode in its run."""


def write_config(path: Path, cfg: EpisodeConfig, layout: Layout) -> None:
    doc = {
        "format_version": FORMAT_VERSION,
        "seed": cfg.seed,
        "split": cfg.split,
        "index": cfg.index,
        "driver": cfg.driver,
        "env": config_to_dict(cfg.env),
        "expert": None if cfg.expert is None else config_to_dict(cfg.expert),
        "layout": {
            "course": layout.course.name,
            "course_length_m": layout.course.length_m,
            "course_seed": layout.course_seed,
            "obstacle_seed": layout.obstacle_seed,
            "noise_seed": layout.noise_seed,
            "obstacles": np.asarray(layout.obstacles.boxes, dtype=float).tolist(),
        },
    }
    atomic_write_yaml(path / CONFIG_FILE, doc)


def read_config(path: str | Path) -> EpisodeConfig:
    """Parse an episode's ``config.yaml`` (raises ValueError naming the file when invalid)."""
    file = Path(path) / CONFIG_FILE
    try:
        doc = yaml.safe_load(file.read_text())
        expert = doc.get("expert")
        if expert is not None:
            expert = config_from_dict(ExpertConfig, expert)
        return EpisodeConfig(
            seed=int(doc["seed"]),
            split=str(doc["split"]),
            env=config_from_dict(EnvConfig, doc["env"]),
            obstacles=boxes_array(doc["layout"]["obstacles"]),
            driver=str(doc.get("driver", "expert")),
            expert=expert,
            index=int(doc.get("index", 0)),
        )
    except FileNotFoundError:
        raise
    except Exception as exc:  # any parse/shape problem: name the file
        raise ValueError(f"{file}: not a valid episode config ({exc}).") from exc


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def episode_result(summary: dict[str, Any], cfg: EpisodeConfig) -> dict[str, Any]:
    """``result.json`` content from :func:`tinylidar_gym.data.rollout.run_episode`'s summary."""
    total = summary["checkpoints_total"]
    return {
        "format_version": FORMAT_VERSION,
        "episode": cfg.index,
        "seed": cfg.seed,
        "split": cfg.split,
        "driver": cfg.driver,
        "success": bool(summary["is_success"]),
        "reason": summary["end_reason"],
        "metrics": {
            "distance_m": summary["distance_m"],
            "progress": summary["progress"],
            "progress_m": summary["progress_m"],
            "checkpoints_passed": summary["checkpoints_passed"],
            "checkpoints_total": total,
            "checkpoint_pass_rate": summary["checkpoints_passed"] / total,
            "min_obstacle_clearance_m": _finite_or_none(summary["min_obstacle_clearance_m"]),
            "mean_speed_mps": summary["mean_speed_mps"],
            "duration_s": summary["time_s"],
            "steps": summary["steps"],
            "return": summary["return"],
        },
        "final_pose": {
            "x_m": summary["x_m"],
            "y_m": summary["y_m"],
            "yaw_rad": summary["yaw_rad"],
        },
    }


def write_result(path: Path, result: dict[str, Any]) -> None:
    atomic_write_json(path / RESULT_FILE, result)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The fields every reader relies on, with their types; other fields are carried along untouched.
_RESULT_FIELDS: dict[str, tuple[Any, str, bool]] = {
    "success": (lambda v: isinstance(v, bool), "true or false", True),
    "reason": (lambda v: isinstance(v, str) and v != "", "a non-empty string", True),
    "seed": (_is_int, "an integer", False),
    "split": (lambda v: isinstance(v, str), "a string", False),
    "episode": (_is_int, "an integer", False),
    "driver": (lambda v: isinstance(v, str), "a string", False),
    "metrics": (lambda v: isinstance(v, dict), "an object of numbers", False),
    "final_pose": (lambda v: isinstance(v, dict), "an object of numbers", False),
}


def validate_result(result: Any) -> str | None:
    """What is wrong with a parsed ``result.json`` document, or None when it fits the schema.

    Schema: an object with ``success`` (bool) and ``reason`` (non-empty string); when present,
    ``seed``/``episode`` integers, ``split``/``driver`` strings, ``metrics`` an object whose values
    are numbers or null (``checkpoints_*``/``steps`` integers) and ``final_pose`` an object of
    ``x_m``, ``y_m``, ``yaw_rad`` numbers.
    """
    if not isinstance(result, dict):
        return f"not a JSON object but {type(result).__name__}"
    for name, (ok, what, required) in _RESULT_FIELDS.items():
        if name not in result:
            if required:
                return f"'{name}' is missing"
            continue
        if not ok(result[name]):
            return f"'{name}' must be {what}, not {json.dumps(result[name])[:40]}"
    for name, value in (result.get("metrics") or {}).items():
        if value is not None and not _is_number(value):
            return f"metric '{name}' must be a number or null, not {json.dumps(value)[:40]}"
        if value is not None and not math.isfinite(value):
            return f"metric '{name}' must be finite, not {value}"
    for name in ("checkpoints_passed", "checkpoints_total", "steps"):
        value = (result.get("metrics") or {}).get(name)
        if value is not None and not (_is_int(value) or float(value).is_integer()):
            return f"metric '{name}' must be an integer, not {value}"
    pose = result.get("final_pose")
    if pose is not None:
        for name in ("x_m", "y_m", "yaw_rad"):
            if not _is_number(pose.get(name)):
                return f"'final_pose.{name}' must be a number"
    return None


def read_result(path: str | Path) -> dict[str, Any]:
    """Parse and validate ``result.json`` (:func:`validate_result`).

    Raises:
        FileNotFoundError: no ``result.json`` (the episode never finished).
        ValueError: corrupt JSON or a document that does not fit the schema (naming the file
            and the field); such a result is never trusted.
    """
    file = Path(path) / RESULT_FILE
    text = file.read_text()
    try:
        result = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: corrupt JSON ({exc}).") from exc
    problem = validate_result(result)
    if problem is not None:
        raise ValueError(f"{file}: corrupt result ({problem}).")
    return result


def is_complete(path: str | Path) -> bool:
    """True when the episode has a valid ``result.json`` (written last)."""
    try:
        read_result(path)
    except (OSError, ValueError):
        return False
    return True
