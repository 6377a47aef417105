"""DAgger's configuration: the rounds at the top, the research knobs in nested sections (BC on the
aggregate, expert takeover, round-0 demonstrations). Plain dataclasses: importing loads no torch.

The defaults are the README policy table's DAgger row; the table's presets are in
``benchmarks/policy_table.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trainers.config_checks import (
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    THREADS,
    check_fields,
)


@dataclass(frozen=True)
class DAggerBCConfig:
    """BC on all aggregated rounds after each round."""

    variant: Literal["L", "M", "S"] = "L"
    """Tiny Lidar Net size."""
    batch_size: int = 256
    """BC batch size."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    epochs_per_round: int = 3
    """BC epochs over all aggregated data after each round."""
    first_round_epochs: int = 10
    """BC epochs after round 0 (0: epochs_per_round). A learner that starts from a better
    round-0 policy visits states closer to the ones that matter."""
    final_epochs: int = 0
    """Extra BC epochs over all data after the last round."""
    final_learning_rate: float = 1e-3
    """Adam learning rate of those final epochs (a lower one settles the last policy)."""

    def __post_init__(self) -> None:
        check_fields(
            self,
            "dagger.bc",
            {
                "batch_size": POSITIVE_INT,
                "learning_rate": POSITIVE,
                "epochs_per_round": POSITIVE_INT,
                "first_round_epochs": NON_NEGATIVE_INT,
                "final_epochs": NON_NEGATIVE_INT,
                "final_learning_rate": POSITIVE,
            },
        )


@dataclass(frozen=True)
class TakeoverConfig:
    """Expert-gated DAgger (HG-DAgger): the expert takes the wheel of a car that strays."""

    deviation_m: float = 0.3
    """The expert takes the wheel of a car whose rear axle is further than this from the
    expert's plan (0: never): the learner explores only where the expert's labels are
    corrective. Every state is labelled either way."""
    hold_s: float = 0.5
    """How long the expert keeps the wheel once it has taken it, s."""

    def __post_init__(self) -> None:
        check_fields(self, "dagger.takeover", {"deviation_m": NON_NEGATIVE, "hold_s": NON_NEGATIVE})


@dataclass(frozen=True)
class DemoConfig:
    """Round 0's data and the model's scan statistics."""

    dart_episodes: int = 150
    """Expert demonstrations with collection noise (DART: the executed actions are perturbed,
    the labels stay the expert's) given to round 0 instead of a clean expert round; they also
    give the scan statistics. 0: plain DAgger (round 0 is the expert driving cleanly)."""
    stats_episodes: int = 4
    """Without DART demonstrations: expert episodes driven first to estimate the per-beam scan
    mean/std for the model."""

    def __post_init__(self) -> None:
        check_fields(
            self,
            "dagger.demos",
            {"dart_episodes": NON_NEGATIVE_INT, "stats_episodes": POSITIVE_INT},
        )


@dataclass(frozen=True)
class DAggerConfig:
    """DAgger settings: rounds and labels here, the research knobs in the nested sections."""

    rounds: int = 8
    """Aggregation rounds (round 0: the expert drives; later rounds: more and more the learner)."""
    steps_per_round: int = 15_000
    """Environment steps (= expert labels) gathered per round, at least. Only whole episodes
    are kept, and the cars still driving when the count is reached finish their episodes, so
    a round gathers up to about num_envs - 1 episodes more."""
    label_budget: int = 170_000
    """No round starts that could take the total past this many expert labels (about the size
    of the BC default's dataset, so the two compare at equal labels)."""
    beta_rampdown_rounds: int = 1
    """beta (the chance that the expert's action is executed) falls linearly from 1 in round 0
    to 0 in this round; from then on the learner drives (but for expert takeovers)."""
    deterministic_learner: bool = False
    """The learner drives with its deterministic action (the one evaluation uses) instead of
    sampling from its Gaussian."""
    num_envs: int = 8
    """Cars driving at once."""
    val_episodes: int = 100
    """Closed-loop validation after every BC epoch on the first N val seeds (never test
    seeds); the best validated policy becomes the model, as in DAgger's 'best policy on
    validation'. 0: the last policy is kept."""
    seed: int = 0
    """Seed for the episodes, the weights and the batch order."""
    threads: int = 0
    """CPU threads for torch (0: all cores)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device for BC updates (auto: CUDA when available)."""
    bc: DAggerBCConfig = field(default_factory=DAggerBCConfig)
    """BC on the aggregate: network size, batch, learning rates, epochs per round."""
    takeover: TakeoverConfig = field(default_factory=TakeoverConfig)
    """When the expert takes the wheel from the learner."""
    demos: DemoConfig = field(default_factory=DemoConfig)
    """Round 0's demonstrations (DART) and the scan statistics."""

    def __post_init__(self) -> None:
        check_fields(
            self,
            "dagger",
            {
                "rounds": POSITIVE_INT,
                "steps_per_round": POSITIVE_INT,
                "label_budget": POSITIVE_INT,
                "beta_rampdown_rounds": NON_NEGATIVE_INT,
                "num_envs": POSITIVE_INT,
                "val_episodes": NON_NEGATIVE_INT,
                "threads": THREADS,
            },
        )
