"""Extraction: recorded episodes -> a memory-mappable (scan, action) dataset plus ``stats.json``.

Pairing rule (zero-order hold): a scan taken at time ``t`` is labelled with the latest command
whose timestamp is ``<= t``, i.e. the command in effect when the scan was taken. A scan with no
earlier command is skipped (``before_first_command``), and so is one whose latest command is
older than ``max_command_age_s`` (``stale_command``: the controller had stopped). In tinylidar's
own recordings every step logs its scan and the command computed from it at the same time, so each
scan pairs with exactly its own command; recordings from other sources (different rates, jitter)
follow the same rule.

Dataset directory::

    scans.npy        (N, n_beams) float32  ranges in metres
    actions.npy      (N, 2) float32        labels in env action units [steering, speed] in [-1, 1]
    commands.npy     (N, 2) float32        the same labels in physical units (rad, m/s)
    episode_ids.npy  (N,) int32            index into stats.json "episodes"
    timestamps_ns.npy (N,) int64           scan time within its episode
    weights.npy      (N,) float32          per-sample weight (1 for expert data)
    stats.json       normalisation statistics (per-beam and global mean/std), counts, skip reasons

Extraction is deterministic: the same episodes give byte-identical files (so DVC hashes match).

Load with ``np.load(path, mmap_mode="r")``: nothing needs to fit in memory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinylidar_gym.data.atomic import atomic_write_json
from tinylidar_gym.data.episode import MCAP_FILE, RESULT_FILE, read_config, read_result
from tinylidar_gym.data.progress import progress_bar
from tinylidar_gym.data.relabel import HardNegativeConfig, hard_negative_episode
from tinylidar_gym.envs.action import from_physical
from tinylidar_gym.experts.expert import Expert
from tinylidar_gym.recording.reader import RecordingError, read_episode
from tinylidar_gym.sim.config import EnvConfig, config_to_dict

FORMAT_VERSION = 1
STATS_FILE = "stats.json"
ARRAYS = ("scans", "actions", "commands", "episode_ids", "timestamps_ns", "weights")
PAIRING_RULE = (
    "zero-order hold: each scan is labelled with the latest command at or before its timestamp; "
    "scans before the first command or with a command older than max_command_age_s are skipped"
)


class DatasetExistsError(FileExistsError):
    """The output directory exists; datasets are never overwritten silently."""


@dataclass(frozen=True)
class ExtractConfig:
    """What to extract and how to pair scans with commands."""

    splits: tuple[str, ...] = ("train",)
    """Only episodes of these splits (test seeds must never reach a training set)."""
    include_failed: bool = False
    """Also extract episodes whose result.json says success: false."""
    max_command_age_s: float = 0.1
    """A scan whose latest command is older than this is skipped as stale."""


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
            raise FileNotFoundError(f"run directory {run} does not exist.")
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


def check_out_dir(out_dir: str | Path, overwrite: bool) -> None:
    """Raise :class:`DatasetExistsError` when ``out_dir`` exists and ``overwrite`` is off."""
    if Path(out_dir).exists() and not overwrite:
        raise DatasetExistsError(
            f"{out_dir} exists; datasets are never overwritten. Choose another --out or pass "
            "--overwrite."
        )


def write_dataset(out_dir: str | Path, fill: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fill(work_dir)`` in a fresh directory beside ``out_dir``, then rename it into place.

    Returns what ``fill`` returns (the stats). On any error the partial directory is removed and
    an existing ``out_dir`` is left untouched.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    work.chmod(0o755)  # mkdtemp makes it private; a dataset is shared like any directory
    try:
        stats = fill(work)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return stats


class DatasetBuilder:
    """Accumulates episodes' arrays in ``work`` and writes the dataset files and ``stats.json``.

    Every source (simulated episodes, ROS 2 bags) goes through this, so all datasets share one
    format, one set of statistics and one content hash.
    """

    def __init__(self, work: Path) -> None:
        self.work = work
        self.parts = work / "parts"
        self.parts.mkdir()
        self.episodes: list[dict[str, Any]] = []
        self.n_total = 0
        self.n_beams: int | None = None
        self._s1: np.ndarray | None = None
        self._s2: np.ndarray | None = None

    def add(self, info: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Append one episode: ``info`` (with ``samples``) and its arrays named as in ``ARRAYS``
        (``episode_ids`` is filled in here)."""
        k = len(self.episodes)
        if self.n_beams is None:
            self.n_beams = int(arrays["scans"].shape[1])
        arrays = {**arrays, "episode_ids": np.full(info["samples"], k, dtype=np.int32)}
        for name, arr in arrays.items():
            np.save(self.parts / f"{k:06d}_{name}.npy", arr)
        scans64 = arrays["scans"].astype(np.float64)
        s1, s2 = scans64.sum(axis=0), (scans64**2).sum(axis=0)
        self._s1 = s1 if self._s1 is None else self._s1 + s1
        self._s2 = s2 if self._s2 is None else self._s2 + s2
        info["offset"] = self.n_total
        self.n_total += info["samples"]
        self.episodes.append(info)

    def finish(
        self,
        env: dict[str, Any],
        pairing_rule: str,
        config: dict[str, Any],
        sources: list[str],
        counts: dict[str, int],
        skipped: list[dict[str, Any]],
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Concatenate the episodes, compute the statistics, write and return ``stats.json``."""
        s1, s2, n_total, n_beams = self._s1, self._s2, self.n_total, self.n_beams
        assert s1 is not None and s2 is not None and n_beams is not None, "no episodes added"
        _concatenate(self.work, self.parts, self.episodes, n_total, n_beams)
        shutil.rmtree(self.parts)
        mean = s1 / n_total
        std = np.sqrt(np.maximum(s2 / n_total - mean**2, 0.0))
        acts = np.load(self.work / "actions.npy", mmap_mode="r")
        stats = {
            "format_version": FORMAT_VERSION,
            "n_samples": n_total,
            "n_beams": n_beams,
            "scan_mean": mean.tolist(),
            "scan_std": std.tolist(),
            "scan_mean_all": float(s1.sum() / (n_total * n_beams)),
            "scan_std_all": float(
                np.sqrt(
                    max(s2.sum() / (n_total * n_beams) - (s1.sum() / (n_total * n_beams)) ** 2, 0)
                )
            ),
            "action_mean": np.asarray(acts).mean(axis=0).tolist(),
            "action_std": np.asarray(acts).std(axis=0).tolist(),
            "env": env,
            "pairing_rule": pairing_rule,
            "config": config,
            "sources": sources,
            "counts": counts,
            "episodes": self.episodes,
            "skipped_episodes": skipped,
            **(extra or {}),
            "content_hash": dataset_hash(self.work),
        }
        atomic_write_json(self.work / STATS_FILE, stats)
        return stats


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
        if lidar_env is None:
            lidar_env = env
        elif env["lidar"] != lidar_env["lidar"]:
            skipped.append({**info, "skipped": "LiDAR config differs from the first episode"})
            return
        builder.add(info, arrays)

    for ep_dir in progress_bar(ep_dirs, desc="extract", unit="ep", disable=not progress):
        add(*_extract_episode(ep_dir, cfg))
    n_demo = len(builder.episodes)
    n_demo_skipped = len(skipped)
    experts: dict[str, Expert] = {}
    for ep_dir in progress_bar(hn_dirs, desc="hard negatives", unit="ep", disable=not progress):
        add(*hard_negative_episode(ep_dir, hn, experts))
    hn_episodes = builder.episodes[n_demo:]
    if not builder.episodes:
        reasons = sorted({s["skipped"] for s in skipped})
        raise ValueError(
            f"no usable episodes in {[str(r) for r in runs]} ({len(ep_dirs)} found; "
            f"skip reasons: {reasons})."
        )
    assert lidar_env is not None
    return builder.finish(
        env=lidar_env,
        pairing_rule=PAIRING_RULE,
        config={
            "splits": list(cfg.splits),
            "include_failed": cfg.include_failed,
            "max_command_age_s": cfg.max_command_age_s,
        },
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


def _concatenate(
    work: Path, parts: Path, episodes: list[dict[str, Any]], n_total: int, n_beams: int
) -> None:
    shapes = {
        "scans": ((n_total, n_beams), np.float32),
        "actions": ((n_total, 2), np.float32),
        "commands": ((n_total, 2), np.float32),
        "episode_ids": ((n_total,), np.int32),
        "timestamps_ns": ((n_total,), np.int64),
        "weights": ((n_total,), np.float32),
    }
    for name, (shape, dtype) in shapes.items():
        out = np.lib.format.open_memmap(work / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
        for k, ep in enumerate(episodes):
            part = np.load(parts / f"{k:06d}_{name}.npy")
            out[ep["offset"] : ep["offset"] + ep["samples"]] = part
        out.flush()
        del out


def dataset_hash(path: str | Path) -> str:
    """md5 over the dataset arrays (the same content gives the same hash on any machine)."""
    h = hashlib.md5()
    for name in ARRAYS:
        with open(Path(path) / f"{name}.npy", "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def read_stats(path: str | Path) -> dict[str, Any]:
    """``stats.json`` of a dataset directory (clear error when missing)."""
    file = Path(path) / STATS_FILE
    if not file.exists():
        raise FileNotFoundError(
            f"{file} not found: {path} is not a dataset (run `experiment-runner extract`)."
        )
    return json.loads(file.read_text())


def env_config_of(stats: dict[str, Any]) -> EnvConfig:
    """The env config the dataset was recorded with."""
    from tinylidar_gym.sim.config import config_from_dict

    return config_from_dict(EnvConfig, stats["env"])
