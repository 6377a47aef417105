"""The dataset format: array names, the builder and writer, the content hash and the statistics.

Every source (simulated episodes by :mod:`~tinylidar_gym.data.extract`, ROS 2 bags by
:mod:`~tinylidar_gym.data.ros2_bag`) writes through :class:`DatasetBuilder`, so all datasets share
one layout, one set of statistics and one content hash. Dataset directory::

    scans.npy         (N, n_beams) float32  ranges in metres
    actions.npy       (N, 2) float32        labels in env action units [steering, speed] in [-1, 1]
    commands.npy      (N, 2) float32        the same labels in physical units (rad, m/s)
    episode_ids.npy   (N,) int32            index into stats.json "episodes"
    timestamps_ns.npy (N,) int64            scan time within its episode
    weights.npy       (N,) float32          per-sample weight (1 for expert data)
    stats.json        normalisation statistics (per-beam and global mean/std), counts, sources

Writing is deterministic: the same episodes give byte-identical files (so DVC hashes match). Load
with ``np.load(path, mmap_mode="r")``: nothing needs to fit in memory.
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
from tinylidar_gym.data.locks import exclusive_lock
from tinylidar_gym.sim.errors import UserError

FORMAT_VERSION = 1
STATS_FILE = "stats.json"


@dataclass(frozen=True)
class ArraySpec:
    """One array of the dataset: ``<name>.npy`` of shape ``(N, *columns)`` and ``dtype``."""

    name: str
    dtype: type
    columns: tuple[str | int, ...]
    """Trailing dimensions: ``()`` for one value per sample, ``("n_beams",)`` for a scan."""

    def shape(self, n_samples: int, n_beams: int) -> tuple[int, ...]:
        """The full array shape for ``n_samples`` samples of ``n_beams`` beams."""
        return (n_samples, *(n_beams if c == "n_beams" else int(c) for c in self.columns))


ARRAY_SPECS: tuple[ArraySpec, ...] = (
    ArraySpec("scans", np.float32, ("n_beams",)),
    ArraySpec("actions", np.float32, (2,)),
    ArraySpec("commands", np.float32, (2,)),
    ArraySpec("episode_ids", np.int32, ()),
    ArraySpec("timestamps_ns", np.int64, ()),
    ArraySpec("weights", np.float32, ()),
)
"""The dataset's arrays, in the order the content hash reads them."""
ARRAYS = tuple(spec.name for spec in ARRAY_SPECS)


class DatasetExistsError(UserError, FileExistsError):
    """The output directory exists; datasets are never overwritten silently."""


class DatasetBusyError(UserError):
    """Another process is writing the same dataset directory right now."""


# ---------------------------------------------------------------------------------- statistics


class ScanStats:
    """Per-beam and global mean/std of scans, accumulated batch by batch in float64.

    Sums of ``x`` and ``x**2``: ``std = sqrt(max(E[x^2] - E[x]^2, 0))`` (population std). One
    formula for every dataset and trainer, and the batches need not fit in memory together.
    """

    def __init__(self) -> None:
        self.n = 0
        self._s1: np.ndarray | None = None
        self._s2: np.ndarray | None = None

    def add(self, scans: np.ndarray) -> None:
        """Accumulate ``scans`` (T, n_beams), metres."""
        scans64 = np.asarray(scans).astype(np.float64)
        s1, s2 = scans64.sum(axis=0), (scans64**2).sum(axis=0)
        self._s1 = s1 if self._s1 is None else self._s1 + s1
        self._s2 = s2 if self._s2 is None else self._s2 + s2
        self.n += len(scans64)

    def per_beam(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_beams,) float64 mean and std of each beam, metres."""
        if self._s1 is None or self._s2 is None or self.n == 0:
            raise ValueError("no scans were added: statistics need at least one scan.")
        mean = self._s1 / self.n
        return mean, np.sqrt(np.maximum(self._s2 / self.n - mean**2, 0.0))

    def overall(self) -> tuple[float, float]:
        """Mean and std over every beam of every scan, metres."""
        if self._s1 is None or self._s2 is None or self.n == 0:
            raise ValueError("no scans were added: statistics need at least one scan.")
        count = self.n * len(self._s1)
        mean = self._s1.sum() / count
        return float(mean), float(np.sqrt(max(self._s2.sum() / count - mean**2, 0)))


def scan_stats(scans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-beam normalisation statistics of ``scans`` (T, n_beams), metres.

    Returns (n_beams,) float32 mean and std, as datasets store them and models use them.
    """
    stats = ScanStats()
    stats.add(scans)
    mean, std = stats.per_beam()
    return mean.astype(np.float32), std.astype(np.float32)


# ---------------------------------------------------------------------------------- writing


def check_out_dir(out_dir: str | Path, overwrite: bool) -> None:
    """Raise :class:`DatasetExistsError` when ``out_dir`` exists and ``overwrite`` is off."""
    if Path(out_dir).exists() and not overwrite:
        raise DatasetExistsError(
            f"{out_dir} exists and datasets are never overwritten (choose another --out or pass "
            "--overwrite)"
        )


def _work_prefix(out_dir: Path) -> str:
    return f".{out_dir.name}.tmp-"


def write_dataset(out_dir: str | Path, fill: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fill(work_dir)`` in a fresh directory beside ``out_dir``, then rename it into place.

    Returns what ``fill`` returns (the stats). On any error the partial directory is removed and
    an existing ``out_dir`` is left untouched. A lock beside ``out_dir`` keeps two writers of the
    same dataset apart; holding it, work directories left by a killed writer are removed.

    Raises:
        DatasetBusyError: another process is writing ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = out_dir.parent / f".{out_dir.name}.lock"
    busy = DatasetBusyError(
        f"another process is writing the dataset {out_dir} (wait for it to finish or choose "
        "another --out)"
    )
    with exclusive_lock(lock, busy):
        for stale in out_dir.parent.glob(f"{_work_prefix(out_dir)}*"):
            if stale.is_dir():  # only a killed writer leaves one: we hold the lock
                shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=_work_prefix(out_dir), dir=out_dir.parent))
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
    """Accumulates episodes' arrays in ``work`` and writes the dataset files and ``stats.json``."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.parts = work / "parts"
        self.parts.mkdir()
        self.episodes: list[dict[str, Any]] = []
        self.n_total = 0
        self.n_beams: int | None = None
        self._scan_stats = ScanStats()

    def add(self, info: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Append one episode: ``info`` (with ``samples``) and its arrays named as in ``ARRAYS``
        (``episode_ids`` is filled in here)."""
        k = len(self.episodes)
        if self.n_beams is None:
            self.n_beams = int(arrays["scans"].shape[1])
        arrays = {**arrays, "episode_ids": np.full(info["samples"], k, dtype=np.int32)}
        for name, arr in arrays.items():
            np.save(self.parts / f"{k:06d}_{name}.npy", arr)
        self._scan_stats.add(arrays["scans"])
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
        n_total, n_beams = self.n_total, self.n_beams
        assert n_beams is not None, "no episodes added"
        _concatenate(self.work, self.parts, self.episodes, n_total, n_beams)
        shutil.rmtree(self.parts)
        mean, std = self._scan_stats.per_beam()
        mean_all, std_all = self._scan_stats.overall()
        acts = np.load(self.work / "actions.npy", mmap_mode="r")
        stats = {
            "format_version": FORMAT_VERSION,
            "n_samples": n_total,
            "n_beams": n_beams,
            "scan_mean": mean.tolist(),
            "scan_std": std.tolist(),
            "scan_mean_all": mean_all,
            "scan_std_all": std_all,
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


def _concatenate(
    work: Path, parts: Path, episodes: list[dict[str, Any]], n_total: int, n_beams: int
) -> None:
    for spec in ARRAY_SPECS:
        out = np.lib.format.open_memmap(
            work / f"{spec.name}.npy",
            mode="w+",
            dtype=spec.dtype,
            shape=spec.shape(n_total, n_beams),
        )
        for k, ep in enumerate(episodes):
            part = np.load(parts / f"{k:06d}_{spec.name}.npy")
            out[ep["offset"] : ep["offset"] + ep["samples"]] = part
        out.flush()
        del out


# ---------------------------------------------------------------------------------- reading


def dataset_hash(path: str | Path) -> str:
    """md5 over the dataset arrays (the same content gives the same hash on any machine)."""
    h = hashlib.md5()
    for name in ARRAYS:
        with open(Path(path) / f"{name}.npy", "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


class NotADatasetError(UserError, FileNotFoundError):
    """A path given as a dataset holds no ``stats.json``."""


def read_stats(path: str | Path) -> dict[str, Any]:
    """``stats.json`` of a dataset directory (clear error when missing or corrupt)."""
    file = Path(path) / STATS_FILE
    if not file.exists():
        raise NotADatasetError(
            f"{path} is not a dataset: {file} not found (make one with `experiment-runner "
            "extract` or `import-bag`)"
        )
    try:
        return json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotADatasetError(
            f"{file} is corrupt ({exc}) (extract the dataset again with --overwrite)"
        ) from exc
