"""The report's figures, each written as a PNG (matplotlib, Agg backend: no display needed).

Every function takes plain data (episodes, scenes, tracks, history) and a PNG path, and writes
the file atomically.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: never open a window, also on a machine with a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection, PatchCollection  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from tinylidar_gym.data.atomic import atomic_write_bytes  # noqa: E402
from tinylidar_gym.report.sources import Episode  # noqa: E402
from tinylidar_gym.report.tracks import Scene, Track  # noqa: E402

DPI = 100
SUCCESS_COLOR = "#2e7d32"
FAILURE_COLOR = "#c62828"
REASON_COLORS = {
    "goal_reached": SUCCESS_COLOR,
    "collision_wall": FAILURE_COLOR,
    "collision_obstacle": "#ef6c00",
    "timeout": "#6a1b9a",
    "stuck": "#795548",
}
_SPARE_COLORS = ["#1565c0", "#00838f", "#ad1457", "#827717", "#455a64"]


def reason_color(reason: str) -> str:
    """A fixed colour per end reason (the same in every figure of a report)."""
    if reason in REASON_COLORS:
        return REASON_COLORS[reason]
    return _SPARE_COLORS[sum(map(ord, reason)) % len(_SPARE_COLORS)]


def _save(fig: Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _draw_walls(ax: Any, scene: Scene) -> None:
    segments = scene.walls.reshape(-1, 2, 2)
    ax.add_collection(LineCollection(segments, colors="#424242", linewidths=1.0, zorder=1))
    lo, hi = segments.reshape(-1, 2).min(0), segments.reshape(-1, 2).max(0)
    pad = 0.03 * float(np.max(hi - lo)) if segments.size else 1.0
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, hi[1] + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """(K, 5) boxes [x_m, y_m, yaw_rad, length_m, width_m] -> (K, 4, 2) corner points, m."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    x, y, yaw, length, width = boxes.T
    local = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float64) / 2.0
    dx = local[None, :, 0] * length[:, None]
    dy = local[None, :, 1] * width[:, None]
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    return np.stack([x[:, None] + c * dx - s * dy, y[:, None] + s * dx + c * dy], axis=-1)


def success_by_seed(episodes: Sequence[Episode], path: Path) -> None:
    """Progress along the course per seed (bar height), green = success, red = failure."""
    n = len(episodes)
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.12 * n + 3)), 3.6))
    progress = [100.0 * float(e.metrics.get("progress", float(e.success))) for e in episodes]
    colors = [SUCCESS_COLOR if e.success else FAILURE_COLOR for e in episodes]
    ax.bar(np.arange(n), progress, color=colors, width=0.85)
    step = max(1, int(np.ceil(n / 25)))  # at most ~25 tick labels
    ticks = np.arange(0, n, step)
    ax.set_xticks(ticks, [str(episodes[i].seed) for i in ticks], rotation=60, fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xlabel("seed")
    ax.set_ylabel("progress (% of the goal)")
    ax.set_ylim(0, max(105.0, max(progress, default=0.0) + 5))
    wins = sum(e.success for e in episodes)
    ax.set_title(f"success by seed: {wins}/{n}")
    ax.legend(
        handles=[
            plt.Rectangle((0, 0), 1, 1, color=SUCCESS_COLOR, label="success"),
            plt.Rectangle((0, 0), 1, 1, color=FAILURE_COLOR, label="failure"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
    )
    _save(fig, path)


def reason_breakdown(episodes: Sequence[Episode], path: Path) -> None:
    """Horizontal bars: episodes per end reason."""
    counts = Counter(e.reason for e in episodes).most_common()
    fig, ax = plt.subplots(figsize=(6.0, 0.5 * len(counts) + 1.4))
    labels = [r for r, _ in counts]
    values = [c for _, c in counts]
    bars = ax.barh(labels, values, color=[reason_color(r) for r in labels])
    ax.bar_label(bars, [f"{v} ({v / len(episodes):.0%})" for v in values], padding=3, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max(values) * 1.3)
    ax.set_xlabel("episodes")
    ax.set_title("end reasons")
    _save(fig, path)


def failure_locations(
    scene: Scene,
    failures: Sequence[tuple[Episode, Scene]],
    path: Path,
    label_seeds: int = 15,
) -> None:
    """The course with the obstacles of each failing episode and its final pose, coloured by
    end reason (an arrow shows the heading). ``failures`` are on ``scene``'s course."""
    fig, ax = plt.subplots(figsize=(8.0, 6.5))
    _draw_walls(ax, scene)
    for i, (episode, ep_scene) in enumerate(failures):
        color = reason_color(episode.reason)
        corners = box_corners(ep_scene.obstacles)
        patches = [Polygon(c, closed=True) for c in corners]
        ax.add_collection(
            PatchCollection(patches, facecolor=color, edgecolor=color, alpha=0.25, zorder=2)
        )
        pose = episode.result.get("final_pose") or {}
        if "x_m" not in pose:
            continue
        x, y, yaw = pose["x_m"], pose["y_m"], pose.get("yaw_rad", 0.0)
        ax.scatter([x], [y], s=60, color=color, edgecolor="black", linewidths=0.6, zorder=4)
        ax.annotate(
            "",
            xy=(x + 1.2 * np.cos(yaw), y + 1.2 * np.sin(yaw)),
            xytext=(x, y),
            arrowprops={"arrowstyle": "->", "color": color, "lw": 1.5},
            zorder=4,
        )
        if i < label_seeds:
            ax.annotate(
                str(episode.seed), (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8
            )
    reasons = sorted({e.reason for e, _ in failures})
    if reasons:
        ax.legend(
            handles=[
                plt.Line2D([], [], marker="o", ls="", color=reason_color(r), label=r)
                for r in reasons
            ],
            loc="best",
            fontsize=8,
        )
        n = len(failures)
        ax.set_title(f"failure locations ({n} episode{'s' * (n != 1)}): final pose and obstacles")
    else:
        ax.set_title("failure locations: no failures on this course")
    _save(fig, path)


def trajectories(scene: Scene, tracks: Sequence[tuple[Episode, Track]], path: Path) -> None:
    """The paths of ``tracks`` on ``scene``'s course, coloured by speed (m/s)."""
    fig, ax = plt.subplots(figsize=(8.5, 6.5))
    _draw_walls(ax, scene)
    speeds = np.concatenate([t.speeds_mps for _, t in tracks]) if tracks else np.zeros(1)
    finite = speeds[np.isfinite(speeds)]
    norm = Normalize(0.0, float(finite.max()) if finite.size and finite.max() > 0 else 1.0)
    for episode, track in tracks:
        if len(track.xy_m) < 2:
            continue
        segments = np.stack([track.xy_m[:-1], track.xy_m[1:]], axis=1)
        lines = LineCollection(segments, cmap="viridis", norm=norm, linewidths=1.4, zorder=3)
        lines.set_array(track.speeds_mps[:-1])
        ax.add_collection(lines)
        if not episode.success:
            x, y = track.xy_m[-1]
            ax.scatter([x], [y], marker="x", s=40, color=FAILURE_COLOR, zorder=4)
    mappable = plt.cm.ScalarMappable(norm=norm, cmap="viridis")
    fig.colorbar(mappable, ax=ax, label="speed (m/s)", shrink=0.8)
    ax.set_title(f"trajectories of {len(tracks)} episodes (x: where a failure ended)")
    _save(fig, path)


def learning_curves(history: Sequence[dict[str, Any]], best_epoch: int | None, path: Path) -> None:
    """Per-epoch training loss and validation figures (``history.json`` entries)."""
    epochs = [int(h["epoch"]) for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 3.8))

    def curve(ax: Any, key: str, label: str) -> None:
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            ax.plot(epochs, [np.nan if v is None else v for v in values], "o-", label=label)

    curve(left, "train/epoch_loss", "train loss (epoch mean)")
    curve(left, "val/nll", "validation negative log-likelihood")
    left.set_ylabel("loss")
    curve(right, "val/mse", "validation MSE")
    curve(right, "val/mae_steering", "validation MAE steering")
    curve(right, "val/mae_speed", "validation MAE speed")
    right.set_ylabel("action error (action units, [-1, 1])")
    for ax in (left, right):
        if best_epoch is not None:
            ax.axvline(best_epoch, color="#9e9e9e", ls="--", lw=1, label=f"best epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("learning curves")
    _save(fig, path)
