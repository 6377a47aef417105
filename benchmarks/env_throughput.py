"""Environment throughput: single env (gym.make, default wrappers) and the native vector env.

Prints medians over repeats (machines are noisy): steps/s, real-time factor, scans/s of the LiDAR
alone, and start-up times (gym.make + first reset, 64-car vector env) in fresh processes.
Default config: 1081 beams over 270 deg, default course, 10 obstacles.

    uv run python benchmarks/env_throughput.py [--steps 20000] [--repeats 5] [--num-envs 64]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import tyro

import tinylidar_gym  # noqa: F401  (registers TinyLidar-v0)
from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv
from tinylidar_gym.sim.config import EnvConfig
from tinylidar_gym.sim.lidar import beam_directions, cast_scan
from tinylidar_gym.tracks.layout import draw_layout


@dataclass
class Args:
    steps: int = 20_000
    """Single-env steps per repeat."""
    vector_steps: int = 1_000
    """Vector-env steps per repeat (each steps every car)."""
    num_envs: int = 64
    """Cars in the vector env."""
    repeats: int = 5
    """Repeats; medians are reported."""
    seed: int = 0
    """Seed for layouts and the action sequence."""


def _actions(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    # Mostly moderate speeds with a slowly wandering steering: episodes last long enough to be
    # representative but still end (collisions, resets are part of the measured cost).
    steer = np.clip(np.cumsum(rng.normal(0, 0.05, (n, *shape)), axis=0), -0.4, 0.4)
    speed = rng.uniform(-0.6, 0.0, (n, *shape))
    return np.stack([steer, speed], axis=-1).astype(np.float32)


def bench_single(args: Args) -> list[float]:
    env = gym.make("TinyLidar-v0")
    env.reset(seed=args.seed)
    acts = _actions(np.random.default_rng(args.seed), args.steps, ())
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for a in acts:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        rates.append(args.steps / (time.perf_counter() - t0))
    return rates


def bench_vector(args: Args) -> list[float]:
    venv = TinyLidarVectorEnv(args.num_envs, parallel=True)
    venv.reset(seed=args.seed)
    acts = _actions(np.random.default_rng(args.seed), args.vector_steps, (args.num_envs,))
    venv.step(acts[0])
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for a in acts:
            venv.step(a)
        rates.append(args.vector_steps * args.num_envs / (time.perf_counter() - t0))
    return rates


def bench_scan(args: Args, n_scans: int = 20_000) -> list[float]:
    cfg = EnvConfig()
    layout = draw_layout(cfg, np.random.default_rng(args.seed))
    segs = np.concatenate([layout.course.walls, layout.obstacles.segments])
    cos_b, sin_b = beam_directions(cfg.lidar)
    out = np.empty(cfg.lidar.n_beams)
    lc = cfg.lidar
    # Poses along the centerline, heading along it.
    s = np.linspace(0, layout.course.length_m, n_scans, endpoint=False)
    pos, yaw, _ = layout.course.interpolate(s)
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for k in range(n_scans):
            cast_scan(
                pos[k, 0],
                pos[k, 1],
                yaw[k],
                segs,
                len(segs),
                cos_b,
                sin_b,
                lc.angle_min_rad,
                lc.angle_increment_rad,
                lc.max_range_m,
                out,
            )
        rates.append(n_scans / (time.perf_counter() - t0))
    return rates


def startup_seconds(code: str, repeats: int) -> float:
    """Median wall time of ``code`` (after ``import gymnasium``) in fresh interpreters."""
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time, gymnasium as gym, numpy as np\n"
                "t0 = time.perf_counter()\n" + code + "\nprint(time.perf_counter() - t0)",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def main() -> None:
    args = tyro.cli(Args)
    cfg = EnvConfig()
    print(
        f"config: {cfg.lidar.n_beams} beams / {cfg.lidar.fov_deg:.0f} deg, "
        f"{cfg.obstacles.count} obstacles, control dt {cfg.control_dt_s * 1e3:.0f} ms, "
        f"{cfg.substeps} substeps"
    )
    # Warm the numba cache (compiles on a first run, loads afterwards).
    startup_seconds(
        "env = gym.make('TinyLidar-v0'); env.reset(seed=0); env.step(env.action_space.sample())", 1
    )
    make_s = startup_seconds("env = gym.make('TinyLidar-v0'); env.reset(seed=0)", args.repeats)
    vec_s = startup_seconds(
        "from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv\n"
        f"v = TinyLidarVectorEnv({args.num_envs}); v.reset(seed=0)\n"
        f"v.step(np.zeros(({args.num_envs}, 2)))",
        args.repeats,
    )
    single = statistics.median(bench_single(args))
    vector = statistics.median(bench_vector(args))
    scans = statistics.median(bench_scan(args))
    rtf = single * cfg.control_dt_s
    print(f"gym.make + first reset (fresh process, warm cache): {make_s:.2f} s")
    print(f"{args.num_envs}-car vector env make + reset + first step: {vec_s:.2f} s")
    print(
        f"single env (gym.make, default wrappers): {single:,.0f} steps/s  (real-time x{rtf:,.0f})"
    )
    print(
        f"vector env ({args.num_envs} cars, all cores): {vector:,.0f} agent-steps/s  "
        f"(x{vector / single:.1f} the single env)"
    )
    print(f"LiDAR alone: {scans:,.0f} scans/s ({1e6 / scans:.1f} us/scan)")


if __name__ == "__main__":
    main()
