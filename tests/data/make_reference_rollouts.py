"""Reference rollouts: per-step hashes of observations, rewards and infos from seeded runs.

``tests/test_reference_rollouts.py`` replays these cases and compares every step with the stored
``reference_rollouts.json``, so an optimisation of the simulator that changes a single bit of an
observation, a reward or an end reason fails. Regenerate only for an intended change of
behaviour (then say so in the commit):

    uv run python tests/data/make_reference_rollouts.py
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import tinylidar_gym  # noqa: F401  (registers TinyLidar-v0)
from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv
from tinylidar_gym.sim.config import EnvConfig, config_from_dict, config_to_dict, kart_preset

REFERENCE = Path(__file__).with_name("reference_rollouts.json")
STEPS = 300
HASH_CHARS = 12

# Info keys hashed each step ("progress" is left out: it is derived from progress_m and is
# clipped to the goal; every other key comes straight from the simulator state).
INFO_KEYS = (
    "x_m", "y_m", "yaw_rad", "speed_mps", "steer_rad", "steer_cmd_rad", "speed_cmd_mps",
    "progress_m", "lateral_offset_m", "distance_m", "time_s", "min_obstacle_clearance_m",
    "checkpoints_passed", "checkpoints_total", "end_reason", "is_success",
)  # fmt: skip


def _configs() -> dict[str, dict[str, Any]]:
    default = config_to_dict(EnvConfig())
    # A short procedural lap and time limit, so goal_reached and timeout happen within STEPS.
    short = config_to_dict(EnvConfig())
    short["course"].update(kind="procedural", length_m=30.0)
    short["obstacles"]["count"] = 2
    short["max_episode_time_s"] = 6.5
    kart = config_to_dict(kart_preset())
    kart["lidar"]["noise_std_m"] = 0.02  # exercises the seeded noise and the dead-time buffer
    brief = config_to_dict(EnvConfig())
    brief["max_episode_time_s"] = 2.0  # timeout
    return {"default": default, "short_procedural": short, "kart_noise": kart, "brief": brief}


# (name, config, seed, number of cars; 0 = the single env through gym.make)
CASES = (
    ("single-default-0", "default", 0, 0),
    ("single-default-1", "default", 1, 0),
    ("single-short-procedural-3", "short_procedural", 3, 0),
    ("single-short-procedural-4", "short_procedural", 4, 0),
    ("single-short-procedural-6", "short_procedural", 6, 0),
    ("single-brief-7", "brief", 7, 0),
    ("single-kart-noise-5", "kart_noise", 5, 0),
    ("vector-default-10", "default", 10, 8),
    ("vector-short-procedural-20", "short_procedural", 20, 6),
    ("vector-kart-noise-30", "kart_noise", 30, 4),
)


class Driver:
    """Seeded noisy gap-follower: leans towards the freer side, with random steering and speed.

    Cars drive long enough to pass checkpoints, some collide, and car 1 stops for a while
    between steps 120 and 260 (no progress: ``stuck``).
    """

    def __init__(self, seed: int, n_cars: int) -> None:
        self.rng = np.random.default_rng(seed + 7_000)
        self.n_cars = n_cars
        self.t = 0

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """(n_cars, 2) float32 actions from (n_cars, n_beams) scans."""
        n = obs.shape[1]
        left = obs[:, int(0.55 * n) : int(0.65 * n)].mean(axis=1)
        right = obs[:, int(0.35 * n) : int(0.45 * n)].mean(axis=1)
        steer = 0.8 * (left - right) / 5.0 + self.rng.normal(0.0, 0.3, self.n_cars)
        speed = 0.3 + self.rng.normal(0.0, 0.3, self.n_cars)
        if 120 <= self.t < 260 and self.n_cars > 1:
            speed[1] = -1.0
        self.t += 1
        return np.stack([steer, speed], axis=-1).astype(np.float32)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.hexdigest()[:HASH_CHARS]


def _info_bytes(info: dict[str, Any]) -> bytes:
    return repr([np.asarray(info[k]).tolist() for k in INFO_KEYS]).encode()


def run_single(cfg: EnvConfig, seed: int) -> dict[str, list]:
    """One car through gym.make; an ended episode is reset without a seed (its own generator)."""
    env = gym.make("TinyLidar-v0", config=cfg)
    obs, info = env.reset(seed=seed)
    steps: list[str] = [_digest(obs.tobytes(), _info_bytes(info))]
    ends: list[list] = []
    driver = Driver(seed, 1)
    for t in range(STEPS):
        obs, reward, terminated, truncated, info = env.step(driver(obs[None])[0])
        steps.append(
            _digest(
                obs.tobytes(),
                np.float64(reward).tobytes(),
                bytes([terminated, truncated]),
                _info_bytes(info),
            )
        )
        if terminated or truncated:
            ends.append([t, 0, info["end_reason"]])
            obs, info = env.reset()
            steps.append(_digest(obs.tobytes(), _info_bytes(info)))
    return {"steps": steps, "ends": ends}


def run_vector(cfg: EnvConfig, seed: int, n_cars: int) -> dict[str, list]:
    """The native vector env (parallel kernel) with autoresets."""
    venv = TinyLidarVectorEnv(n_cars, config=cfg, parallel=True)
    obs, info = venv.reset(seed=seed)
    steps: list[str] = [_digest(obs.tobytes(), _info_bytes(info))]
    ends: list[list] = []
    driver = Driver(seed, n_cars)
    for t in range(STEPS):
        obs, rewards, terminated, truncated, info = venv.step(driver(obs))
        parts = [
            obs.tobytes(),
            rewards.astype(np.float64).tobytes(),
            terminated.tobytes(),
            truncated.tobytes(),
            _info_bytes(info),
        ]
        for i in np.flatnonzero(terminated | truncated):
            final = info["final_info"][i]
            parts += [info["final_observation"][i].tobytes(), _info_bytes(final)]
            ends.append([t, int(i), final["end_reason"]])
        steps.append(_digest(*parts))
    return {"steps": steps, "ends": ends}


def run_case(case: tuple[str, str, int, int], configs: dict[str, dict[str, Any]]) -> dict:
    """Roll out one case; returns ``{"steps": [hash per step], "ends": [[t, car, reason]]}``."""
    _, config_name, seed, n_cars = case
    cfg = config_from_dict(EnvConfig, configs[config_name])
    return run_single(cfg, seed) if n_cars == 0 else run_vector(cfg, seed, n_cars)


def main() -> None:
    configs = _configs()
    doc = {
        "steps": STEPS,
        "configs": configs,
        "cases": {case[0]: run_case(case, configs) for case in CASES},
    }
    fd, tmp = tempfile.mkstemp(dir=REFERENCE.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=0, separators=(",", ":"))
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, REFERENCE)
    for name, res in doc["cases"].items():
        print(f"{name}: {len(res['steps'])} steps, ends {[e[2] for e in res['ends']]}")
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    main()
