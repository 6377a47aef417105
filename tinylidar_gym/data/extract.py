"""Extraction: recorded episodes -> a memory-mappable (scan, action) dataset plus ``stats.json``.

Pairing rule (zero-order hold): a scan taken at time ``t`` is labelled with the latest command
whose timestamp is ``<= t``, i.e. the command in effect when the scan was taken. A scan with no
earlier command is skipped (``before_first_command``), and so is one whose latest command is
older than ``max_command_age_s`` (``stale_command``: the controller had stopped). In tinylidar's
own recordings every step logs its scan and the command computed from it at the same time, so each
scan pairs with exactly its own command; recordings from other sources (different rates, jitter)
follow the same rule.

Sensor contract: every episode of a dataset has the same LiDAR config, the one of the first
usable episode (with ``n_beams`` given, only episodes of that many beams count). An episode whose
recording disagrees with its own ``config.yaml``, or whose LiDAR differs from the contract, is
skipped and named. The format itself is :mod:`tinylidar_gym.data.dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from tinylidar_gym.data.dataset import (
    DatasetBuilder,
    DatasetExistsError,
    check_out_dir,
    read_stats,
    write_dataset,
)
from tinylidar_gym.data.episode import MCAP_FILE, RESULT_FILE, read_config, read_result
from tinylidar_gym.data.relabel import HardNegativeConfig, hard_negative_episode
from tinylidar_gym.data.seeds import SPLITS
from tinylidar_gym.envs.action import from_physical
from tinylidar_gym.experts.expert import Expert
from tinylidar_gym.recording.reader import RecordingError, read_episode
from tinylidar_gym.sim.config import config_to_dict
from tinylidar_gym.sim.errors import UserError

# Importers of the dataset helpers from their former home keep working.
__all__ = [
    "DatasetExistsError",
    "ExtractConfig",
    "extract",
    "pair_scans_with_commands",
    "read_stats",
]

PAIRING_RULE = (
    "zero-order hold: each scan is labelled with the latest command at or before its timestamp; "
    "scans before the first command or with a command older than max_command_age_s are skipped"
)


class ExtractError(UserError, ValueError):
    """An extraction option is invalid or nothing usable was found; the message says the fix."""


class RunNotFoundError(UserError, FileNotFoundError):
    """A run directory given to extract does not exist."""


@dataclass(frozen=True)
class ExtractConfig:
    """What to extract and how to pair scans with commands."""

    splits: tuple[str, ...] = ("train",)
    """Only episodes of these splits (test seeds must never reach a training set)."""
    include_failed: bool = False
    """Also extract episodes whose result.json says success: false."""
    max_command_age_s: float = 0.1
    """A scan whose latest command is older than this is skipped as stale."""
    n_beams: int | None = None
    """Beams every episode must have; others are skipped (None: the first usable episode's)."""

    def __post_init__(self) -> None:
        unknown = [s for s in self.splits if s not in SPLITS]
        if unknown or not self.splits:
            raise ExtractError(
                f"splits {list(self.splits)} are not a choice of {', '.join(SPLITS)} (pass "
                "--extract.splits train, or train val)"
            )
        if "test" in self.splits:
            raise ExtractError(
                "the test split is never extracted: test seeds must never reach a training set "
                "(pass --extract.splits train, or train val)"
            )
        if not self.max_command_age_s > 0:
            raise ExtractError(
                f"max_command_age_s={self.max_command_age_s} must be > 0 (the staleness limit "
                "in seconds, e.g. --extract.max-command-age-s 0.1)"
            )
        if self.n_beams is not None and not (
            isinstance(self.n_beams, int)
            and not isinstance(self.n_beams, bool)
            and self.n_beams >= 2
        ):
            raise ExtractError(
                f"n_beams={self.n_beams} must be an integer >= 2 (the recordings' beam count, or "
                "leave --extract.n-beams out)"
            )

    def to_dict(self) -> dict[str, Any]:
        """The config as recorded in ``stats.json`` (``n_beams`` only when set)."""
        doc: dict[str, Any] = {
            "splits": list(self.splits),
            "include_failed": self.include_failed,
            "max_command_age_s": self.max_command_age_s,
        }
        if self.n_beams is not None:
            doc["n_beams"] = self.n_beams
        return doc


def pair_scans_with_commands(
    scan_t_ns: np.ndarray, command_t_ns: np.ndarray, max_age_ns: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each scan, the index of the command in effect (zero-order hold), or -1.

    Args:
        scan_t_ns: (T,) scan timestamps, non-decreasing.
        command_t_ns: (C,) command timestamps, non-decreasing.
        max_age_ns: commands older than this at the scan time do not count.

    Returns:
        (T,) int64 command index (-1 = skipped) and (T,) int8 reason (0 ok, 1 before first
        command, 2 stale command).
    """
    scan_t_ns = np.asarray(scan_t_ns, dtype=np.int64)
    command_t_ns = np.asarray(command_t_ns, dtype=np.int64)
    idx = np.searchsorted(command_t_ns, scan_t_ns, side="right") - 1
    reason = np.zeros(len(scan_t_ns), dtype=np.int8)
    reason[idx < 0] = 1
    ok = idx >= 0
    age = np.where(ok, scan_t_ns - command_t_ns[np.maximum(idx, 0)], 0)
    reason[ok & (age > max_age_ns)] = 2
    idx = np.where(reason == 0, idx, -1)
    return idx, reason


def _episode_dirs(run_dirs: list[Path]) -> list[Path]:
    dirs: set[Path] = set()
    for run in run_dirs:
        if not run.is_dir():
            raise RunNotFoundError(
                f"run directory {run} does not exist (pass a run made by `experiment-runner "
                "collect` or `evaluate`)"
            )
        dirs |= {p.parent for p in run.rglob(RESULT_FILE)}
        dirs |= {p.parent for p in run.rglob(MCAP_FILE)}
    return sorted(dirs)


def _extract_episode(
    ep_dir: Path, cfg: ExtractConfig
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One episode's arrays, or a skip reason in the info dict."""
    info: dict[str, Any] = {"dir": str(ep_dir)}
    try:
        result = read_result(ep_dir)
    except FileNotFoundError:
        return {**info, "skipped": "no result.json (incomplete episode)"}, {}
    except ValueError as exc:
        return {**info, "skipped": f"unreadable result.json ({exc})"}, {}
    info.update(seed=result.get("seed"), split=result.get("split"), reason=result.get("reason"))
    if result.get("split") not in cfg.splits:
        return {**info, "skipped": f"split {result.get('split')!r} not in {list(cfg.splits)}"}, {}
    if not result["success"] and not cfg.include_failed:
        return {**info, "skipped": f"not successful ({result['reason']})"}, {}
    try:
        env_cfg = read_config(ep_dir).env
    except (OSError, ValueError) as exc:
        return {**info, "skipped": f"unreadable config.yaml ({exc})"}, {}
    try:
        rec = read_episode(ep_dir / MCAP_FILE)
    except RecordingError as exc:
        return {**info, "skipped": f"bad recording ({exc})"}, {}
    if rec.scans.ndim != 2 or rec.scans.shape[1] != env_cfg.lidar.n_beams:
        beams = rec.scans.shape[1] if rec.scans.ndim == 2 else 0
        return {
            **info,
            "skipped": f"recording has {beams} beams but its config.yaml says "
            f"{env_cfg.lidar.n_beams}",
        }, {}
    idx, reason = pair_scans_with_commands(
        rec.scan_t_ns, rec.command_t_ns, int(cfg.max_command_age_s * 1e9)
    )
    keep = idx >= 0
    cmd_idx = idx[keep]
    commands = rec.commands[cmd_idx].astype(np.float32)
    if len(rec.actions) == len(rec.commands):
        actions = rec.actions[cmd_idx].astype(np.float32)
    else:  # commands only (e.g. another recorder): map physical commands to actions
        actions = np.stack([from_physical(s, v, env_cfg) for s, v in commands])
    info.update(
        samples=int(keep.sum()),
        skipped_scans={
            "before_first_command": int((reason == 1).sum()),
            "stale_command": int((reason == 2).sum()),
        },
        env=config_to_dict(env_cfg),
    )
    arrays = {
        "scans": rec.scans[keep].astype(np.float32, copy=False),
        "actions": actions,
        "commands": commands,
        "timestamps_ns": rec.scan_t_ns[keep].astype(np.int64),
        "weights": np.ones(int(keep.sum()), dtype=np.float32),
    }
    return info, arrays


def extract(
    run_dirs: list[str | Path],
    out_dir: str | Path,
    cfg: ExtractConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
    hard_negatives: HardNegativeConfig | None = None,
) -> dict[str, Any]:
    """Extract every usable episode under ``run_dirs`` into ``out_dir``; returns ``stats.json``.

    With ``hard_negatives.runs``, the collisions of failed episodes in those runs are rebuilt,
    relabelled by the expert and added with ``hard_negatives.weight``.

    The dataset is assembled in a temporary directory beside ``out_dir`` and renamed into
    place at the end, so an interrupted extraction never leaves a partial dataset.
    """
    cfg = cfg or ExtractConfig()
    hn = hard_negatives or HardNegativeConfig()
    runs = [Path(r) for r in run_dirs]
    check_out_dir(out_dir, overwrite)
    ep_dirs = _episode_dirs(runs)
    hn_dirs = _episode_dirs([Path(r) for r in hn.runs]) if hn.runs else []
    return write_dataset(
        out_dir, lambda work: _extract_into(work, ep_dirs, runs, cfg, progress, hn, hn_dirs)
    )


def _extract_into(
    work: Path,
    ep_dirs: list[Path],
    runs: list[Path],
    cfg: ExtractConfig,
    progress: bool,
    hn: HardNegativeConfig,
    hn_dirs: list[Path],
) -> dict[str, Any]:
    builder = DatasetBuilder(work)
    skipped: list[dict[str, Any]] = []
    lidar_env: dict[str, Any] | None = None

    def add(info: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        nonlocal lidar_env
        if "skipped" in info or info["samples"] == 0:
            skipped.append({**info, "skipped": info.get("skipped", "no paired scans")})
            return
        env = info.pop("env")
        beams = env["lidar"]["n_beams"]
        if cfg.n_beams is not None and beams != cfg.n_beams:
            skipped.append({**info, "skipped": f"{beams} beams, not the {cfg.n_beams} asked for"})
            return
        if lidar_env is None:
            lidar_env = env  # the sensor contract: the first usable episode's LiDAR
        elif env["lidar"] != lidar_env["lidar"]:
            skipped.append({**info, "skipped": "LiDAR config differs from the dataset's"})
            return
        builder.add(info, arrays)

    for ep_dir in tqdm(ep_dirs, desc="extract", unit="ep", disable=not progress):
        add(*_extract_episode(ep_dir, cfg))
    n_demo = len(builder.episodes)
    n_demo_skipped = len(skipped)
    experts: dict[str, Expert] = {}
    for ep_dir in tqdm(hn_dirs, desc="hard negatives", unit="ep", disable=not progress):
        add(*hard_negative_episode(ep_dir, hn, experts))
    hn_episodes = builder.episodes[n_demo:]
    if not builder.episodes:
        reasons = sorted({s["skipped"] for s in skipped})
        raise ExtractError(
            f"no usable episodes in {[str(r) for r in runs]} ({len(ep_dirs)} found; skip "
            f"reasons: {reasons}) (check the run directories and --extract.splits / "
            "--extract.include-failed)"
        )
    assert lidar_env is not None
    return builder.finish(
        env=lidar_env,
        pairing_rule=PAIRING_RULE,
        config=cfg.to_dict(),
        sources=[str(r) for r in runs],
        counts={
            "episodes_found": len(ep_dirs),
            "episodes_used": n_demo,
            "episodes_skipped": n_demo_skipped,
            "hard_negative_episodes_found": len(hn_dirs),
            "hard_negative_episodes_used": len(hn_episodes),
            "hard_negative_samples": sum(e["samples"] for e in hn_episodes),
            "expert_labels": builder.n_total,
        },
        skipped=skipped,
        extra={
            "hard_negatives": {
                "runs": [str(r) for r in hn.runs],
                "window_s": hn.window_s,
                "weight": hn.weight,
            }
        },
    )
