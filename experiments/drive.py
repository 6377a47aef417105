"""Drive a few episodes of TinyLidar-v0 with a built-in driver and save a picture of the last.

uv run experiment-runner drive --episodes 5 --seed 0
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tinylidar_gym.sim.config import ConfigError, EnvConfig


@dataclass
class Args:
    episodes: int = 5
    """Number of episodes (seeds seed, seed+1, ...)."""
    seed: int = 0
    """First episode seed."""
    image: Path | None = Path("runs/drive_last.png")
    """Where to save a top-down picture of the last episode's final state (None: no picture)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """Environment configuration."""

    def __post_init__(self) -> None:
        if not isinstance(self.episodes, int) or self.episodes < 1:
            raise ConfigError(f"--episodes {self.episodes} is invalid (give an integer >= 1)")


def run(args: Args) -> list[dict]:
    """Drive the episodes with follow-the-gap, print one line each, save the picture."""
    import gymnasium as gym
    import numpy as np
    from PIL import Image

    import tinylidar_gym  # noqa: F401  (registers TinyLidar-v0)
    from tinylidar_gym.data.progress import progress_bar
    from tinylidar_gym.data.rollout import run_episode
    from tinylidar_gym.experts.follow_the_gap import FollowTheGap

    env = gym.make("TinyLidar-v0", config=args.env, render_mode="rgb_array")
    policy = FollowTheGap(env.unwrapped.config)
    results = []
    for k in progress_bar(range(args.episodes), desc="episodes", unit="ep"):
        results.append(run_episode(env, policy, seed=args.seed + k))
    for r in results:
        print(
            f"seed {r['seed']:>5}  {r['end_reason']:<19} progress {r['progress']:6.1%}  "
            f"checkpoints {r['checkpoints_passed']}/{r['checkpoints_total']}  "
            f"{r['time_s']:6.2f} s  mean speed {r['mean_speed_mps']:4.2f} m/s"
        )
    reasons = Counter(r["end_reason"] for r in results)
    success = np.mean([r["is_success"] for r in results])
    print(f"follow-the-gap: success {success:.0%} over {len(results)} episodes; {dict(reasons)}")
    if args.image is not None:
        args.image.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(env.render()).save(args.image)
        print(f"picture of the last episode: {args.image}")
    return results
