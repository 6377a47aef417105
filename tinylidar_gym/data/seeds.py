"""Episode seeds: disjoint ranges per split, so no split can ever draw another's scenario.

Episode ``k`` of split ``name`` has seed ``SPLITS[name].first + k``. The collector assigns the
indices; users choose only where a run starts (``first_episode``) and how many episodes it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tinylidar_gym.sim.errors import UserError

Split = Literal["train", "val", "test"]


class SeedRangeError(UserError, ValueError):
    """A split name or an episode range that does not fit a split's seeds."""


@dataclass(frozen=True)
class SeedRange:
    """Seeds ``first .. first + size - 1`` belong to one split."""

    first: int
    size: int

    def seed(self, index: int) -> int:
        if not 0 <= index < self.size:
            raise SeedRangeError(
                f"episode index {index} is outside this split's range [0, {self.size})."
            )
        return self.first + index

    def __contains__(self, seed: int) -> bool:
        return self.first <= seed < self.first + self.size


SPLITS: dict[str, SeedRange] = {
    "train": SeedRange(0, 1_000_000),
    "val": SeedRange(1_000_000, 1_000_000),
    "test": SeedRange(2_000_000, 1_000_000),
}
"""train: seeds 0-999,999; val: 1,000,000-1,999,999; test: 2,000,000-2,999,999."""

SPLIT_HELP = ", ".join(f"{name} {r.first:,}-{r.first + r.size - 1:,}" for name, r in SPLITS.items())


def split_seeds(split: str, first_episode: int, episodes: int) -> list[int]:
    """Seeds of episodes ``first_episode .. first_episode + episodes - 1`` of ``split``."""
    if split not in SPLITS:
        raise SeedRangeError(f"unknown split {split!r} (use one of {', '.join(SPLITS)})")
    if episodes < 0 or first_episode < 0:
        raise SeedRangeError(
            f"episodes={episodes} and first_episode={first_episode} must be >= 0 (pass "
            "--episodes and --first-episode of 0 or more)"
        )
    rng = SPLITS[split]
    if first_episode + episodes > rng.size:
        raise SeedRangeError(
            f"episodes {first_episode:,}..{first_episode + episodes - 1:,} do not fit split "
            f"{split!r}, which has {rng.size:,} seeds (pass a smaller --first-episode or "
            "--episodes)"
        )
    return [rng.seed(k) for k in range(first_episode, first_episode + episodes)]


def split_of(seed: int) -> str:
    """The split a seed belongs to."""
    for name, rng in SPLITS.items():
        if seed in rng:
            return name
    raise SeedRangeError(f"seed {seed} belongs to no split ({SPLIT_HELP}).")
