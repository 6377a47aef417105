"""Environment throughput: single env (gym.make, default wrappers) and the native vector env.

Prints medians over repeats (machines are noisy): steps/s, real-time factor, scans/s of the LiDAR
alone, gym.make + first reset in a fresh process, and a breakdown of a single-env step's cost.
Default config: 1081 beams over 270 deg, default course, 10 obstacles.

    uv run python benchmarks/env_throughput.py [--steps 20000] [--repeats 5] [--num-envs 64]
    uv run python benchmarks/env_throughput.py --contended      # one core kept busy meanwhile
    uv run python benchmarks/env_throughput.py --before DIR     # also DIR's code, same run

``--before DIR`` takes another checkout of the project (e.g. ``git worktree add DIR <commit>``)
and measures its env the same way, in the same run, alternating with this one, so that the
ratios compare like with like on a shared machine. ``--contended`` keeps one core busy with a
spinning process while measuring: the vector env's lead over the single env then shows whether
its cars are spread well over a core that is only partly ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

ROOT = Path(__file__).resolve().parent.parent


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
    contended: bool = False
    """Keep one core busy with another process while measuring (single and vector env only)."""
    before: Path | None = None
    """Another checkout of the project to measure in the same run (before/after ratios)."""
    breakdown: bool = True
    """Print where a single-env step's time goes (this checkout only)."""


def _actions(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    # Mostly moderate speeds with a slowly wandering steering: episodes last long enough to be
    # representative but still end (collisions, resets are part of the measured cost).
    steer = np.clip(np.cumsum(rng.normal(0, 0.05, (n, *shape)), axis=0), -0.4, 0.4)
    speed = rng.uniform(-0.6, 0.0, (n, *shape))
    return np.stack([steer, speed], axis=-1).astype(np.float32)


def bench_single(args: Args, cpu_us: list[float] | None = None) -> list[float]:
    """Steps/s of ``gym.make("TinyLidar-v0")`` per repeat (``cpu_us`` gets the CPU time per
    step, which other processes on the machine do not inflate)."""
    import gymnasium as gym

    import tinylidar_gym  # noqa: F401  (registers TinyLidar-v0)

    env = gym.make("TinyLidar-v0")
    env.reset(seed=args.seed)
    acts = _actions(np.random.default_rng(args.seed), args.steps, ())
    rates = []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for a in acts:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        rates.append(args.steps / (time.perf_counter() - t0))
        if cpu_us is not None:
            cpu_us.append((time.process_time() - c0) / args.steps * 1e6)
    return rates


def bench_vector(args: Args, cpu_us: list[float] | None = None) -> list[float]:
    """Agent-steps/s of the ``num_envs``-car vector env (all cores) per repeat (``cpu_us`` gets
    the core time per car-step, all threads together)."""
    from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv

    venv = TinyLidarVectorEnv(args.num_envs, parallel=True)
    venv.reset(seed=args.seed)
    acts = _actions(np.random.default_rng(args.seed), args.vector_steps, (args.num_envs,))
    venv.step(acts[0])
    rates = []
    n = args.vector_steps * args.num_envs
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for a in acts:
            venv.step(a)
        rates.append(n / (time.perf_counter() - t0))
        if cpu_us is not None:
            cpu_us.append((time.process_time() - c0) / n * 1e6)
    return rates


def bench_scan(args: Args, n_scans: int = 20_000) -> list[float]:
    """Scans/s of the LiDAR alone (poses along the centerline) per repeat."""
    from tinylidar_gym.sim.config import EnvConfig
    from tinylidar_gym.sim.lidar import beam_directions, cast_scan
    from tinylidar_gym.tracks.layout import draw_layout

    cfg = EnvConfig()
    layout = draw_layout(cfg, np.random.default_rng(args.seed))
    segs = np.concatenate([layout.course.walls, layout.obstacles.segments])
    cos_b, sin_b = beam_directions(cfg.lidar)
    out = np.empty(cfg.lidar.n_beams)
    lc = cfg.lidar
    s = np.linspace(0, layout.course.length_m, n_scans, endpoint=False)
    pos, yaw, _ = layout.course.interpolate(s)
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for k in range(n_scans):
            cast_scan(
                pos[k, 0], pos[k, 1], yaw[k], segs, len(segs), cos_b, sin_b,
                lc.angle_min_rad, lc.angle_increment_rad, lc.max_range_m, out,
            )  # fmt: skip
        rates.append(n_scans / (time.perf_counter() - t0))
    return rates


STARTUP = "env = gym.make('TinyLidar-v0'); env.reset(seed=0)"


def bench_startup(args: Args, cached_bytecode: bool = False) -> list[float]:
    """Seconds of gym.make + first reset after ``import gymnasium``, in fresh interpreters.

    With ``cached_bytecode`` the interpreters may write and reuse ``.pyc`` files even where
    ``PYTHONDONTWRITEBYTECODE`` is set (then every start compiles numba's and gymnasium's
    sources again, which costs more than the rest of the start-up); one untimed start first.
    """
    env = os.environ.copy()
    if cached_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = (
        "import time, gymnasium as gym\nt0 = time.perf_counter()\n"
        f"{STARTUP}\nprint(time.perf_counter() - t0)"
    )
    times = []
    for _ in range(args.repeats + int(cached_bytecode)):
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return times[int(cached_bytecode) :]


def bench_startup_cached(args: Args) -> list[float]:
    """:func:`bench_startup` with Python's bytecode cache allowed."""
    return bench_startup(args, cached_bytecode=True)


def run_kind(kind: str, args: Args) -> dict[str, list[float]]:
    """One benchmark by name; single and vector also give their CPU time per step."""
    cpu: list[float] = []
    if kind == "single":
        return {"single": bench_single(args, cpu), "single_cpu": cpu}
    if kind == "vector":
        return {"vector": bench_vector(args, cpu), "vector_cpu": cpu}
    benches = {
        "scan": bench_scan,
        "startup": bench_startup,
        "startup_cached": lambda a: bench_startup(a, cached_bytecode=True),
    }
    return {kind: benches[kind](args)}


def _worker(tree: Path, kind: str, args: Args) -> dict[str, list[float]]:
    """Run one benchmark in a fresh interpreter on the checkout ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    payload = json.dumps({**vars(args), "before": None})
    out = subprocess.run(
        [sys.executable, "-c", _WORKER_CODE, __file__, kind, payload],
        cwd=tree, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# Loads this file by path, so that ``tinylidar_gym`` comes from the measured checkout (cwd).
_WORKER_CODE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("env_throughput", sys.argv[1])
bench = importlib.util.module_from_spec(spec)
sys.modules["env_throughput"] = bench
spec.loader.exec_module(bench)
a = json.loads(sys.argv[3]); a.pop("before")
print(json.dumps(bench.run_kind(sys.argv[2], bench.Args(**a))))
"""


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Keep one core busy with a spinning process while the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])
    try:
        time.sleep(0.2)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def measure(args: Args, kinds: list[str]) -> dict[str, dict[str, list[float]]]:
    """Figures per checkout ('after' = this one, 'before' = ``--before``), alternating the two
    for every figure so both see the same outside load."""
    trees = {"after": ROOT} if args.before is None else {"before": args.before, "after": ROOT}
    # Warm both numba caches (compiles on a first run, loads afterwards).
    for tree in trees.values():
        _worker(tree, "single", Args(steps=10, vector_steps=2, repeats=1, num_envs=2))
        _worker(tree, "vector", Args(steps=10, vector_steps=2, repeats=1, num_envs=2))
    results: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    one = Args(**{**vars(args), "repeats": 1})
    for kind in kinds:
        for _ in range(args.repeats):
            for name, tree in trees.items():
                for key, values in _worker(tree, kind, one).items():
                    results[name].setdefault(key, []).extend(values)
    return results


def _line(
    label: str, figures: dict[str, dict[str, list[float]]], kind: str, fmt: str, time: bool = False
) -> str:
    """``label: after (before: ...; xN faster)``; ``time``: lower is better (seconds, us)."""
    after = statistics.median(figures["after"][kind])
    text = f"{label}: {fmt.format(after)}"
    if "before" in figures:
        before = statistics.median(figures["before"][kind])
        speedup = before / after if time else after / before
        text += f"  (before: {fmt.format(before)}; x{speedup:.2f} faster)"
    return text


def report(args: Args, figures: dict[str, dict[str, list[float]]]) -> None:
    """Print every measured figure (medians) with its before/after ratio where measured."""
    mode = "one core kept busy by another process" if args.contended else "no added load"
    print(f"\n{mode}; medians of {args.repeats} repeats")
    print(_line("single env (gym.make, default wrappers)", figures, "single", "{:,.0f} steps/s"))
    print(_line("  CPU time per step", figures, "single_cpu", "{:.1f} us", time=True))
    print(_line(f"vector env ({args.num_envs} cars)", figures, "vector", "{:,.0f} agent-steps/s"))
    print(_line("  core time per car-step", figures, "vector_cpu", "{:.1f} us", time=True))
    for name, runs in figures.items():
        ratio = statistics.median(runs["vector"]) / statistics.median(runs["single"])
        print(f"  {name}: vector env / single env = x{ratio:.2f}")
    if "scan" in figures["after"]:
        print(_line("LiDAR alone", figures, "scan", "{:,.0f} scans/s"))
    label = "gym.make + first reset (fresh process, warm numba cache)"
    if "startup" in figures["after"]:
        dont = os.environ.get("PYTHONDONTWRITEBYTECODE")
        note = ", PYTHONDONTWRITEBYTECODE set" if dont else ""
        print(_line(f"{label}{note}", figures, "startup", "{:.2f} s", time=True))
    if "startup_cached" in figures["after"]:
        print(_line(f"{label}, .pyc cached", figures, "startup_cached", "{:.2f} s", time=True))


def main() -> None:
    args = tyro.cli(Args)
    from tinylidar_gym.sim.config import EnvConfig

    cfg = EnvConfig()
    print(
        f"config: {cfg.lidar.n_beams} beams / {cfg.lidar.fov_deg:.0f} deg, "
        f"{cfg.obstacles.count} obstacles, control dt {cfg.control_dt_s * 1e3:.0f} ms, "
        f"{cfg.substeps} substeps; {os.cpu_count()} cores"
    )
    if args.contended:
        with busy_core():
            figures = measure(args, ["single", "vector"])
    else:
        figures = measure(args, ["single", "vector", "scan", "startup", "startup_cached"])
    report(args, figures)
    if args.breakdown and not args.contended:
        from benchmarks.step_breakdown import step_breakdown

        print("\nwhere a single-env step's time goes (fastest of 5):")
        acts = _actions(np.random.default_rng(args.seed), 5_000, ())
        for name, us in step_breakdown(acts, args.seed).items():
            print(f"  {name:>48}: {us:6.2f} us")


if __name__ == "__main__":
    main()
