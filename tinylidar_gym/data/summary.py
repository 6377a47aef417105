"""Summarise a run: every ``result.json`` under it, aggregated into numbers and a CSV.

Missing or corrupt results are counted and named, never a crash.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinylidar_gym.data.atomic import atomic_write_text
from tinylidar_gym.data.episode import CONFIG_FILE, RESULT_FILE, read_result
from tinylidar_gym.sim.errors import UserError

CSV_FILE = "aggregated_results.csv"


class RunNotFoundError(UserError, FileNotFoundError):
    """There is no run where one was asked for."""


@dataclass
class RunSummary:
    """Aggregate of a run's episodes (only readable results count towards the rates)."""

    run_dir: Path
    episodes: int = 0
    successes: int = 0
    reasons: Counter = field(default_factory=Counter)
    metric_means: dict[str, float] = field(default_factory=dict)
    incomplete: list[Path] = field(default_factory=list)
    """Episode directories without ``result.json`` (crashed or still running)."""
    corrupt: dict[Path, str] = field(default_factory=dict)
    """Episode directories whose ``result.json`` could not be read, with the reason."""
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "episodes": self.episodes,
            "successes": self.successes,
            "success_rate": None if math.isnan(self.success_rate) else self.success_rate,
            "reasons": dict(self.reasons),
            "metric_means": self.metric_means,
            "incomplete": [str(p) for p in self.incomplete],
            "corrupt": {str(p): why for p, why in self.corrupt.items()},
        }

    def format(self) -> str:
        lines = [f"run: {self.run_dir}", f"episodes: {self.episodes}"]
        if self.episodes:
            lines.append(
                f"success rate: {self.success_rate:.1%} ({self.successes}/{self.episodes})"
            )
            lines.append("end reasons:")
            for reason, count in self.reasons.most_common():
                lines.append(f"  {reason:<20} {count:>6}  ({count / self.episodes:.1%})")
            lines.append("metric means:")
            for name, value in self.metric_means.items():
                lines.append(f"  {name:<26} {value:.4g}")
        if self.incomplete:
            lines.append(f"incomplete episodes (no {RESULT_FILE}): {len(self.incomplete)}")
            lines.extend(f"  {p}" for p in self.incomplete[:20])
        if self.corrupt:
            lines.append(f"unreadable {RESULT_FILE}: {len(self.corrupt)}")
            lines.extend(f"  {p}: {why}" for p, why in list(self.corrupt.items())[:20])
        return "\n".join(lines)


def _episode_dirs(run_dir: Path) -> list[Path]:
    """Directories that hold (or should hold) an episode: those with a config or a result."""
    dirs = {p.parent for p in run_dir.rglob(RESULT_FILE)}
    dirs |= {p.parent for p in run_dir.rglob(CONFIG_FILE)}
    return sorted(dirs)


def summarize(run_dir: str | Path, write_csv: bool = True) -> RunSummary:
    """Aggregate every episode under ``run_dir``; writes ``aggregated_results.csv`` there."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunNotFoundError(
            f"run directory {run_dir} does not exist (pass a run made by `experiment-runner "
            "collect` or `evaluate`)"
        )
    summary = RunSummary(run_dir)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for ep_dir in _episode_dirs(run_dir):
        if not (ep_dir / RESULT_FILE).exists():
            summary.incomplete.append(ep_dir)
            continue
        try:
            result = read_result(ep_dir)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            summary.corrupt[ep_dir] = str(exc).replace(str(ep_dir / RESULT_FILE) + ": ", "")
            continue
        summary.episodes += 1
        summary.successes += bool(result["success"])
        summary.reasons[str(result["reason"])] += 1
        row: dict[str, Any] = {
            "episode_dir": str(ep_dir.relative_to(run_dir)),
            "seed": result.get("seed"),
            "split": result.get("split"),
            "success": bool(result["success"]),
            "reason": result["reason"],
        }
        metrics = result.get("metrics") or {}
        for name, value in metrics.items():
            row[name] = value
            if isinstance(value, int | float) and not isinstance(value, bool):
                if math.isfinite(value):
                    sums[name] = sums.get(name, 0.0) + float(value)
                    counts[name] = counts.get(name, 0) + 1
        summary.rows.append(row)
    summary.metric_means = {k: sums[k] / counts[k] for k in sums}
    failed = [r for r in summary.rows if not r["success"] and "distance_m" in r]
    if failed:
        summary.metric_means["distance_before_failure_m"] = sum(
            float(r["distance_m"]) for r in failed
        ) / len(failed)
    if write_csv:
        atomic_write_text(run_dir / CSV_FILE, _to_csv(summary.rows))
    return summary


def _to_csv(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def latest_run(root: str | Path = "runs") -> Path:
    """The most recently modified run directory (one holding a manifest) under ``root``."""
    root = Path(root)
    runs = [p.parent for p in root.glob("*/manifest.json")]
    if not runs:
        raise RunNotFoundError(
            f"no run found under {root}/; pass RUN_DIR or run `experiment-runner collect` first."
        )
    return max(runs, key=lambda p: (p / "manifest.json").stat().st_mtime)
