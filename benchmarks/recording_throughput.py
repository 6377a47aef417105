"""Recording throughput: which MCAP writer to use, and what recording costs the env per step.

Part 1 writes ``--steps`` steps of a 1081-beam ``foxglove.LaserScan`` + ``foxglove.FrameTransform``
(protobuf, zstd chunks, real scans from the env) with each candidate and prints messages/s:

* foxglove-sdk with its typed message objects (``LaserScanChannel.log(LaserScan(...))``),
* foxglove-sdk logging pre-serialised protobuf bytes on generic channels,
* the ``mcap`` package's pure-Python ``Writer`` with the same hand-built protobuf bytes,
* :class:`~tinylidar_gym.recording.EpisodeWriter` (the chosen writer: hand-built protobuf, chunks
  compressed and written by a background thread), which also writes the command and step
  messages (4 messages per step). A pure write loop is bound by the compression thread.

Part 2 replays expert (follow-the-gap) episodes, i.e. realistic episode lengths, through
``gym.make("TinyLidar-v0")`` with and without an ``EpisodeWriter`` per episode, interleaved, and
prints steps/s, the ratio (budget: >= 0.70), the recording cost per step, the time spent inside
``write_step`` and the fixed cost per episode (open + close). Medians over ``--repeats``.

Part 3 times the step message as JSON vs as protobuf (``tinylidar.EnvStep``) in a tight loop,
for the minimal step dict and for one with the whole env ``info``.

    uv run python benchmarks/recording_throughput.py [--steps 3000] [--repeats 5]
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import tyro

import tinylidar_gym  # noqa: F401  (registers TinyLidar-v0)
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.experts.follow_the_gap import FollowTheGap
from tinylidar_gym.recording import EpisodeWriter
from tinylidar_gym.recording import schemas as s
from tinylidar_gym.recording.writer import (
    StepEncoder,
    frame_transform_bytes,
    laser_scan_prefix,
    timestamp_field,
)
from tinylidar_gym.sim.config import EnvConfig, LidarConfig


@dataclass
class Args:
    steps: int = 3_000
    """Steps per writer candidate and repeat (part 1)."""
    env_steps: int = 8_000
    """Env steps of expert episodes replayed per arm and repeat (part 2)."""
    repeats: int = 5
    """Repeats; medians are reported."""
    seed: int = 0
    """First seed of the expert episodes."""


# --------------------------------------------------------------------------- data


def expert_episodes(cfg: EnvConfig, n_steps: int, seed: int) -> list[tuple[int, np.ndarray]]:
    """(seed, actions (T, 2)) of follow-the-gap episodes, at least ``n_steps`` steps in all."""
    env = TinyLidarEnv(cfg)
    policy = FollowTheGap(cfg)
    episodes: list[tuple[int, np.ndarray]] = []
    total = 0
    while total < n_steps:
        obs, _ = env.reset(seed=seed)
        actions = []
        while True:
            action = policy(obs)
            actions.append(action)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        episodes.append((seed, np.asarray(actions, dtype=np.float32)))
        total += len(actions)
        seed += 1
    return episodes


def real_scans(cfg: EnvConfig, episodes: list[tuple[int, np.ndarray]], n: int) -> np.ndarray:
    """(n, n_beams) float32 scans along the expert episodes (repeated if needed)."""
    env = TinyLidarEnv(cfg)
    scans = []
    for seed, actions in episodes:
        env.reset(seed=seed)
        for action in actions:
            scans.append(env.step(action)[0])
    return np.asarray([scans[i % len(scans)] for i in range(n)])


# --------------------------------------------------------------------------- part 1: candidates


def _scan_bytes(prefix: bytes, t: int, scan: np.ndarray) -> bytes:
    return timestamp_field(t) + prefix + scan.astype("<f8").tobytes()


def write_foxglove_typed(path: Path, scans: np.ndarray, lidar: LidarConfig) -> int:
    import foxglove
    from foxglove import channels
    from foxglove import messages as m

    ctx = foxglove.Context()  # own context: no global sink, no server
    with foxglove.open_mcap(path, context=ctx):
        scan_ch = channels.LaserScanChannel(s.TOPIC_SCAN, context=ctx)
        tf_ch = channels.FrameTransformChannel(s.TOPIC_TF, context=ctx)
        pose = m.Pose(position=m.Vector3(), orientation=m.Quaternion(w=1.0))
        for i, scan in enumerate(scans):
            t = i * 25_000_000
            stamp = m.Timestamp(sec=t // 1_000_000_000, nsec=t % 1_000_000_000)
            scan_ch.log(
                m.LaserScan(
                    timestamp=stamp,
                    frame_id=s.FRAME_LIDAR,
                    pose=pose,
                    start_angle=lidar.angle_min_rad,
                    end_angle=lidar.angle_max_rad,
                    ranges=scan.tolist(),
                ),
                log_time=t,
            )
            yaw = 0.001 * i
            tf_ch.log(
                m.FrameTransform(
                    timestamp=stamp,
                    parent_frame_id=s.FRAME_MAP,
                    child_frame_id=s.FRAME_BASE_LINK,
                    translation=m.Vector3(x=0.01 * i, y=1.0),
                    rotation=m.Quaternion(z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
                ),
                log_time=t,
            )
    return 2 * len(scans)


def write_foxglove_bytes(path: Path, scans: np.ndarray, lidar: LidarConfig) -> int:
    import foxglove
    from foxglove import messages as m

    ctx = foxglove.Context()
    prefix = laser_scan_prefix(lidar)
    with foxglove.open_mcap(path, context=ctx):
        scan_log = foxglove.Channel(
            s.TOPIC_SCAN, schema=m.LaserScan.get_schema(), message_encoding="protobuf", context=ctx
        ).base.log
        tf_log = foxglove.Channel(
            s.TOPIC_TF,
            schema=m.FrameTransform.get_schema(),
            message_encoding="protobuf",
            context=ctx,
        ).base.log
        for i, scan in enumerate(scans):
            t = i * 25_000_000
            scan_log(_scan_bytes(prefix, t, scan), t)
            tf_log(frame_transform_bytes(t, "map", "base_link", 0.01 * i, 1.0, 0.001 * i), t)
    return 2 * len(scans)


def write_mcap_python(path: Path, scans: np.ndarray, lidar: LidarConfig) -> int:
    from mcap.writer import CompressionType, Writer

    prefix = laser_scan_prefix(lidar)
    with open(path, "wb") as f:
        writer = Writer(f, compression=CompressionType.ZSTD)
        writer.start()
        scan_schema = writer.register_schema(
            s.SCHEMA_LASER_SCAN, "protobuf", s.protobuf_schema_data(s.SCHEMA_LASER_SCAN)
        )
        tf_schema = writer.register_schema(
            s.SCHEMA_FRAME_TRANSFORM, "protobuf", s.protobuf_schema_data(s.SCHEMA_FRAME_TRANSFORM)
        )
        scan_ch = writer.register_channel(s.TOPIC_SCAN, "protobuf", scan_schema)
        tf_ch = writer.register_channel(s.TOPIC_TF, "protobuf", tf_schema)
        for i, scan in enumerate(scans):
            t = i * 25_000_000
            writer.add_message(scan_ch, t, _scan_bytes(prefix, t, scan), t, i)
            tf = frame_transform_bytes(t, "map", "base_link", 0.01 * i, 1.0, 0.001 * i)
            writer.add_message(tf_ch, t, tf, t, i)
        writer.finish()
    return 2 * len(scans)


def _episode_writer(compression: str) -> Callable[[Path, np.ndarray, LidarConfig], int]:
    def write(path: Path, scans: np.ndarray, lidar: LidarConfig) -> int:
        action = np.array([0.1, -0.2], dtype=np.float32)
        step = {"reward": 0.1, "terminated": False, "truncated": False, "end_reason": "running"}
        walls = np.zeros((0, 4))
        with EpisodeWriter(
            path, lidar, lidar.mount_offset_m, walls, np.zeros((0, 5)), compression=compression
        ) as rec:
            for i, scan in enumerate(scans):
                pose = (0.01 * i, 1.0, 0.001 * i)
                rec.write_step(i * 25_000_000, scan, pose, 3.0, (0.1, 3.0), action, step)
        return 4 * len(scans)

    return write


CANDIDATES: dict[str, Callable[[Path, np.ndarray, LidarConfig], int]] = {
    "foxglove-sdk, typed message objects": write_foxglove_typed,
    "foxglove-sdk, protobuf bytes": write_foxglove_bytes,
    "mcap Writer (Python), protobuf bytes": write_mcap_python,
    "EpisodeWriter zstd (chosen), 4 msg/step": _episode_writer("zstd"),
    "EpisodeWriter lz4, 4 msg/step": _episode_writer("lz4"),
}


def bench_candidates(args: Args, scans: np.ndarray, lidar: LidarConfig, tmp: Path) -> None:
    print(f"Part 1: writers, {len(scans)} steps of LaserScan ({lidar.n_beams} beams) + transform")
    print(f"  {'candidate':42s} {'msgs/s':>9s} {'steps/s':>9s} {'us/step':>8s} {'MB':>6s}")
    for name, write in CANDIDATES.items():
        rates, sizes = [], []
        for rep in range(args.repeats):
            path = tmp / f"cand_{rep}.mcap"
            t0 = time.perf_counter()
            n_msgs = write(path, scans, lidar)
            rates.append(time.perf_counter() - t0)
            sizes.append(path.stat().st_size)
            path.unlink()
        dt = statistics.median(rates)
        print(
            f"  {name:42s} {n_msgs / dt:9.0f} {len(scans) / dt:9.0f} "
            f"{dt / len(scans) * 1e6:8.1f} {sizes[0] / 1e6:6.1f}"
        )


# --------------------------------------------------------------------------- part 2: env


def replay(
    env: gym.Env,
    episodes: list[tuple[int, np.ndarray]],
    tmp: Path | None,
) -> tuple[float, float, float]:
    """Replay the episodes; returns (seconds, seconds inside write_step, seconds open+close)."""
    unwrapped = env.unwrapped
    assert isinstance(unwrapped, TinyLidarEnv)
    cfg = unwrapped.config
    dt_ns = round(cfg.control_dt_s * 1e9)
    in_write = in_open_close = 0.0
    perf = time.perf_counter
    t_start = perf()
    for k, (seed, actions) in enumerate(episodes):
        env.reset(seed=seed)
        rec = None
        if tmp is not None:
            t0 = perf()
            layout = unwrapped.layout
            assert layout is not None
            rec = EpisodeWriter(
                tmp / f"episode_{k}.mcap",
                cfg.lidar,
                cfg.lidar.mount_offset_m,
                layout.course.walls,
                layout.obstacles.boxes,
                {"seed": seed},
            )
            in_open_close += perf() - t0
        for i, action in enumerate(actions, start=1):
            obs, reward, terminated, truncated, info = env.step(action)
            if rec is not None:
                t0 = perf()
                step = {
                    "reward": reward,
                    "terminated": terminated,
                    "truncated": truncated,
                    "end_reason": info["end_reason"],
                    "progress_m": info["progress_m"],
                    "checkpoints_passed": info["checkpoints_passed"],
                }
                rec.write_step(
                    i * dt_ns,
                    obs,
                    (info["x_m"], info["y_m"], info["yaw_rad"]),
                    info["speed_mps"],
                    (info["steer_cmd_rad"], info["speed_cmd_mps"]),
                    action,
                    step,
                )
                in_write += perf() - t0
        if rec is not None:
            t0 = perf()
            rec.close()
            in_open_close += perf() - t0
    return perf() - t_start, in_write, in_open_close


def bench_env(
    args: Args, cfg: EnvConfig, episodes: list[tuple[int, np.ndarray]], tmp: Path
) -> None:
    n = sum(len(a) for _, a in episodes)
    print(
        f"\nPart 2: gym.make('TinyLidar-v0') replaying {len(episodes)} expert episodes "
        f"({n} steps, mean {n / len(episodes):.0f} steps/episode), one EpisodeWriter per episode"
    )
    env = gym.make("TinyLidar-v0", config=cfg)
    replay(env, episodes[:1], None)  # warm-up (numba, caches)
    replay(env, episodes[:1], tmp)
    plain, recorded, write, fixed = [], [], [], []
    for _ in range(args.repeats):
        plain.append(n / replay(env, episodes, None)[0])
        secs, in_write, in_open_close = replay(env, episodes, tmp)
        recorded.append(n / secs)
        write.append(in_write / n * 1e6)
        fixed.append(in_open_close / len(episodes) * 1e3)
        for f in tmp.glob("episode_*.mcap"):
            f.unlink()
    p, r = statistics.median(plain), statistics.median(recorded)
    print(f"  unrecorded      {p:9.0f} steps/s  ({1e6 / p:.1f} us/step)")
    print(f"  recorded        {r:9.0f} steps/s  ({1e6 / r:.1f} us/step)")
    print(f"  ratio           {r / p:9.2f}        (budget >= 0.70)")
    print(f"  recording cost  {1e6 / r - 1e6 / p:9.1f} us/step (end to end, incl. open/close)")
    print(f"  in write_step   {statistics.median(write):9.1f} us/step (main thread)")
    print(f"  open + close    {statistics.median(fixed):9.2f} ms/episode")


# --------------------------------------------------------------------------- part 3: pieces


def _per_call_us(fn: Callable[[], object], number: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number * 1e6)
    return statistics.median(times)


def bench_pieces(args: Args, cfg: EnvConfig) -> None:
    env = TinyLidarEnv(cfg)
    env.reset(seed=args.seed)
    _, reward, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
    minimal = {
        "reward": reward,
        "terminated": terminated,
        "truncated": truncated,
        "end_reason": info["end_reason"],
        "progress_m": info["progress_m"],
        "checkpoints_passed": info["checkpoints_passed"],
    }
    full = {"reward": reward, "terminated": terminated, "truncated": truncated, **info}
    encoder = StepEncoder()
    print("\nPart 3: pieces of a step, tight loop (us per call)")
    for name, step in (("minimal step dict", minimal), (f"step + info ({len(full)} keys)", full)):
        as_json = _per_call_us(lambda s=step: json.dumps(s).encode(), 20_000, args.repeats)
        as_pb = _per_call_us(lambda s=step: encoder(s, 1.0), 20_000, args.repeats)
        print(f"  {name:26s} json.dumps {as_json:5.2f}   protobuf EnvStep {as_pb:5.2f}")


def main(args: Args) -> None:
    cfg = EnvConfig()
    episodes = expert_episodes(cfg, args.env_steps, args.seed)
    scans = real_scans(cfg, episodes, args.steps)
    with tempfile.TemporaryDirectory(prefix="recording_bench_") as d:
        tmp = Path(d)
        bench_candidates(args, scans, cfg.lidar, tmp)
        bench_env(args, cfg, episodes, tmp)
    bench_pieces(args, cfg)


if __name__ == "__main__":
    main(tyro.cli(Args))
