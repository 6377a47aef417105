"""The on-disk (scan, action) dataset, memory-mapped, split by episode, served in batches.

Splitting by *episode* (never by frame) keeps neighbouring, nearly identical frames from leaking
between training and validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinylidar_gym.data.extract import read_stats
from tinylidar_gym.data.seeds import SPLITS


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
            raise ValueError(
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
    otherwise each batch is gathered from the memory map.
    """

    def __init__(
        self,
        dataset: LidarDataset,
        indices: np.ndarray,
        batch_size: int,
        seed: int = 0,
        max_in_memory_bytes: int = 4 << 30,
    ) -> None:
        if len(indices) < batch_size:
            raise ValueError(
                f"only {len(indices)} training samples for batch_size={batch_size}: collect more "
                "episodes or lower --batch-size."
            )
        self.dataset = dataset
        self.indices = np.sort(np.asarray(indices))
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        row_bytes = dataset.n_beams * 4 + 8
        self._in_memory = len(self.indices) * row_bytes <= max_in_memory_bytes
        if self._in_memory:
            self._scans, self._acts, _ = dataset.load(self.indices)

    @property
    def batches_per_epoch(self) -> int:
        return len(self.indices) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            order = self.rng.permutation(len(self.indices))
            for b in range(self.batches_per_epoch):
                sel = order[b * self.batch_size : (b + 1) * self.batch_size]
                if self._in_memory:
                    t = torch.from_numpy(sel)
                    yield {"obs": self._scans[t], "acts": self._acts[t]}
                else:
                    rows = np.sort(self.indices[sel])
                    yield {
                        "obs": torch.from_numpy(np.ascontiguousarray(self.dataset.scans[rows])),
                        "acts": torch.from_numpy(np.ascontiguousarray(self.dataset.actions[rows])),
                    }
