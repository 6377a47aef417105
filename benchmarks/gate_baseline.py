"""The benchmark gate's baseline file and its comparison rules (no measuring here).

``benchmarks/baseline.json`` holds the figures the gate compares against, the tolerance of each,
the settings they were measured with and the machine they came from. A measured figure passes
when it is at or above its floor:

- ``relative`` tolerance ``t`` (throughputs): floor = baseline x (1 - t);
- ``absolute`` tolerance ``t`` (success rates, 0..1): floor = baseline - t.

Higher is better for every gated figure, so only falling below the floor fails; a figure far
above its baseline passes (and is a hint to update the baseline).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tinylidar_gym.data.atomic import atomic_write_json

FORMAT_VERSION = 1
UPDATE_COMMAND = "uv run python benchmarks/gate.py --update-baseline"
DEFAULT_BASELINE = Path(__file__).resolve().parent / "baseline.json"

ToleranceKind = Literal["relative", "absolute"]


@dataclass(frozen=True)
class Tolerance:
    """How far below its baseline a figure may fall before the gate fails."""

    kind: ToleranceKind
    """'relative' (a share of the baseline) or 'absolute' (in the figure's own unit)."""
    value: float
    """The share (0..1) or the amount."""

    def __post_init__(self) -> None:
        if self.kind not in ("relative", "absolute"):
            raise ValueError(f"tolerance kind {self.kind!r} is unknown; use relative or absolute.")
        if not (self.value >= 0 and (self.kind == "absolute" or self.value < 1)):
            raise ValueError(
                f"tolerance value {self.value!r} is out of range: relative needs 0 <= t < 1, "
                "absolute needs t >= 0."
            )

    def floor(self, baseline: float) -> float:
        if self.kind == "relative":
            return baseline * (1.0 - self.value)
        return baseline - self.value

    def describe(self) -> str:
        if self.kind == "relative":
            return f"-{self.value:.0%} of baseline"
        return f"-{self.value:g} absolute"


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    # Shared 2-core CI machines: outside load has cut these 2-5x; only a collapse should fail.
    "single_env_steps_per_s": Tolerance("relative", 0.5),
    "vector_env_agent_steps_per_s": Tolerance("relative", 0.6),
    "vector_env_contended_agent_steps_per_s": Tolerance("relative", 0.6),
    # 2 episodes of 50: the expert is deterministic on fixed seeds, so any drop is a real change.
    "expert_success_rate": Tolerance("absolute", 0.04),
    # 3 episodes of 30: the small model is trained with fixed seeds but float results may differ
    # across CPUs and library builds.
    "model_success_rate": Tolerance("absolute", 0.10),
}
"""Tolerances that a first baseline gets; afterwards those in baseline.json rule (an update
keeps them, so hand edits there stick)."""

METRIC_UNITS = {
    "single_env_steps_per_s": "steps/s",
    "vector_env_agent_steps_per_s": "agent-steps/s",
    "vector_env_contended_agent_steps_per_s": "agent-steps/s",
    "expert_success_rate": "share",
    "model_success_rate": "share",
}

# Floating-point slack for the floor comparison (0.96 - 0.04 is 0.9199999...).
_EPS = 1e-9


class BaselineError(RuntimeError):
    """The baseline file is missing, unreadable or does not match the gate; the message says
    how to fix it."""


@dataclass(frozen=True)
class Check:
    """One gated figure compared against its baseline."""

    metric: str
    baseline: float
    measured: float
    floor: float
    tolerance: Tolerance

    @property
    def passed(self) -> bool:
        return math.isfinite(self.measured) and self.measured >= self.floor - _EPS


def machine_description() -> dict[str, Any]:
    """Cores, platform and the versions that move the figures (Python, numpy, numba, torch)."""
    from tinylidar_gym.data.provenance import package_versions

    versions = package_versions()
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": sys.version.split()[0],
        **{k: versions.get(k) for k in ("numpy", "numba", "torch", "gymnasium")},
    }


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read and check a baseline file; raises :class:`BaselineError` with the fix."""
    path = Path(path)
    if not path.exists():
        raise BaselineError(
            f"no benchmark baseline at {path}. Create it (on the machine the gate runs on) with "
            f"`{UPDATE_COMMAND}` and commit it."
        )
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BaselineError(
            f"{path} is not readable JSON ({exc}); restore it from git or recreate it with "
            f"`{UPDATE_COMMAND}`."
        ) from exc
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        found = doc.get("format_version") if isinstance(doc, dict) else None
        raise BaselineError(
            f"{path} has format_version {found!r}; this gate reads {FORMAT_VERSION}. Recreate "
            f"it with `{UPDATE_COMMAND}`."
        )
    for key in ("metrics", "tolerances", "config"):
        if not isinstance(doc.get(key), dict):
            raise BaselineError(f"{path} lacks '{key}'; recreate it with `{UPDATE_COMMAND}`.")
    return doc


def tolerances_of(doc: dict[str, Any]) -> dict[str, Tolerance]:
    try:
        return {k: Tolerance(v["kind"], float(v["value"])) for k, v in doc["tolerances"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(
            f"the baseline's tolerances are malformed ({exc}); each needs "
            '{"kind": "relative" | "absolute", "value": number}.'
        ) from exc


def check_config(baseline: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse a baseline measured with other settings (fewer seeds, another model size): its
    figures say nothing about these."""
    if baseline["config"] != config:
        changed = sorted(
            k
            for k in set(baseline["config"]) | set(config)
            if baseline["config"].get(k) != config.get(k)
        )
        raise BaselineError(
            f"the gate's settings changed since the baseline was measured ({', '.join(changed)}); "
            f"measure a new baseline with `{UPDATE_COMMAND}`."
        )


def compare(
    baseline: dict[str, Any], measured: dict[str, float], config: dict[str, Any]
) -> list[Check]:
    """Every gated figure of ``baseline`` against ``measured`` (``config``: the gate's
    measuring settings, which must be the baseline's)."""
    check_config(baseline, config)
    tolerances = tolerances_of(baseline)
    checks = []
    for metric, base in baseline["metrics"].items():
        if metric not in tolerances:
            raise BaselineError(
                f"the baseline has no tolerance for {metric}; add one under 'tolerances'."
            )
        if metric not in measured:
            raise BaselineError(
                f"the gate no longer measures {metric}, which the baseline holds; "
                f"recreate the baseline with `{UPDATE_COMMAND}`."
            )
        tol = tolerances[metric]
        checks.append(Check(metric, float(base), float(measured[metric]), tol.floor(base), tol))
    return checks


def _fmt(metric: str, value: float) -> str:
    if METRIC_UNITS.get(metric) == "share":
        return f"{value:.1%}"
    return f"{value:,.0f}"


def format_table(checks: list[Check]) -> str:
    """metric | baseline | measured | floor | tolerance | PASS/FAIL, one line each."""
    rows = [("metric", "baseline", "measured", "floor", "tolerance", "result")]
    for c in checks:
        rows.append(
            (
                c.metric,
                _fmt(c.metric, c.baseline),
                _fmt(c.metric, c.measured),
                _fmt(c.metric, c.floor),
                c.tolerance.describe(),
                "PASS" if c.passed else "FAIL",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def failure_message(checks: list[Check], path: str | Path) -> str:
    """What fell below its floor, and how to accept the change if it is intended."""
    failed = [c for c in checks if not c.passed]
    what = "; ".join(
        f"{c.metric} {_fmt(c.metric, c.measured)} < floor {_fmt(c.metric, c.floor)} "
        f"(baseline {_fmt(c.metric, c.baseline)})"
        for c in failed
    )
    return (
        f"benchmark gate FAILED: {what}.\nIf this change is intended (or the CI machine changed), "
        f"measure a new baseline with `{UPDATE_COMMAND}` and commit {path}."
    )


def new_baseline(
    measured: dict[str, float],
    info: dict[str, Any],
    config: dict[str, Any],
    old: dict[str, Any] | None,
) -> dict[str, Any]:
    """A baseline document for ``measured``; keeps the old file's tolerances where it had them."""
    tolerances = {k: {"kind": t.kind, "value": t.value} for k, t in DEFAULT_TOLERANCES.items()}
    if old is not None:
        tolerances.update({k: v for k, v in old.get("tolerances", {}).items() if k in measured})
    from tinylidar_gym.data.provenance import git_commit

    return {
        "format_version": FORMAT_VERSION,
        "command": UPDATE_COMMAND,
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": machine_description(),
        "config": config,
        "metrics": dict(measured),
        "tolerances": {k: tolerances[k] for k in measured},
        "info": info,
    }


def baseline_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """old -> new for every gated figure (and the machine, when it changed)."""
    lines = []
    old_metrics = (old or {}).get("metrics", {})
    for metric, value in new["metrics"].items():
        if metric in old_metrics:
            before = old_metrics[metric]
            change = f" ({value / before - 1:+.1%})" if before else ""
            lines.append(f"  {metric}: {_fmt(metric, before)} -> {_fmt(metric, value)}{change}")
        else:
            lines.append(f"  {metric}: (new) {_fmt(metric, value)}")
    for metric in old_metrics:
        if metric not in new["metrics"]:
            lines.append(f"  {metric}: {_fmt(metric, old_metrics[metric])} -> (dropped)")
    if old is not None and old.get("machine") != new["machine"]:
        lines.append(f"  machine: {old.get('machine')} -> {new['machine']}")
    return "\n".join(lines)


def write_baseline(path: str | Path, doc: dict[str, Any]) -> None:
    """Atomically replace the baseline: readers see the old file or the whole new one."""
    atomic_write_json(path, doc)
