"""The on-disk (scan, action) dataset, memory-mapped, split by episode, served in batches.

Splitting by *episode* (never by frame) keeps neighbouring, nearly identical frames from leaking
between training and validation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinylidar_gym.data.extract import read_stats
from tinylidar_gym.data.seeds import SPLITS
from tinylidar_gym.sim.errors import UserError


class DatasetError(UserError, ValueError):
    """A dataset that cannot be trained on as asked (test seeds in it, too few samples)."""


class LidarDataset:
    """A dataset directory written by ``experiment-runner extract``.

    Attributes:
        scans: (N, n_beams) float32 memmap, metres.
        actions: (N, 2) float32 memmap, env action units.
        weights: (N,) float32 memmap.
        episode_ids: (N,) int32 memmap.
        stats: the parsed ``stats.json``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.stats: dict[str, Any] = read_stats(self.path)
        self.scans = np.load(self.path / "scans.npy", mmap_mode="r")
        self.actions = np.load(self.path / "actions.npy", mmap_mode="r")
        self.weights = np.load(self.path / "weights.npy", mmap_mode="r")
        self.episode_ids = np.load(self.path / "episode_ids.npy", mmap_mode="r")
        test = SPLITS["test"]
        # Episodes without a seed (e.g. imported from a real car's bags) cannot be test seeds.
        seeds = [e.get("seed") for e in self.stats["episodes"]]
        leaked = [s for s in seeds if s is not None and s in test]
        if leaked:
            raise DatasetError(
                f"{self.path} contains test-split episodes (seeds {leaked[:5]}...): test seeds "
                "are reserved for evaluation. Re-extract without the test split."
            )

    def __len__(self) -> int:
        return int(self.scans.shape[0])

    @property
    def n_beams(self) -> int:
        return int(self.scans.shape[1])

    @property
    def n_episodes(self) -> int:
        return len(self.stats["episodes"])

    @property
    def scan_mean(self) -> np.ndarray:
        return np.asarray(self.stats["scan_mean"], dtype=np.float32)

    @property
    def scan_std(self) -> np.ndarray:
        return np.asarray(self.stats["scan_std"], dtype=np.float32)

    def split_by_episode(self, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Sample indices (train, val); whole episodes go to one side or the other."""
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
        n_val = int(round(self.n_episodes * val_fraction))
        if val_fraction > 0 and self.n_episodes >= 2:
            n_val = min(max(n_val, 1), self.n_episodes - 1)
        order = np.random.default_rng(seed).permutation(self.n_episodes)
        val_eps = np.zeros(self.n_episodes, dtype=bool)
        val_eps[order[:n_val]] = True
        is_val = val_eps[np.asarray(self.episode_ids)]
        return np.flatnonzero(~is_val), np.flatnonzero(is_val)

    def load(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(scans, actions, weights) tensors for sorted ``indices`` (reads only those rows)."""
        idx = np.sort(np.asarray(indices))
        return (
            torch.from_numpy(np.ascontiguousarray(self.scans[idx])),
            torch.from_numpy(np.ascontiguousarray(self.actions[idx])),
            torch.from_numpy(np.ascontiguousarray(self.weights[idx])),
        )


class BatchStream:
    """Endless shuffled batches ``{"obs", "acts"}`` of exactly ``batch_size`` over ``indices``.

    The rows are read once into memory when they fit in ``max_in_memory_bytes`` (fast epochs);
    otherwise each batch is gathered from the memory map. When the samples' ``weights`` differ
    (hard negatives weigh more), each epoch draws its rows with probability proportional to
    their weight instead of a plain permutation, since imitation's BC loss has no per-sample
    weights. ``extra`` (scans, actions) samples, e.g. pseudo-positions, join the training rows
    with weight 1; ``transform`` perturbs each batch of scans (augmentation).
    """

    def __init__(
        self,
        dataset: LidarDataset,
        indices: np.ndarray,
        batch_size: int,
        seed: int = 0,
        max_in_memory_bytes: int = 4 << 30,
        extra: tuple[np.ndarray, np.ndarray] | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        n_extra = 0 if extra is None else len(extra[0])
        if len(indices) + n_extra < batch_size:
            raise DatasetError(
                f"only {len(indices) + n_extra} training samples for batch_size={batch_size}: "
                "collect more episodes or lower --bc.batch-size."
            )
        self.dataset = dataset
        self.indices = np.sort(np.asarray(indices))
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.transform = transform
        row_bytes = dataset.n_beams * 4 + 8
        n_rows = len(self.indices) + n_extra
        self._in_memory = n_rows * row_bytes <= max_in_memory_bytes
        weights = np.asarray(dataset.weights[self.indices], dtype=np.float64)
        if self._in_memory:
            self._scans, self._acts, _ = dataset.load(self.indices)
            if extra is not None and n_extra:
                self._scans = torch.cat(
                    [self._scans, torch.from_numpy(extra[0].astype(np.float32))]
                )
                self._acts = torch.cat([self._acts, torch.from_numpy(extra[1].astype(np.float32))])
                weights = np.concatenate([weights, np.ones(n_extra)])
        elif n_extra:
            raise DatasetError(
                f"{n_rows:,} rows do not fit in memory ({max_in_memory_bytes:,} bytes) together "
                "with the extra samples; turn pseudo-positions off or raise the memory limit."
            )
        self.n_rows = n_rows
        self._p = None if np.all(weights == weights[0]) else weights / weights.sum()

    @property
    def batches_per_epoch(self) -> int:
        return self.n_rows // self.batch_size

    def _order(self) -> np.ndarray:
        if self._p is None:
            return self.rng.permutation(self.n_rows)
        return self.rng.choice(self.n_rows, size=self.n_rows, replace=True, p=self._p)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            order = self._order()
            for b in range(self.batches_per_epoch):
                sel = order[b * self.batch_size : (b + 1) * self.batch_size]
                if self._in_memory:
                    t = torch.from_numpy(sel)
                    obs, acts = self._scans[t], self._acts[t]
                else:
                    rows = np.sort(self.indices[sel])
                    obs = torch.from_numpy(np.ascontiguousarray(self.dataset.scans[rows]))
                    acts = torch.from_numpy(np.ascontiguousarray(self.dataset.actions[rows]))
                if self.transform is not None:
                    obs = self.transform(obs)
                yield {"obs": obs, "acts": acts}
