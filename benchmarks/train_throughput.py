"""Training throughput of Tiny Lidar Net on CPU: plain torch loop vs imitation's BC, and inference
latency.

(a) plain torch loop: TinyLidarNet (L, 1081 beams), MSE to random target actions, Adam, batch 256.
(b) imitation ``bc.BC`` training TinyLidarNetPolicy (the same network inside an SB3 policy, plus
    the Gaussian log-likelihood, entropy and an unused critic) on the same data, batch 256, fed
    either as an iterable of ``{"obs", "acts"}`` tensor batches or as ``types.Transitions``
    (imitation's own DataLoader). Reports samples/s and the ratio (b)/(a) (target >= 0.7).
(c) single-scan (batch 1) inference latency: TorchPolicy and OnnxPolicy (onnxruntime, 1 thread).

Repeats are interleaved (a, b, b', a, ...) so that machine drift hits all methods alike; medians
are printed. Prints figures only, asserts nothing.

    uv run python benchmarks/train_throughput.py [--quick] [--repeats 5] [--batches 48]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import tyro

from tinylidar_gym.envs.action import action_space
from tinylidar_gym.envs.observation import observation_space
from tinylidar_gym.sim.config import LidarConfig
from trainers.export import OnnxPolicy, TorchPolicy, export_onnx
from trainers.models import TinyLidarNet, TinyLidarNetPolicy

N_BEAMS = 1081


@dataclass
class Args:
    quick: bool = False
    """~10 s smoke run: 2 repeats of 6 batches, 300 latency calls."""
    repeats: int = 5
    """Timed repeats per method (interleaved); medians are reported."""
    batches: int = 32
    """Batches per repeat (one epoch over batches * batch_size random samples)."""
    batch_size: int = 256
    """Samples per optimiser step."""
    latency_calls: int = 1000
    """Batch-1 inference calls per repeat for the latency figures."""
    threads: int = 2
    """torch.set_num_threads (this machine has 2 cores)."""
    seed: int = 0
    """Seed for data and weights."""


class ShuffledBatches:
    """Re-iterable ``{"obs": (B, n_beams), "acts": (B, 2)}`` float32 tensor batches.

    The cheapest way to feed imitation's BC: each epoch gathers rows of two in-memory tensors by a
    fresh permutation (no per-sample Python work, no collate), dropping the incomplete last batch
    because BC requires every batch to have exactly ``batch_size`` samples.
    """

    def __init__(self, obs: torch.Tensor, acts: torch.Tensor, batch_size: int, seed: int) -> None:
        self.obs, self.acts, self.batch_size = obs, acts, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.obs) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        perm = torch.randperm(len(self.obs), generator=self.generator)
        for i in range(len(self)):
            idx = perm[i * self.batch_size : (i + 1) * self.batch_size]
            yield {"obs": self.obs[idx], "acts": self.acts[idx]}


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    obs = rng.uniform(0.0, 30.0, (n, N_BEAMS)).astype(np.float32)
    acts = rng.uniform(-1.0, 1.0, (n, 2)).astype(np.float32)
    return torch.from_numpy(obs), torch.from_numpy(acts)


def _timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def plain_loop(obs: torch.Tensor, acts: torch.Tensor, args: Args) -> Callable[[], None]:
    """(a): one epoch of a minimal supervised loop per call."""
    torch.manual_seed(args.seed)
    net = TinyLidarNet(N_BEAMS, "L", scan_mean=15.0, scan_std=8.0).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches = ShuffledBatches(obs, acts, args.batch_size, args.seed)

    def epoch() -> None:
        for batch in batches:
            loss = torch.nn.functional.mse_loss(net(batch["obs"]), batch["acts"])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


def bc_trainer(demonstrations: object, args: Args, log_dir: str) -> Callable[[], None]:
    """(b): one epoch of imitation's BC per call (no progress bar, no log output)."""
    from imitation.algorithms import bc
    from imitation.util import logger as imit_logger

    torch.manual_seed(args.seed)
    obs_space, act_space = observation_space(LidarConfig(n_beams=N_BEAMS)), action_space()
    policy = TinyLidarNetPolicy(
        obs_space, act_space, lambda _: 1e-3, variant="L", scan_mean=15.0, scan_std=8.0
    )
    trainer = bc.BC(
        observation_space=obs_space,
        action_space=act_space,
        rng=np.random.default_rng(args.seed),
        policy=policy,
        demonstrations=demonstrations,
        batch_size=args.batch_size,
        optimizer_kwargs={"lr": 1e-3},
        device="cpu",
        custom_logger=imit_logger.configure(log_dir, format_strs=[]),
    )

    def epoch() -> None:
        trainer.train(n_epochs=1, progress_bar=False, log_interval=1_000_000)

    return epoch


def transitions(obs: torch.Tensor, acts: torch.Tensor):  # -> imitation.data.types.Transitions
    from imitation.data import types

    obs_np, acts_np = obs.numpy(), acts.numpy()
    return types.Transitions(
        obs=obs_np,
        acts=acts_np,
        infos=np.array([{}] * len(obs_np)),
        next_obs=obs_np,
        dones=np.zeros(len(obs_np), dtype=bool),
    )


def latency_us(fn: Callable[[np.ndarray], np.ndarray], scans: np.ndarray) -> float:
    """Median wall time of one call, microseconds."""
    times = np.empty(len(scans))
    for i, scan in enumerate(scans):
        t0 = time.perf_counter_ns()
        fn(scan)
        times[i] = time.perf_counter_ns() - t0
    return float(np.median(times)) / 1e3


def main() -> None:
    args = tyro.cli(Args)
    # imitation 1.0.1 logs float(loss) without detaching, which warns once; not actionable here.
    warnings.filterwarnings("ignore", "Converting a tensor with requires_grad=True")
    if args.quick:
        args.repeats, args.batches, args.latency_calls = 2, 6, 300
    torch.set_num_threads(args.threads)
    n = args.batches * args.batch_size
    obs, acts = _data(n, args.seed)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores; "
        f"TinyLidarNet L, {N_BEAMS} beams, batch {args.batch_size}, {n} samples per repeat, "
        f"{args.repeats} repeats"
    )

    with tempfile.TemporaryDirectory() as tmp:
        methods = {
            "(a)  plain torch loop (MSE)": plain_loop(obs, acts, args),
            "(b)  imitation BC, dict batches": bc_trainer(
                ShuffledBatches(obs, acts, args.batch_size, args.seed), args, tmp
            ),
            "(b') imitation BC, types.Transitions": bc_trainer(transitions(obs, acts), args, tmp),
        }
        for epoch in methods.values():  # warm-up: allocator, oneDNN kernels, Adam state
            epoch()
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.repeats):
            for name, epoch in methods.items():
                times[name].append(_timed(epoch))

    rates = {name: [n / t for t in ts] for name, ts in times.items()}
    plain = statistics.median(rates["(a)  plain torch loop (MSE)"])
    plain_rates = rates["(a)  plain torch loop (MSE)"]
    print("\ntraining throughput (samples/s, median [min-max]); ratio to (a): of the medians, and")
    print("the median of per-repeat ratios (each against the (a) run just before it):")
    for name, rs in rates.items():
        med = statistics.median(rs)
        ratio = ""
        if not name.startswith("(a)"):
            paired = statistics.median(r / p for r, p in zip(rs, plain_rates, strict=True))
            ratio = f"  ratio {med / plain:.2f} (paired {paired:.2f})"
        print(f"  {name:<38} {med:>7,.0f}  [{min(rs):,.0f}-{max(rs):,.0f}]{ratio}")

    torch.manual_seed(args.seed)
    net = TinyLidarNet(N_BEAMS, "L", scan_mean=15.0, scan_std=8.0).eval()
    scans = _data(args.latency_calls, args.seed + 1)[0].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_policy = OnnxPolicy(export_onnx(net, os.path.join(tmp, "model.onnx")))
        torch_policy = TorchPolicy(net)
        lat: dict[str, list[float]] = {"torch (TorchPolicy)": [], "onnxruntime (OnnxPolicy)": []}
        for fn in (torch_policy, onnx_policy):
            latency_us(fn, scans[:50])  # warm-up
        for _ in range(args.repeats):
            lat["torch (TorchPolicy)"].append(latency_us(torch_policy, scans))
            lat["onnxruntime (OnnxPolicy)"].append(latency_us(onnx_policy, scans))
    print(
        f"\nbatch-1 inference latency (us, median of {args.latency_calls} calls, median over "
        f"repeats; torch {torch.get_num_threads()} threads, onnxruntime 1 intra-op thread):"
    )
    for name, ls in lat.items():
        print(f"  {name:<38} {statistics.median(ls):>8.0f}  [{min(ls):.0f}-{max(ls):.0f}]")


if __name__ == "__main__":
    main()
