"""Benchmark gate: fails when env throughput or policy success falls below the committed baseline.

Measures, on fixed settings (:class:`GateConfig`):

1. env throughput, medians of short repeats: the single env through ``gym.make`` (steps/s) and
   the 64-car vector env (agent-steps/s), with the functions of ``env_throughput.py``; the
   vector env once more with one core kept busy by another process (contended);
2. policy success on fixed held-out test seeds: the expert, and a small Tiny Lidar Net trained
   in the run (seeded collect, extract, BC on model size S for a few epochs, CPU).

It compares them with ``benchmarks/baseline.json`` (tolerances are stated there), prints a table
and exits 1 on any FAIL. It never writes the baseline unless asked:

    uv run python benchmarks/gate.py                    # the check (CI runs this)
    uv run python benchmarks/gate.py --update-baseline  # measure and write a new baseline

Everything it produces goes to a temporary directory (``--work-dir`` to keep it elsewhere).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tyro

from benchmarks.gate_baseline import (
    DEFAULT_BASELINE,
    BaselineError,
    baseline_diff,
    check_config,
    compare,
    failure_message,
    format_table,
    load_baseline,
    new_baseline,
    write_baseline,
)


@dataclass(frozen=True)
class GateConfig:
    """What the gate measures; recorded in the baseline, which is refused when these change."""

    single_steps: int = 10_000
    """Single-env steps per throughput repeat."""
    vector_steps: int = 300
    """Vector-env steps per repeat (each steps every car)."""
    num_envs: int = 64
    """Cars in the vector env."""
    throughput_repeats: int = 5
    """Throughput repeats; the median is compared."""
    expert_test_episodes: int = 50
    """Test seeds 2,000,000.. the expert drives."""
    train_episodes: int = 100
    """Expert episodes (train seeds 0..) collected for the small model."""
    model_test_episodes: int = 50
    """Test seeds 2,000,000.. the small model drives."""
    variant: str = "S"
    """Tiny Lidar Net size of the small model."""
    epochs: int = 12
    """BC epochs of the small model."""
    batch_size: int = 256
    """BC batch size."""
    seed: int = 0
    """Seed of the throughput actions and of BC (split, weights, batch order)."""
    torch_threads: int = 1
    """CPU threads for training and inference (fixed, since float results depend on it; one
    thread also keeps training fast when other jobs share the cores)."""
    eval_num_envs: int = 16
    """Cars simulated at once while evaluating."""


@dataclass
class Args:
    baseline: Path = DEFAULT_BASELINE
    """Baseline file to compare with (or to write with --update-baseline)."""
    update_baseline: bool = False
    """Measure and write a new baseline (atomically; prints old -> new) instead of checking."""
    work_dir: Path | None = None
    """Keep the gate's runs, dataset and model in a new directory under this one (default: a
    temporary directory, removed at the end)."""
    throughput_retries: int = 1
    """Re-measure throughput this many times when it fails (outside load on shared machines);
    the best median of each figure counts."""
    gate: GateConfig = field(default_factory=GateConfig)
    """Measuring settings (changing them needs a new baseline)."""


Figures = tuple[dict[str, float], dict[str, Any]]
"""(gated figures, informative figures: timings, sample counts)."""


def config_doc(cfg: GateConfig) -> dict[str, Any]:
    """The settings as the baseline stores them (plain JSON types)."""
    return json.loads(json.dumps(asdict(cfg)))


# ------------------------------------------------------------------------------- measuring


def measure_throughput(cfg: GateConfig) -> Figures:
    """Median single-env steps/s and vector-env agent-steps/s (quiet, then with one core kept
    busy by another process) over ``throughput_repeats``."""
    from benchmarks.env_throughput import Args as ThroughputArgs
    from benchmarks.env_throughput import bench_single, bench_vector, busy_core

    targs = ThroughputArgs(
        steps=cfg.single_steps,
        vector_steps=cfg.vector_steps,
        num_envs=cfg.num_envs,
        repeats=cfg.throughput_repeats,
        seed=cfg.seed,
    )
    t0 = time.perf_counter()
    print("env throughput", flush=True)
    single = bench_single(targs)
    vector = bench_vector(targs)
    with busy_core():
        contended = bench_vector(targs)
    figures = {
        "single_env_steps_per_s": statistics.median(single),
        "vector_env_agent_steps_per_s": statistics.median(vector),
        "vector_env_contended_agent_steps_per_s": statistics.median(contended),
    }
    info = {
        "single_env_repeats": single,
        "vector_env_repeats": vector,
        "vector_env_contended_repeats": contended,
        "throughput_s": time.perf_counter() - t0,
    }
    return figures, info


def measure_policies(cfg: GateConfig, work: Path) -> Figures:
    """Expert success on fixed test seeds; train the small model in ``work`` and evaluate it."""
    from tinylidar_gym.data.collect import CollectJob, collect
    from tinylidar_gym.data.evaluation import evaluate, expert_batch_policy
    from tinylidar_gym.data.extract import extract
    from tinylidar_gym.data.seeds import split_seeds
    from tinylidar_gym.sim.config import EnvConfig, config_from_dict

    info: dict[str, Any] = {}
    env_cfg = EnvConfig()

    t = time.perf_counter()
    print(f"expert on {cfg.expert_test_episodes} test seeds", flush=True)
    seeds = split_seeds("test", 0, cfg.expert_test_episodes)
    expert = evaluate(
        expert_batch_policy(env_cfg), seeds, work / "eval-expert", env_cfg, "test", "expert",
        cfg.eval_num_envs, record=False, progress=False,
    )  # fmt: skip
    info["expert_eval_s"] = time.perf_counter() - t
    info["expert_failed_seeds"] = expert["failed_seeds"]

    t = time.perf_counter()
    print(f"small model: collect {cfg.train_episodes} episodes, extract, train", flush=True)
    job = CollectJob(work / "collect", "train", 0, cfg.train_episodes, env=env_cfg)
    collect(job, progress=False)
    info["collect_s"] = time.perf_counter() - t
    t = time.perf_counter()
    stats = extract([job.run_dir], work / "data", progress=False)
    info["extract_s"] = time.perf_counter() - t
    info["train_samples"] = stats["n_samples"]

    from trainers.bc import train_bc
    from trainers.configs import BCConfig
    from trainers.export import load_policy, model_env_config
    from trainers.tracking import TrackingConfig

    t = time.perf_counter()
    bc_cfg = BCConfig(
        variant=cfg.variant,  # type: ignore[arg-type]
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        device="cpu",
        threads=cfg.torch_threads,
    )
    report = train_bc(work / "data", work / "model", bc_cfg, TrackingConfig("none"), False)
    info["train_s"] = time.perf_counter() - t
    info["best_epoch"] = report["best_epoch"]
    info["best_val_mse"] = report["best_val_mse"]

    t = time.perf_counter()
    print(f"small model on {cfg.model_test_episodes} test seeds", flush=True)
    policy = load_policy(work / "model", "torch")
    model_env = config_from_dict(EnvConfig, model_env_config(work / "model"))
    seeds = split_seeds("test", 0, cfg.model_test_episodes)
    model = evaluate(
        lambda obs, venv: policy(obs), seeds, work / "eval-model", model_env, "test", "model",
        cfg.eval_num_envs, record=False, progress=False,
    )  # fmt: skip
    info["model_eval_s"] = time.perf_counter() - t
    info["model_failed_seeds"] = model["failed_seeds"]
    figures = {
        "expert_success_rate": float(expert["success_rate"]),
        "model_success_rate": float(model["success_rate"]),
    }
    return figures, info


@contextmanager
def work_directory(parent: Path | None) -> Iterator[Path]:
    """A fresh directory for the gate's outputs: temporary (removed after), or a new one under
    ``parent`` that is kept (an existing run there is never touched)."""
    if parent is None:
        with tempfile.TemporaryDirectory(prefix="tinylidar-gate-") as tmp:
            yield Path(tmp)
        return
    parent.mkdir(parents=True, exist_ok=True)
    yield Path(tempfile.mkdtemp(prefix="gate-", dir=parent))


# --------------------------------------------------------------------------------- the gate


def run_gate(
    args: Args,
    throughput: Callable[[GateConfig], Figures] = measure_throughput,
    policies: Callable[[GateConfig, Path], Figures] = measure_policies,
) -> int:
    """Measure, then check against (or with --update-baseline write) the baseline.

    Returns the exit status: 0 when every figure passes (or the baseline was written), 1 when
    one fails. A missing or mismatched baseline raises :class:`BaselineError` before measuring.
    """
    t0 = time.perf_counter()
    cfg = config_doc(args.gate)
    old: dict[str, Any] | None = None
    if args.update_baseline:
        if args.baseline.exists():
            try:
                old = load_baseline(args.baseline)
            except BaselineError as exc:
                print(f"replacing an unusable baseline: {exc}")
    else:
        old = load_baseline(args.baseline)
        check_config(old, cfg)  # fail before minutes of measuring

    figures, info = throughput(args.gate)
    with work_directory(args.work_dir) as work:
        print(f"gate outputs in {work}")
        policy_figures, policy_info = policies(args.gate, work)
    figures.update(policy_figures)
    info.update(policy_info)

    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    if args.update_baseline:
        info["gate_wall_s"] = time.perf_counter() - t0
        doc = new_baseline(figures, info, cfg, old)
        print(f"\nbaseline {args.baseline}, old -> new:\n{baseline_diff(old, doc)}")
        write_baseline(args.baseline, doc)
        print(_timings(info))
        print(f"wrote {args.baseline}; commit it.")
        return 0

    assert old is not None
    checks = compare(old, figures, cfg)
    for attempt in range(args.throughput_retries):
        slow = [c.metric for c in checks if not c.passed and c.tolerance.kind == "relative"]
        if not slow:
            break
        print(f"below the floor: {', '.join(slow)}; measuring throughput again ({attempt + 1})")
        again, _ = throughput(args.gate)
        for metric in slow:
            figures[metric] = max(figures[metric], again.get(metric, figures[metric]))
        checks = compare(old, figures, cfg)

    info["gate_wall_s"] = time.perf_counter() - t0
    machine = old.get("machine", {})
    print(
        f"\nbenchmark gate against {args.baseline} (measured {old.get('date_utc')} on "
        f"{machine.get('cpu_count')} cores, python {machine.get('python')}, "
        f"torch {machine.get('torch')}):\n"
    )
    print(format_table(checks))
    print(_timings(info))
    if all(c.passed for c in checks):
        print("benchmark gate passed")
        return 0
    print(failure_message(checks, args.baseline), file=sys.stderr)
    return 1


def _timings(info: dict[str, Any]) -> str:
    parts = ("throughput", "expert_eval", "collect", "extract", "train", "model_eval")
    each = ", ".join(f"{p.replace('_', ' ')} {info.get(p + '_s', 0):.0f} s" for p in parts)
    return f"\ngate time {info.get('gate_wall_s', 0):.0f} s ({each})"


def main() -> None:
    # OpenMP threads (numba's parallel vector env, torch) spin while idle by default; when other
    # jobs share the cores that made evaluation 20-80x slower here. Passive waiting keeps the
    # figures about our code rather than the neighbours. Set before torch or numba's threading
    # layer loads the OpenMP runtime (it reads this once).
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
    args = tyro.cli(Args)
    try:
        status = run_gate(args)
    except BaselineError as exc:
        print(f"benchmark gate: {exc}", file=sys.stderr)
        status = 2
    sys.exit(status)


if __name__ == "__main__":
    main()
