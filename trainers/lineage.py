"""Lineage of a trained model: dataset hashes (content and DVC), git commit, versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tinylidar_gym.data.extract import read_stats
from tinylidar_gym.data.provenance import git_commit, package_versions


def dvc_hash(data_dir: str | Path) -> str | None:
    """The md5 DVC recorded for ``data_dir``: from ``<data_dir>.dvc`` (``dvc add``) or from the
    ``dvc.lock`` of the pipeline that produced it; None when DVC does not track it."""
    data_dir = Path(data_dir).resolve()
    candidates = [data_dir.with_name(data_dir.name + ".dvc")]
    candidates += [p / "dvc.lock" for p in (Path.cwd(), *Path.cwd().parents)][:4]
    for dvc_file in candidates:
        if not dvc_file.exists():
            continue
        doc = yaml.safe_load(dvc_file.read_text()) or {}
        outs = list(doc.get("outs", []))
        for stage in (doc.get("stages") or {}).values():
            outs += stage.get("outs", [])
        for out in outs:
            if (dvc_file.parent / out.get("path", "")).resolve() == data_dir:
                return out.get("md5")
    return None


def lineage(data_dir: str | Path) -> dict[str, Any]:
    """What a model trained on ``data_dir`` records about where it came from."""
    stats = read_stats(data_dir)
    return {
        "dataset": {
            "path": str(data_dir),
            "content_hash": stats.get("content_hash"),
            "dvc_md5": dvc_hash(data_dir),
            "n_samples": stats["n_samples"],
            "episodes": stats["counts"]["episodes_used"],
        },
        "git_commit": git_commit(),
        "versions": package_versions(),
    }
