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
``gym.make("TinyLidar-v0")`` with and without the ``RecordEpisode`` wrapper
(:mod:`tinylidar_gym.recording.wrapper`; one file per episode, as users and the collector
record), interleaved, and prints steps/s, the ratio (budget: >= 0.70), the recording cost per
step (end to end: the wrapper, the writer, opening and finishing files, and the background
thread's competition for the GIL and the cores), then, from a separate instrumented pass, the
stepping thread's time inside the writer per step and per episode (open; close, which hands the
last chunk to the background thread). Medians over ``--repeats``; the machine may be shared, so
compare ratios measured in the same run.

Part 3 times the step message as JSON vs as protobuf (``tinylidar.EnvStep``) in a tight loop,
for the minimal step dict and for one with the whole env ``info`` (``StepEncoder``), and for
what ``RecordEpisode`` records (``InfoStepEncoder``, straight from ``info``).

Part 4 compresses the chunks of a recording (real scans) with several zstd settings: the
compression ratio and the background thread's CPU per step (the chosen parameters vs levels).

    uv run python benchmarks/recording_throughput.py [--steps 3000] [--repeats 5]
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import tyro

import tinylidar_gym  # noqa: F401  (registers TinyLidar-v0)
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.experts.follow_the_gap import FollowTheGap
from tinylidar_gym.recording import EpisodeWriter
from tinylidar_gym.recording import schemas as s
from tinylidar_gym.recording.messages import InfoStepEncoder
from tinylidar_gym.recording.wrapper import STEP_KEYS, RecordEpisode
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


def replay(env: gym.Env, episodes: list[tuple[int, np.ndarray]]) -> float:
    """Replay the episodes (their seeds and actions); returns the seconds taken, including
    waiting for the last recording to be in place."""
    t_start = time.perf_counter()
    for seed, actions in episodes:
        env.reset(seed=seed)
        for action in actions:
            env.step(action)
    if isinstance(env, RecordEpisode):
        env.close_recording()
    return time.perf_counter() - t_start


@contextlib.contextmanager
def writer_timers() -> Iterator[dict[str, list[float]]]:
    """Time the stepping thread inside ``EpisodeWriter``'s methods (seconds per call)."""
    times: dict[str, list[float]] = {}
    originals = {}
    for name in ("__init__", "write_step_message", "close"):
        original = originals[name] = getattr(EpisodeWriter, name)

        def timed(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                times.setdefault(_name, []).append(time.perf_counter() - t0)

        setattr(EpisodeWriter, name, timed)
    try:
        yield times
    finally:
        for name, original in originals.items():
            setattr(EpisodeWriter, name, original)


def bench_env(
    args: Args, cfg: EnvConfig, episodes: list[tuple[int, np.ndarray]], tmp: Path
) -> None:
    n = sum(len(a) for _, a in episodes)
    print(
        f"\nPart 2: gym.make('TinyLidar-v0') replaying {len(episodes)} expert episodes "
        f"({n} steps, mean {n / len(episodes):.0f} steps/episode), with and without "
        "RecordEpisode (one file per episode)"
    )
    env = gym.make("TinyLidar-v0", config=cfg)
    recorded_env = RecordEpisode(
        gym.make("TinyLidar-v0", config=cfg), lambda k: tmp / f"episode_{k}.mcap"
    )
    replay(env, episodes[:1])  # warm-up (numba, caches)
    replay(recorded_env, episodes[:1])
    plain, recorded, ratios = [], [], []
    for _ in range(args.repeats):
        p = n / replay(env, episodes)
        r = n / replay(recorded_env, episodes)
        plain.append(p)
        recorded.append(r)
        ratios.append(r / p)
        for f in tmp.glob("episode_*.mcap"):
            f.unlink()
    passes = []  # instrumented, not part of the numbers above: per pass, seconds per method
    for _ in range(3):
        with writer_timers() as times:
            replay(recorded_env, episodes)
        passes.append({k: sum(v) for k, v in times.items()})
        for f in tmp.glob("episode_*.mcap"):
            f.unlink()
    recorded_env.close()
    p, r = statistics.median(plain), statistics.median(recorded)
    in_writer = {k: statistics.median(t[k] for t in passes) for k in passes[0]}
    per_episode = {k: v / len(episodes) * 1e3 for k, v in in_writer.items()}
    print(f"  unrecorded      {p:9.0f} steps/s  ({1e6 / p:.1f} us/step)")
    print(f"  recorded        {r:9.0f} steps/s  ({1e6 / r:.1f} us/step)")
    print(
        f"  ratio           {r / p:9.2f}        (budget >= 0.70; median of paired ratios "
        f"{statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f})"
    )
    print(f"  recording cost  {1e6 / r - 1e6 / p:9.1f} us/step (end to end)")
    print(
        f"  in the writer   {in_writer['write_step_message'] / n * 1e6:9.1f} us/step "
        "(stepping thread, write_step_message; instrumented passes)"
    )
    print(
        f"  open + close    {per_episode['__init__'] + per_episode['close']:9.2f} ms/episode "
        f"(open {per_episode['__init__']:.2f}, close {per_episode['close']:.2f}: the last "
        "chunk is finished in the background)"
    )


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
    from_info = InfoStepEncoder(STEP_KEYS)
    as_pb = _per_call_us(
        lambda: from_info(info, reward, terminated, truncated, 1.0), 20_000, args.repeats
    )
    print(f"  {'RecordEpisode (from info)':26s} {'':19s}protobuf EnvStep {as_pb:5.2f}")


# --------------------------------------------------------------------------- part 4: zstd


def bench_zstd(args: Args, scans: np.ndarray, lidar: LidarConfig, tmp: Path) -> None:
    import zstandard
    from mcap.records import Chunk
    from mcap.stream_reader import StreamReader

    from tinylidar_gym.recording.mcap_chunks import ZSTD_PARAMETERS

    path = tmp / "chunks.mcap"
    _episode_writer("zstd")(path, scans, lidar)
    with open(path, "rb") as f:
        chunks = [
            zstandard.decompress(r.data, r.uncompressed_size)
            for r in StreamReader(f, emit_chunks=True).records
            if isinstance(r, Chunk)
        ]
    raw = sum(map(len, chunks))
    settings = {
        "chosen (ZSTD_PARAMETERS)": zstandard.ZstdCompressionParameters(
            **ZSTD_PARAMETERS, write_checksum=True
        ),
        **{
            f"level {level}": zstandard.ZstdCompressionParameters.from_level(
                level, source_size=len(chunks[0]), write_checksum=True
            )
            for level in (3, 1, -1, -3, -5)
        },
    }
    print(f"\nPart 4: zstd on the {len(chunks)} chunks of {len(scans)} steps (CPU per step)")
    for name, params in settings.items():
        compress = zstandard.ZstdCompressor(compression_params=params).compress
        times = []
        for _ in range(args.repeats):
            t0 = time.thread_time()
            size = sum(len(compress(c)) for c in chunks)
            times.append(time.thread_time() - t0)
        us = statistics.median(times) / len(scans) * 1e6
        print(f"  {name:26s} ratio {raw / size:5.2f}   {us:5.1f} us/step")


def main(args: Args) -> None:
    cfg = EnvConfig()
    episodes = expert_episodes(cfg, args.env_steps, args.seed)
    scans = real_scans(cfg, episodes, args.steps)
    with tempfile.TemporaryDirectory(prefix="recording_bench_") as d:
        tmp = Path(d)
        bench_candidates(args, scans, cfg.lidar, tmp)
        bench_env(args, cfg, episodes, tmp)
        bench_pieces(args, cfg)
        bench_zstd(args, scans, cfg.lidar, tmp)


if __name__ == "__main__":
    main(tyro.cli(Args))
