"""Ask the expert about states a car really visited: hard negatives and pseudo-positions.

Both start from a recorded episode directory. :func:`redrive` rebuilds the episode from
``config.yaml`` (seed, obstacle layout, env config) and drives it again with the recorded
actions (the MCAP's ``/control`` actions, or the expert plus the replayed collection noise for
expert episodes), checking at every step that the rebuilt pose equals the recorded one. The full
simulator state is then at hand, so the privileged expert can label it:

* **hard negatives** (:func:`mine_hard_negatives`): the window before a collision of a failed
  episode, each scan labelled with the expert's corrective action;
* **pseudo-positions** (:func:`pseudo_positions`): the car moved sideways and turned a little
  from a recorded pose, the scan cast again from there, labelled with what the expert would do.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from tinylidar_gym.data.episode import MCAP_FILE, read_config, read_result
from tinylidar_gym.envs.action import to_physical
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.experts.expert import Expert, ExpertConfig, with_collection_noise
from tinylidar_gym.recording.reader import RecordingError, read_episode
from tinylidar_gym.sim import world as w
from tinylidar_gym.sim.config import config_to_dict
from tinylidar_gym.sim.errors import UserError
from tinylidar_gym.sim.lidar import scan_from_pose
from tinylidar_gym.sim.progress import project_global

POSE_TOLERANCE_M = 1e-6
"""A re-driven pose further than this from the recorded one means the replay diverged."""


class ReplayDivergedError(RecordingError):
    """Re-driving the recorded actions did not reproduce the recorded poses."""


@dataclass
class Relabelled:
    """Expert-labelled samples: scans, the expert's actions and where they came from."""

    scans: np.ndarray
    """(N, n_beams) float32 ranges, m."""
    actions: np.ndarray
    """(N, 2) float32 expert actions, env action units."""
    steps: np.ndarray
    """(N,) int64 index of the recorded step each sample comes from."""
    poses: np.ndarray
    """(N, 3) float64 base_link pose the scan was taken from: x_m, y_m, yaw_rad."""

    @classmethod
    def empty(cls, n_beams: int) -> Relabelled:
        return cls(
            np.zeros((0, n_beams), np.float32),
            np.zeros((0, 2), np.float32),
            np.zeros(0, np.int64),
            np.zeros((0, 3)),
        )

    @classmethod
    def stack(cls, rows: list[tuple[int, np.ndarray, np.ndarray, tuple[float, ...]]]) -> Relabelled:
        """From ``(step, scan, action, pose)`` rows (at least one)."""
        steps, scans, actions, poses = zip(*rows, strict=True)
        return cls(
            np.stack(scans).astype(np.float32),
            np.stack(actions).astype(np.float32),
            np.asarray(steps, dtype=np.int64),
            np.asarray(poses, dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.steps)


def redrive(ep_dir: str | Path, expert: Expert | None = None) -> Iterator[tuple[int, TinyLidarEnv]]:
    """Rebuild a recorded episode and drive it again; yields ``(step, env)`` before each step.

    At step ``k`` the env is in the state the recorded scan ``k`` was taken in, so
    ``env.world`` can be labelled by the expert and ``env.world.scans[0]`` equals that scan.

    Raises:
        ReplayDivergedError: a rebuilt pose differs from the recorded one (the episode was not
            recorded by this simulator version, or its files were edited).
    """
    ep_dir = Path(ep_dir)
    ep = read_config(ep_dir)
    rec = read_episode(ep_dir / MCAP_FILE)
    env = TinyLidarEnv(ep.env)
    driver = None
    stepper: gym.Env = env
    if ep.driver == "expert" and not _recorded_actions_were_executed(ep, rec):
        # Collection executes the expert's action plus noise but records the clean label, so
        # the executed actions are rebuilt the same way the collector made them.
        expert_cfg = ep.expert or ExpertConfig()
        driver = expert if expert is not None and expert.cfg == expert_cfg else None
        driver = driver or Expert(ep.env, expert_cfg)
        stepper = with_collection_noise(env, expert_cfg)
    stepper.reset(seed=ep.seed, options={"obstacles": ep.obstacles})
    n = len(rec.poses)
    for k in range(n):
        car = env.world.cars[0]
        err = math.hypot(car[w.C_X] - rec.poses[k, 0], car[w.C_Y] - rec.poses[k, 1])
        if err > POSE_TOLERANCE_M:
            raise ReplayDivergedError(
                f"{ep_dir}: re-driving step {k} put the car {err:.3g} m from the recorded pose; "
                "the episode cannot be rebuilt from config.yaml + simulation.mcap (recorded by "
                "another simulator version, or edited)."
            )
        yield k, env
        action = driver.act(env.world, 0) if driver is not None else rec.actions[k]
        _, _, terminated, truncated, _ = stepper.step(np.asarray(action, dtype=np.float32))
        if (terminated or truncated) and k < n - 1:
            raise ReplayDivergedError(
                f"{ep_dir}: the rebuilt episode ended at step {k}, the recording has {n} steps."
            )


def _recorded_actions_were_executed(ep: Any, rec: Any, steps: int = 40) -> bool:
    """Whether driving the recorded actions reproduces the first recorded poses.

    True for learners and for the expert without collection noise (evaluation runs); False for
    noisy collection, whose recording holds the clean labels instead of what was executed.
    """
    env = TinyLidarEnv(ep.env)
    env.reset(seed=ep.seed, options={"obstacles": ep.obstacles})
    for k in range(min(steps, len(rec.poses) - 1)):
        _, _, terminated, truncated, _ = env.step(np.asarray(rec.actions[k], dtype=np.float32))
        car = env.world.cars[0]
        err = math.hypot(car[w.C_X] - rec.poses[k + 1, 0], car[w.C_Y] - rec.poses[k + 1, 1])
        if err > POSE_TOLERANCE_M:
            return False
        if terminated or truncated:
            break
    return True


class HardNegativeConfigError(UserError, ValueError):
    """A hard-negative option is out of range."""


@dataclass(frozen=True)
class HardNegativeConfig:
    """Mine failed episodes for expert-relabelled hard negatives (off when ``runs`` is empty)."""

    runs: tuple[Path, ...] = ()
    """Run directories (collection or evaluation, train/val seeds) whose collisions are mined."""
    window_s: float = 1.5
    """Seconds before each collision to relabel."""
    weight: float = 2.0
    """Sampling weight of a relabelled sample (expert demonstrations weigh 1)."""

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise HardNegativeConfigError(
                f"hard_negatives.window_s={self.window_s} must be > 0 (seconds before each "
                "collision, e.g. --hard-negatives.window-s 1.5)"
            )
        if self.weight <= 0:
            raise HardNegativeConfigError(
                f"hard_negatives.weight={self.weight} must be > 0 (a sampling weight, e.g. "
                "--hard-negatives.weight 2)"
            )


def is_collision(result: dict) -> bool:
    """Whether a ``result.json`` records an episode that ended in a wall or obstacle collision."""
    return not result.get("success") and str(result.get("reason", "")).startswith("collision")


def mine_hard_negatives(
    ep_dir: str | Path, window_s: float = 1.5, expert: Expert | None = None
) -> Relabelled:
    """Expert labels for the last ``window_s`` before the collision of a failed episode.

    Returns no samples for an episode that did not end in a collision.
    """
    ep_dir = Path(ep_dir)
    cfg = read_config(ep_dir).env
    result = read_result(ep_dir)
    if not is_collision(result):
        return Relabelled.empty(cfg.lidar.n_beams)
    labeller = expert or Expert(cfg)
    window: deque = deque(maxlen=max(1, int(math.ceil(window_s / cfg.control_dt_s))))
    for k, env in redrive(ep_dir, labeller):
        car = env.world.cars[0]
        pose = (float(car[w.C_X]), float(car[w.C_Y]), float(car[w.C_YAW]))
        window.append((k, env.world.scans[0].copy(), labeller.act(env.world, 0), pose))
    if not window:
        return Relabelled.empty(cfg.lidar.n_beams)
    return Relabelled.stack(list(window))


@dataclass(frozen=True)
class PseudoPositionConfig:
    """Offset poses around the recorded ones (off when ``per_step`` is 0)."""

    per_step: int = 0
    """Offset poses drawn per used recorded step (0: off)."""
    every_n_steps: int = 4
    """Use every n-th recorded step (neighbouring steps are nearly identical)."""
    lateral_std_m: float = 0.15
    """Std of the sideways offset, m."""
    heading_std_rad: float = 0.08
    """Std of the heading offset, rad."""
    max_lateral_m: float = 0.4
    """Offsets are clipped to this, m."""
    min_range_m: float = 0.25
    """Offset poses whose re-cast scan sees anything closer than this are dropped (the car
    would be touching a wall or an obstacle)."""
    seed: int = 0
    """Seed of the offset draws (mixed with the episode's seed)."""


def offset_pose(
    x_m: float, y_m: float, yaw_rad: float, lateral_m: float, heading_rad: float
) -> tuple[float, float, float]:
    """The pose moved ``lateral_m`` to the left of its heading and turned by ``heading_rad``."""
    return (
        x_m - lateral_m * math.sin(yaw_rad),
        y_m + lateral_m * math.cos(yaw_rad),
        yaw_rad + heading_rad,
    )


def scan_at_pose(world: w.World, i: int, pose: tuple[float, float, float]) -> np.ndarray:
    """Noiseless scan (n_beams,) float32 of car ``i``'s sensor if its base_link were at ``pose``."""
    x, y, yaw = pose
    lidar = world.cfg.lidar
    sx = x + lidar.mount_offset_m * math.cos(yaw)
    sy = y + lidar.mount_offset_m * math.sin(yaw)
    segments = world.segs[i, : int(world.n_seg[i])]
    return scan_from_pose(sx, sy, yaw, segments, lidar).astype(np.float32)


def expert_action_at_pose(
    expert: Expert, world: w.World, i: int, pose: tuple[float, float, float]
) -> np.ndarray:
    """The expert's action (2,) for car ``i`` moved to ``pose`` (speed and steering unchanged)."""
    car = world.cars[i]
    saved = car.copy()
    try:
        car[w.C_X], car[w.C_Y], car[w.C_YAW] = pose
        idx, s = project_global(pose[0], pose[1], world.centerline[i], int(world.n_cl[i]))
        car[w.C_CL_IDX], car[w.C_S_LOCAL] = idx, s
        return expert.act(world, i)
    finally:
        car[:] = saved


def pseudo_positions(
    ep_dir: str | Path, cfg: PseudoPositionConfig, expert: Expert | None = None
) -> Relabelled:
    """Scans re-cast from poses offset around the recorded ones, labelled by the expert."""
    ep_dir = Path(ep_dir)
    ep = read_config(ep_dir)
    if cfg.per_step <= 0:
        return Relabelled.empty(ep.env.lidar.n_beams)
    labeller = expert or Expert(ep.env)
    rng = np.random.default_rng([cfg.seed, ep.seed])
    rows = []
    for k, env in redrive(ep_dir, labeller):
        if k % cfg.every_n_steps:
            continue
        car = env.world.cars[0]
        base = (float(car[w.C_X]), float(car[w.C_Y]), float(car[w.C_YAW]))
        for _ in range(cfg.per_step):
            lateral = float(
                np.clip(rng.normal(0.0, cfg.lateral_std_m), -cfg.max_lateral_m, cfg.max_lateral_m)
            )
            pose = offset_pose(*base, lateral, float(rng.normal(0.0, cfg.heading_std_rad)))
            scan = scan_at_pose(env.world, 0, pose)
            if scan.min() < cfg.min_range_m:
                continue
            rows.append((k, scan, expert_action_at_pose(labeller, env.world, 0, pose), pose))
    if not rows:
        return Relabelled.empty(ep.env.lidar.n_beams)
    return Relabelled.stack(rows)


def pseudo_positions_many(
    ep_dirs: list[str | Path], cfg: PseudoPositionConfig, workers: int = -1, progress: bool = True
) -> Relabelled:
    """:func:`pseudo_positions` of many episodes, in parallel worker processes, in order."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    dirs = [Path(d) for d in ep_dirs]
    if not dirs or cfg.per_step <= 0:
        raise ValueError("pseudo_positions_many needs episodes and pseudo_positions.per_step > 0.")
    jobs = (delayed(pseudo_positions)(d, cfg) for d in dirs)
    parts = list(
        tqdm(
            Parallel(n_jobs=workers, return_as="generator")(jobs),
            total=len(dirs),
            desc="pseudo-positions",
            unit="ep",
            disable=not progress,
        )
    )
    return Relabelled(
        np.concatenate([p.scans for p in parts]),
        np.concatenate([p.actions for p in parts]),
        np.concatenate([p.steps for p in parts]),
        np.concatenate([p.poses for p in parts]),
    )


def hard_negative_episode(
    ep_dir: Path, hn: HardNegativeConfig, expert_cache: dict[str, Expert]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One failed episode as dataset parts: ``(info, arrays)`` in the extractor's layout (the
    relabelled window before its collision, with ``hn.weight``), or ``info["skipped"]``.

    ``expert_cache`` keeps one expert per env config across episodes (plans are cached in it).
    """
    info: dict[str, Any] = {"dir": str(ep_dir), "kind": "hard_negative"}
    try:
        result = read_result(ep_dir)
        info.update(seed=result.get("seed"), split=result.get("split"), reason=result.get("reason"))
        if result.get("split") == "test":
            return {**info, "skipped": "test split: test seeds never reach a training set"}, {}
        if not is_collision(result):
            return {**info, "skipped": "no collision to mine"}, {}
        ep = read_config(ep_dir)
        key = repr(config_to_dict(ep.env))
        expert = expert_cache.setdefault(key, Expert(ep.env))
        mined = mine_hard_negatives(ep_dir, hn.window_s, expert)
    except (OSError, ValueError, RecordingError) as exc:
        return {**info, "skipped": f"cannot rebuild ({exc})"}, {}
    n = len(mined)
    if n == 0:
        return {**info, "skipped": "no steps before the collision"}, {}
    dt_ns = int(round(ep.env.control_dt_s * 1e9))
    commands = np.stack([to_physical(a, ep.env) for a in mined.actions]).astype(np.float32)
    info.update(samples=n, window_steps=[int(mined.steps[0]), int(mined.steps[-1])])
    info["env"] = config_to_dict(ep.env)
    return info, {
        "scans": mined.scans,
        "actions": mined.actions,
        "commands": commands.reshape(n, 2),
        "timestamps_ns": mined.steps.astype(np.int64) * dt_ns,
        "weights": np.full(n, hn.weight, dtype=np.float32),
    }
