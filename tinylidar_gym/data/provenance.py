"""Where a result came from: git commit and package versions (recorded in manifests/models)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "tinylidar",
    "numpy",
    "numba",
    "gymnasium",
    "mcap",
    "joblib",
    "torch",
    "imitation",
    "stable-baselines3",
)


def git_commit(cwd: str | Path | None = None) -> str | None:
    """HEAD of the repository containing ``cwd`` (default: this package), or None."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=cwd or Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def package_versions() -> dict[str, str | None]:
    """Python and key package versions (None when not installed)."""
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return versions
