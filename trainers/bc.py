"""Behavioural cloning of Tiny Lidar Net with imitation's ``bc.BC``.

Reads top to bottom: load the dataset, split it by episode, build the SB3-compatible Tiny Lidar
Net policy (normalisation from ``stats.json`` inside it), train epoch by epoch with a validation
pass, a checkpoint and tracking after each, keep the best epoch, save it with its metadata.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from imitation.algorithms import bc
from imitation.util import logger as imit_logger

from tinylidar_gym.data.atomic import atomic_write_json
from tinylidar_gym.data.progress import live_bars
from tinylidar_gym.sim.config import ConfigError
from trainers.augment import augment_scans
from trainers.configs import BCConfig
from trainers.core import KeepBest, lower_val_mse, start_training
from trainers.dataset import BatchStream, LidarDataset
from trainers.export import load_model, save_model
from trainers.lineage import lineage
from trainers.sb3_policy import TinyLidarNetPolicy, policy_to_network
from trainers.tracking import Tracker, TrackingConfig, make_tracker, tracker_record

HISTORY_FILE = "history.json"
HISTORY_FORMAT_VERSION = 1


class _LoggedLoss:
    """Wraps imitation's BC loss to send the training loss curve to the tracker."""

    def __init__(self, inner: Any, tracker: Any, every: int) -> None:
        self.inner = inner
        self.tracker = tracker
        self.every = every
        self.calls = 0
        # Summed on the device without a sync per batch; read once per epoch.
        self.loss_sum: Any = 0.0
        self.loss_count = 0

    def __call__(self, policy: Any, obs: Any, acts: Any) -> Any:
        metrics = self.inner(policy, obs, acts)
        self.calls += 1
        self.loss_sum = self.loss_sum + metrics.loss.detach()
        self.loss_count += 1
        if self.calls % self.every == 0:
            values = {
                "train/loss": metrics.loss,
                "train/neglogp": metrics.neglogp,
                "train/entropy": metrics.entropy,
                "train/prob_true_act": metrics.prob_true_act,
            }
            self.tracker.log(
                {k: float(v) for k, v in values.items() if v is not None}, step=self.calls
            )
        return metrics

    def epoch_mean(self) -> float:
        """Mean training loss since the last call (NaN when no batch ran)."""
        mean = float(self.loss_sum) / self.loss_count if self.loss_count else math.nan
        self.loss_sum, self.loss_count = 0.0, 0
        return mean


def write_history(out_dir: Path, history: list[dict[str, Any]], best_epoch: int | None) -> None:
    """``history.json``: the per-epoch figures so far (rewritten atomically after each epoch, so
    an interrupted training keeps its curves). ``epochs``: one dict per epoch with ``epoch``,
    ``train/epoch_loss`` (mean BC loss over the epoch's batches), ``val/mse``, ``val/mae_steering``,
    ``val/mae_speed``, ``val/nll``, ``samples_per_s`` and ``elapsed_s`` (s since training began).
    """
    epochs = [{k: (v if math.isfinite(v) else None) for k, v in h.items()} for h in history]
    doc = {"format_version": HISTORY_FORMAT_VERSION, "best_epoch": best_epoch, "epochs": epochs}
    atomic_write_json(out_dir / HISTORY_FILE, doc)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda: CUDA is not available here (use device auto or cpu)")
    return torch.device(device)


@torch.no_grad()
def validation_metrics(
    policy: TinyLidarNetPolicy, scans: torch.Tensor, acts: torch.Tensor, batch: int = 4096
) -> dict[str, float]:
    """MSE/MAE of the deterministic action and the BC negative log-likelihood on held-out data."""
    policy.eval()
    sq = torch.zeros(2, dtype=torch.float64)
    ab = torch.zeros(2, dtype=torch.float64)
    nll = 0.0
    for i in range(0, len(scans), batch):
        obs = scans[i : i + batch].to(policy.device)
        target = acts[i : i + batch].to(policy.device)
        pred = policy._predict(obs, deterministic=True)
        err = (pred - target).double().cpu()
        sq += (err**2).sum(0)
        ab += err.abs().sum(0)
        _, log_prob, _ = policy.evaluate_actions(obs, target)
        nll -= float(log_prob.sum())
    policy.train()
    n = max(len(scans), 1)
    return {
        "val/mse": float(sq.sum() / (2 * n)),
        "val/mae_steering": float(ab[0] / n),
        "val/mae_speed": float(ab[1] / n),
        "val/nll": nll / n,
    }


def pseudo_position_samples(
    dataset: LidarDataset, train_idx: np.ndarray, cfg: BCConfig, progress: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """(scans, actions) re-cast from offset poses of the training episodes, or None when off.

    Only demonstration episodes of the training side are used: validation stays untouched.
    """
    pp = cfg.augment.pseudo_positions
    if pp.per_step <= 0:
        return None
    from tinylidar_gym.data.relabel import pseudo_positions_many

    episodes = dataset.stats["episodes"]
    used = np.unique(np.asarray(dataset.episode_ids)[train_idx])
    dirs = [episodes[k]["dir"] for k in used if episodes[k].get("kind") != "hard_negative"]
    missing = [d for d in dirs if not Path(d).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"pseudo-positions re-simulate the dataset's episodes, but {missing[0]} (and "
            f"{len(missing) - 1} more) is not there; run from the directory extraction ran in, "
            "or turn --bc.augment.pseudo-positions.per-step to 0."
        )
    rel = pseudo_positions_many(dirs, pp, progress=progress)
    return rel.scans, rel.actions


@dataclass
class _Data:
    """What training reads from the dataset: the batches, the validation rows, the counts."""

    dataset: LidarDataset
    stream: BatchStream
    val_scans: torch.Tensor
    val_acts: torch.Tensor
    lidar: Any
    labels: dict[str, int]
    n_train: int
    n_val: int


def _load_data(data_dir: str | Path, cfg: BCConfig, progress: bool) -> _Data:
    """Split the dataset by episode and build the (augmented) training batch stream."""
    from tinylidar_gym.sim.config import LidarConfig, config_from_dict

    dataset = LidarDataset(data_dir)
    train_idx, val_idx = dataset.split_by_episode(cfg.val_fraction, cfg.seed)
    lidar = config_from_dict(LidarConfig, dataset.stats["env"]["lidar"])
    extra = pseudo_position_samples(dataset, train_idx, cfg, progress)
    transform = None
    if cfg.augment.online:
        generator = torch.Generator().manual_seed(cfg.seed)

        def transform(obs: torch.Tensor) -> torch.Tensor:
            return augment_scans(obs, cfg.augment, lidar.max_range_m, generator)

    stream = BatchStream(
        dataset, train_idx, cfg.batch_size, seed=cfg.seed, extra=extra, transform=transform
    )
    val_scans, val_acts, _ = dataset.load(val_idx) if len(val_idx) else dataset.load(train_idx[:1])
    counts = dataset.stats.get("counts", {})
    labels = {
        # Every dataset sample is an expert label (demonstrations and relabelled hard negatives).
        "expert_labels": len(dataset) + (0 if extra is None else len(extra[0])),
        "pseudo_position_samples": 0 if extra is None else len(extra[0]),
        "hard_negative_samples": int(counts.get("hard_negative_samples", 0)),
    }
    return _Data(dataset, stream, val_scans, val_acts, lidar, labels, len(train_idx), len(val_idx))


def _build_bc(data: _Data, cfg: BCConfig, device: torch.device) -> bc.BC:
    """imitation's BC around a fresh Tiny Lidar Net policy (normalisation from stats.json)."""
    from tinylidar_gym.envs.action import action_space
    from tinylidar_gym.envs.observation import observation_space

    policy = TinyLidarNetPolicy(
        observation_space(data.lidar),
        action_space(),
        lambda _: cfg.learning_rate,
        variant=cfg.variant,
        scan_mean=data.dataset.scan_mean,
        scan_std=data.dataset.scan_std,
        max_range_m=data.lidar.max_range_m,
    ).to(device)
    return bc.BC(
        observation_space=observation_space(data.lidar),
        action_space=action_space(),
        rng=np.random.default_rng(cfg.seed),
        policy=policy,
        demonstrations=data.stream,
        batch_size=cfg.batch_size,
        optimizer_kwargs={"lr": cfg.learning_rate},
        ent_weight=cfg.ent_weight,
        l2_weight=cfg.l2_weight,
        device=device,
        # Our own tracker logs the metrics; imitation's stdout tables would only add noise.
        custom_logger=imit_logger.configure(folder=None, format_strs=[]),
    )


def _epoch_line(metrics: dict[str, Any], epochs: int) -> str:
    return (
        f"epoch {metrics['epoch']:3d}/{epochs}  val mse {metrics['val/mse']:.5f}  "
        f"mae steer {metrics['val/mae_steering']:.4f} "
        f"speed {metrics['val/mae_speed']:.4f}  "
        f"{metrics['samples_per_s']:,.0f} samples/s"
    )


def _train_epochs(
    trainer: bc.BC,
    data: _Data,
    cfg: BCConfig,
    tracker: Tracker,
    out_dir: Path,
    run_config: dict[str, Any],
    progress: bool,
) -> tuple[list[dict[str, Any]], KeepBest[int]]:
    """Train epoch by epoch: validate, checkpoint, track and keep the best epoch after each."""
    policy: TinyLidarNetPolicy = trainer.policy
    tracker.watch(policy, log_every=100)
    steps_per_epoch = data.stream.batches_per_epoch
    every = max(1, min(50, steps_per_epoch))
    logged_loss = _LoggedLoss(trainer.loss_calculator, tracker, every=every)
    trainer.loss_calculator = logged_loss
    best: KeepBest[int] = KeepBest(lower_val_mse)
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        te = time.perf_counter()
        live = progress and live_bars()  # imitation's own bar: only in a terminal
        trainer.train(n_batches=steps_per_epoch, progress_bar=live, log_interval=10**9)
        train_s = time.perf_counter() - te
        metrics = validation_metrics(policy, data.val_scans, data.val_acts)
        metrics.update(
            epoch=epoch,
            **{"train/epoch_loss": logged_loss.epoch_mean()},
            samples_per_s=steps_per_epoch * cfg.batch_size / train_s,
            elapsed_s=time.perf_counter() - t0,
        )
        history.append(metrics)
        tracker.log(metrics, step=epoch * steps_per_epoch)
        ckpt = out_dir / "checkpoints" / f"epoch_{epoch:03d}"
        save_model(ckpt, policy_to_network(policy), {**run_config, "epoch": epoch}, onnx=False)
        if progress:
            print(_epoch_line(metrics, cfg.epochs))
        best.offer(metrics, epoch)
        write_history(out_dir, history, best.candidate)
        if cfg.max_minutes is not None and (time.perf_counter() - t0) / 60 >= cfg.max_minutes:
            break
    return history, best


def train_bc(
    data_dir: str | Path,
    out_dir: str | Path,
    cfg: BCConfig | None = None,
    tracking: TrackingConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train Tiny Lidar Net on a dataset; writes the best model to ``out_dir``. Returns a report."""
    t_start = time.perf_counter()
    cfg = cfg or BCConfig()
    tracking = tracking or TrackingConfig()
    out_dir = start_training(out_dir, cfg.seed, cfg.threads, tracking)
    device = resolve_device(cfg.device)
    data = _load_data(data_dir, cfg, progress)
    trainer = _build_bc(data, cfg, device)
    run_config = {
        "bc": dataclasses.asdict(cfg),
        "data": str(data.dataset.path),
        "n_train": data.n_train,
        "n_val": data.n_val,
        **data.labels,
        **lineage(data.dataset.path),
    }
    tracker = make_tracker(tracking, run_config, out_dir)
    try:
        t0 = time.perf_counter()
        history, best = _train_epochs(trainer, data, cfg, tracker, out_dir, run_config, progress)
        # The best epoch (by validation MSE) becomes the model.
        best_net, _ = load_model(out_dir / "checkpoints" / f"epoch_{best.candidate:03d}")
        report = {
            **data.labels,
            "best_epoch": best.candidate,
            "best_val_mse": best.figures["val/mse"],
            "train_seconds": time.perf_counter() - t0,
            # The whole command: data loading and pseudo-position generation included.
            "wall_seconds": time.perf_counter() - t_start,
            "history": history,
        }
        metadata = {
            **run_config,
            "env": data.dataset.stats["env"],
            "training": {k: v for k, v in report.items() if k != "history"},
            "tracker": tracker_record(tracker),
        }
        save_model(out_dir, best_net, metadata)
        tracker.summary({"best_epoch": best.candidate, "best_val_mse": best.figures["val/mse"]})
        tracker.log_model(out_dir, "tiny-lidar-net")
    finally:
        # Also on a crash: the tracker run is closed, not left 'running'.
        tracker.finish()
    return report
