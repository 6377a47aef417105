"""A collection run's ``manifest.json``: reading it, the seed-overlap and resume checks, outcome.

The manifest records the command, git commit, package versions, the run's config, every seed's
status (``pending``, ``done`` with ``success``/``reason``, or ``failed`` with the ``error``) and
the timings of each session. ``outcome`` sums the statuses up: which seeds are done, which failed
with an error (a crash, a killed worker, a full disk: not a driving failure) and which are still
pending.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tinylidar_gym.data.seeds import split_seeds
from tinylidar_gym.sim.errors import UserError

MANIFEST_FILE = "manifest.json"


class RunConflictError(UserError, ValueError):
    """The requested run would overwrite or overlap another run; the message says what to do."""


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's manifest, or None when ``run_dir`` has none.

    Raises:
        RunConflictError: the manifest is corrupt.
    """
    file = Path(run_dir) / MANIFEST_FILE
    if not file.exists():
        return None
    try:
        manifest = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunConflictError(
            f"{file} is corrupt ({exc}) (move the run away or pass another --run-name)"
        ) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("seeds"), dict):
        raise RunConflictError(
            f"{file} is not a collection manifest (move the run away or pass another --run-name)"
        )
    return manifest


def check_seed_overlap(run_dir: Path, split: str, seeds: list[int]) -> None:
    """Refuse a run whose seeds another run under the same root already used for its split."""
    mine = set(seeds)
    for other in sorted(run_dir.parent.glob(f"*/{MANIFEST_FILE}")):
        if other.parent.resolve() == run_dir.resolve():
            continue
        try:
            manifest = read_manifest(other.parent)
        except RunConflictError:
            continue
        if not manifest or manifest.get("config", {}).get("split") != split:
            continue
        theirs = {int(s) for s in manifest.get("seeds", {})}
        clash = mine & theirs
        if clash:
            used = max(int(s) for s in theirs) - split_seeds(split, 0, 1)[0] + 1
            raise RunConflictError(
                f"run {other.parent} already used {len(clash)} of these {split} seeds "
                f"(e.g. {min(clash)}) and seeds must never repeat across runs (pass "
                f"--first-episode {used} to continue after it, or --run-name {other.parent.name} "
                "to resume that run)"
            )


def check_resume(run_dir: Path, manifest: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse to resume a run whose manifest holds another configuration."""
    if manifest.get("config") != config:
        raise RunConflictError(
            f"{run_dir} holds a run with a different configuration and is never overwritten "
            "(pass another --run-name, or the original options to resume it)"
        )


def outcome(manifest: dict[str, Any]) -> dict[str, Any]:
    """Seeds by status: ``done`` (count), ``failed_with_error`` and ``pending`` (sorted lists)."""
    by_status: dict[str, list[int]] = {"done": [], "failed": [], "pending": []}
    for seed, status in manifest.get("seeds", {}).items():
        by_status.setdefault(status.get("status", "pending"), []).append(int(seed))
    return {
        "done": len(by_status["done"]),
        "failed_with_error": sorted(by_status["failed"]),
        "pending": sorted(by_status["pending"]),
    }


def failed_with_error(manifest: dict[str, Any]) -> list[int]:
    """Seeds whose episode failed with an error (not a driving failure), sorted.

    A run with any such seed did not do what was asked: the command should exit non-zero (a
    re-run of the same command retries exactly these).
    """
    return outcome(manifest)["failed_with_error"]
