"""Tests of the single-car env ``TinyLidar-v0`` (gymnasium API, registration, episode semantics)."""

from __future__ import annotations

import math
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import tinylidar_gym
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.sim.config import ConfigError, EnvConfig, LidarConfig

SMALL = {"lidar": {"n_beams": 61}}
"""A cheap config: fewer beams (odd, so the middle beam points straight ahead)."""

NO_OBSTACLES = {"lidar": {"n_beams": 61}, "obstacles": {"count": 0}}

INFO_TYPES: dict[str, type] = {
    "x_m": float,
    "y_m": float,
    "yaw_rad": float,
    "speed_mps": float,
    "steer_rad": float,
    "steer_cmd_rad": float,
    "speed_cmd_mps": float,
    "progress_m": float,
    "progress": float,
    "lateral_offset_m": float,
    "checkpoints_passed": int,
    "checkpoints_total": int,
    "distance_m": float,
    "time_s": float,
    "min_obstacle_clearance_m": float,
    "end_reason": str,
    "is_success": bool,
}
"""Every key documented in tinylidar_gym/envs/info.py, with its Python type."""

END_REASONS = {
    "running",
    "goal_reached",
    "collision_wall",
    "collision_obstacle",
    "timeout",
    "stuck",
}

FULL_SPEED_STRAIGHT = np.array([0.0, 1.0], dtype=np.float32)
STOP = np.array([0.0, -1.0], dtype=np.float32)


def speed_action(speed_mps: float, steer: float = 0.0, v_max: float = 8.0) -> np.ndarray:
    """Action commanding ``speed_mps`` with the default speed mapping [-1, 1] -> [0, v_max]."""
    return np.array([steer, 2.0 * speed_mps / v_max - 1.0], dtype=np.float32)


def run_until_done(env: gym.Env, action: np.ndarray, max_steps: int = 5000) -> list[tuple]:
    """Step ``env`` with a constant action until the episode ends; returns all step tuples."""
    out = []
    for _ in range(max_steps):
        step = env.step(action)
        out.append(step)
        if step[2] or step[3]:
            return out
    raise AssertionError(f"episode did not end within {max_steps} steps")


def rollout(env: gym.Env, seed: int, actions: np.ndarray) -> dict[str, list]:
    """Seeded reset, then step through ``actions``; finished episodes reset without a seed."""
    obs, info = env.reset(seed=seed)
    rec: dict[str, list] = {"obs": [obs], "rew": [], "term": [], "trunc": [], "info": [info]}
    for a in actions:
        obs, rew, term, trunc, info = env.step(a)
        rec["obs"].append(obs)
        rec["rew"].append(rew)
        rec["term"].append(term)
        rec["trunc"].append(trunc)
        rec["info"].append(info)
        if term or trunc:
            obs, info = env.reset()
            rec["obs"].append(obs)
            rec["info"].append(info)
    return rec


def assert_same_rollout(a: dict[str, list], b: dict[str, list]) -> None:
    assert len(a["obs"]) == len(b["obs"])
    for x, y in zip(a["obs"], b["obs"], strict=True):
        assert x.dtype == y.dtype == np.float32
        assert np.array_equal(x, y)
    assert np.array_equal(np.array(a["rew"]), np.array(b["rew"]))
    assert a["term"] == b["term"]
    assert a["trunc"] == b["trunc"]
    assert a["info"] == b["info"]


def random_actions(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    acts = rng.uniform(-1.0, 1.0, size=(n, 2)).astype(np.float32)
    acts[:, 1] = rng.uniform(0.0, 1.0, size=n)  # mostly forward, so the car gets somewhere
    return acts


def pose_ahead(env: TinyLidarEnv, distance_m: float) -> tuple[float, float, float]:
    """(x, y, yaw) a given distance straight ahead of the start pose (rear axle)."""
    x, y, yaw = env.layout.course.start_pose()
    return x + distance_m * math.cos(yaw), y + distance_m * math.sin(yaw), yaw


# --------------------------------------------------------------------------- checker


def test_check_env_default():
    env = gym.make("TinyLidar-v0")
    check_env(env.unwrapped)
    env.close()


def test_check_env_rgb_array_render():
    env = gym.make("TinyLidar-v0", render_mode="rgb_array")
    assert env.unwrapped.render_mode == "rgb_array"
    check_env(env.unwrapped)  # includes the render check
    env.close()


def test_unsupported_render_mode_raises():
    with pytest.raises(ValueError, match="render_mode"):
        TinyLidarEnv(render_mode="human")


# --------------------------------------------------------------------------- registration


def test_import_registers_env():
    assert tinylidar_gym.ENV_ID == "TinyLidar-v0"
    assert "TinyLidar-v0" in gym.registry
    spec = gym.spec("TinyLidar-v0")
    assert spec.entry_point == "tinylidar_gym.envs.tinylidar_env:TinyLidarEnv"
    env = gym.make("TinyLidar-v0")
    assert isinstance(env.unwrapped, TinyLidarEnv)
    env.close()


def test_register_envs_is_idempotent():
    before = gym.spec("TinyLidar-v0")
    tinylidar_gym.register_envs()
    tinylidar_gym.register_envs()
    assert gym.spec("TinyLidar-v0") is before


def test_gymnasium_plugin_entry_point_in_fresh_interpreter():
    """gymnasium finds the env via its ``gymnasium.envs`` plugin, without importing the package
    explicitly, and the plugin hook does not drag in numba."""
    code = (
        "import sys\n"
        "import gymnasium as gym\n"
        "assert 'numba' not in sys.modules, 'plugin hook imported numba'\n"
        "env = gym.make('TinyLidar-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "print(type(env.unwrapped).__name__, obs.shape)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "TinyLidarEnv (1081,)"


def test_make_with_nested_override_sets_observation_shape():
    env = gym.make("TinyLidar-v0", lidar={"n_beams": 541})
    assert env.observation_space.shape == (541,)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (541,)
    # Only n_beams changed; the rest of the lidar config keeps its defaults.
    assert env.unwrapped.config.lidar == LidarConfig(n_beams=541)
    env.close()


def test_make_with_config_object_and_dict():
    cfg = EnvConfig(lidar=LidarConfig(n_beams=101, max_range_m=12.0))
    env = gym.make("TinyLidar-v0", config=cfg)
    assert env.unwrapped.config == cfg
    assert env.observation_space.shape == (101,)
    assert float(env.observation_space.high.max()) == 12.0
    obs, _ = env.reset(seed=0)
    assert obs.shape == (101,)
    env.close()

    env = gym.make("TinyLidar-v0", config={"lidar": {"n_beams": 31}, "laps": 2})
    assert env.observation_space.shape == (31,)
    assert env.unwrapped.config.laps == 2
    env.close()


def test_config_object_plus_keyword_override():
    cfg = EnvConfig(lidar=LidarConfig(n_beams=101), laps=3)
    env = TinyLidarEnv(config=cfg, lidar={"fov_deg": 180.0})
    assert env.config.lidar.n_beams == 101
    assert env.config.lidar.fov_deg == 180.0
    assert env.config.laps == 3


# --------------------------------------------------------------------------- spaces


def test_default_spaces():
    env = gym.make("TinyLidar-v0")
    assert env.observation_space == spaces.Box(0.0, 30.0, shape=(1081,), dtype=np.float32)
    assert env.action_space == spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (1081,)
    assert env.observation_space.contains(obs)
    env.close()


def test_observations_within_bounds_with_noise_and_short_range():
    env = TinyLidarEnv(lidar={"n_beams": 61, "max_range_m": 6.0, "noise_std_m": 0.5})
    assert env.observation_space.high.max() == 6.0
    rec = rollout(env, 0, random_actions(150))
    obs = np.stack(rec["obs"])
    assert obs.dtype == np.float32
    assert obs.min() >= 0.0
    assert obs.max() <= 6.0
    # Beams with no hit within range read exactly max_range (clipped, even with noise).
    assert np.any(obs == 6.0)
    assert all(env.observation_space.contains(o) for o in obs)


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_actions_bit_identical_default_config():
    acts = random_actions(200, seed=1)
    a = rollout(gym.make("TinyLidar-v0"), 7, acts)
    b = rollout(gym.make("TinyLidar-v0"), 7, acts)
    assert_same_rollout(a, b)


def test_same_seed_bit_identical_with_lidar_noise():
    acts = random_actions(200, seed=2)
    cfg = {"lidar": {"n_beams": 61, "noise_std_m": 0.02}}
    a = rollout(TinyLidarEnv(**cfg), 11, acts)
    b = rollout(TinyLidarEnv(**cfg), 11, acts)
    assert_same_rollout(a, b)
    # The noise is really there: the same seed without noise gives different scans.
    clean = rollout(TinyLidarEnv(**SMALL), 11, acts[:1])
    diff = np.abs(a["obs"][0] - clean["obs"][0])
    assert diff.max() > 0.0
    assert 0.005 < float(diff.std()) < 0.05
    # ... and a different seed gives different noise.
    c = rollout(TinyLidarEnv(**cfg), 12, acts[:1])
    assert not np.array_equal(a["obs"][0], c["obs"][0])


def test_reusing_env_with_same_seed_reproduces():
    env = TinyLidarEnv(lidar={"n_beams": 61, "noise_std_m": 0.05})
    acts = random_actions(80, seed=3)
    a = rollout(env, 5, acts)
    b = rollout(env, 5, acts)
    assert_same_rollout(a, b)


def test_different_seeds_give_different_obstacle_layouts():
    env = TinyLidarEnv(**SMALL)
    layouts = []
    for seed in range(4):
        env.reset(seed=seed)
        layouts.append(env.layout.obstacles.boxes.copy())
        assert layouts[-1].shape == (10, 5)
    for i in range(len(layouts)):
        for j in range(i + 1, len(layouts)):
            assert not np.allclose(layouts[i], layouts[j])
    # The default course itself is fixed, whatever the seed.
    env.reset(seed=0)
    c0 = env.layout.course.centerline.copy()
    env.reset(seed=1)
    assert np.array_equal(c0, env.layout.course.centerline)


def test_reset_without_seed_continues_deterministically():
    def layouts(env):
        env.reset(seed=21)
        out = [env.layout.obstacles.boxes.copy()]
        for _ in range(3):
            obs, _ = env.reset()
            out.append(env.layout.obstacles.boxes.copy())
        return out, obs

    la, obs_a = layouts(TinyLidarEnv(lidar={"n_beams": 61, "noise_std_m": 0.02}))
    lb, obs_b = layouts(TinyLidarEnv(lidar={"n_beams": 61, "noise_std_m": 0.02}))
    for x, y in zip(la, lb, strict=True):
        assert np.array_equal(x, y)
    assert np.array_equal(obs_a, obs_b)
    # Each unseeded reset draws a new layout.
    assert not np.allclose(la[0], la[1])
    assert not np.allclose(la[1], la[2])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "action",
    [
        [np.nan, 0.0],
        [0.0, np.nan],
        [np.inf, 0.0],
        [0.0, -np.inf],
        [0.0],
        [0.0, 0.0, 0.0],
        [[0.0, 0.0]],
        0.5,
    ],
    ids=["nan0", "nan1", "inf0", "-inf1", "len1", "len3", "2d", "scalar"],
)
def test_bad_actions_raise_value_error(action):
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(np.asarray(action, dtype=np.float64))
    # The env is still usable after the rejected action.
    env.step(np.zeros(2, dtype=np.float32))


def test_bad_action_raises_through_gym_make_wrappers():
    env = gym.make("TinyLidar-v0", **SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(np.array([np.nan, 0.0], dtype=np.float32))
    env.close()


@pytest.mark.parametrize(
    ("big", "clipped"),
    [([5.0, 5.0], [1.0, 1.0]), ([-7.0, -3.0], [-1.0, -1.0]), ([2.0, -9.0], [1.0, -1.0])],
)
def test_out_of_range_actions_are_clipped(big, clipped):
    a, b = TinyLidarEnv(**SMALL), TinyLidarEnv(**SMALL)
    ra = rollout(a, 4, np.array([big] * 60))
    rb = rollout(b, 4, np.array([clipped] * 60))
    assert_same_rollout(ra, rb)
    assert ra["info"][1]["speed_cmd_mps"] == (8.0 if clipped[1] > 0 else 0.0)
    assert ra["info"][1]["steer_cmd_rad"] == pytest.approx(clipped[0] * 0.4189)


def test_zero_beams_config_error_names_field():
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ConfigError, match=r"LidarConfig\.n_beams"):
        gym.make("TinyLidar-v0", lidar={"n_beams": 0})


def test_unknown_top_level_key_suggests_fix():
    with pytest.raises(ConfigError, match="Did you mean 'lidar'"):
        gym.make("TinyLidar-v0", lidr={"n_beams": 61})


def test_unknown_nested_key_suggests_fix():
    with pytest.raises(ConfigError, match="Did you mean 'n_beams'") as exc:
        gym.make("TinyLidar-v0", lidar={"nbeams": 3})
    assert "LidarConfig" in str(exc.value)


def test_step_before_reset_raises():
    env = TinyLidarEnv(**SMALL)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, dtype=np.float32))
    wrapped = gym.make("TinyLidar-v0", **SMALL)
    with pytest.raises(gym.error.ResetNeeded):
        wrapped.step(np.zeros(2, dtype=np.float32))


def test_step_after_episode_end_raises_until_reset():
    env = TinyLidarEnv(lidar={"n_beams": 61}, max_episode_time_s=0.1)
    env.reset(seed=0)
    run_until_done(env, STOP)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(STOP)
    env.reset()
    env.step(STOP)


# --------------------------------------------------------------------------- episode semantics


def test_info_keys_and_types():
    env = TinyLidarEnv(**SMALL)
    _, info = env.reset(seed=0)
    infos = [info] + [s[4] for s in (env.step(a) for a in random_actions(5))]
    for info in infos:
        assert set(info) == set(INFO_TYPES)
        for key, typ in INFO_TYPES.items():
            assert type(info[key]) is typ, (key, type(info[key]))
        assert info["end_reason"] in END_REASONS
    first = infos[0]
    assert first["end_reason"] == "running"
    assert first["is_success"] is False
    assert first["time_s"] == 0.0
    assert first["progress_m"] == 0.0
    assert first["distance_m"] == 0.0
    assert first["checkpoints_passed"] == 0
    assert first["checkpoints_total"] == 10
    assert first["min_obstacle_clearance_m"] == math.inf
    x, y, yaw = env.layout.course.start_pose()
    assert (first["x_m"], first["y_m"], first["yaw_rad"]) == (x, y, yaw)
    assert infos[-1]["time_s"] == pytest.approx(5 * 0.025)


def test_full_speed_straight_default_env_collides():
    env = gym.make("TinyLidar-v0")
    env.reset(seed=0)
    steps = run_until_done(env, FULL_SPEED_STRAIGHT)
    _, reward, terminated, truncated, info = steps[-1]
    assert terminated and not truncated
    assert info["end_reason"] in ("collision_wall", "collision_obstacle")
    assert reward < -9.0
    env.close()


def test_full_speed_straight_hits_wall():
    env = TinyLidarEnv(**NO_OBSTACLES)
    _, info0 = env.reset(seed=0)
    steps = run_until_done(env, FULL_SPEED_STRAIGHT)
    _, reward, terminated, truncated, info = steps[-1]
    assert terminated is True and truncated is False
    assert info["end_reason"] == "collision_wall"
    assert info["is_success"] is False
    prev = steps[-2][4]
    expected = (info["progress_m"] - prev["progress_m"]) * 1.0 - 10.0
    assert reward == pytest.approx(expected, abs=1e-9)
    assert reward < -9.0
    # Every earlier step was running and rewarded progress only.
    assert all(s[4]["end_reason"] == "running" and not (s[2] or s[3]) for s in steps[:-1])
    assert info["speed_mps"] > 0.0
    # The reward includes the configured collision penalty.
    env2 = TinyLidarEnv(**NO_OBSTACLES, collision_penalty=100.0)
    env2.reset(seed=0)
    steps2 = run_until_done(env2, FULL_SPEED_STRAIGHT)
    assert len(steps2) == len(steps)
    assert steps2[-1][1] == pytest.approx(reward - 90.0, abs=1e-9)
    assert info0["end_reason"] == "running"


def test_stopped_car_gets_stuck_after_stuck_time():
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0)
    steps = run_until_done(env, STOP)
    _, reward, terminated, truncated, info = steps[-1]
    assert truncated is True and terminated is False
    assert info["end_reason"] == "stuck"
    assert info["speed_cmd_mps"] == 0.0
    assert info["speed_mps"] == 0.0
    assert info["distance_m"] == 0.0
    assert reward == 0.0
    assert info["time_s"] == pytest.approx(env.config.stuck_time_s, abs=1e-6)
    assert len(steps) == round(env.config.stuck_time_s / env.config.control_dt_s)


def test_stuck_time_is_configurable():
    env = TinyLidarEnv(lidar={"n_beams": 61}, stuck_time_s=0.5)
    env.reset(seed=0)
    steps = run_until_done(env, STOP)
    assert steps[-1][4]["end_reason"] == "stuck"
    assert len(steps) == 20


def test_short_episode_time_gives_timeout():
    env = TinyLidarEnv(**NO_OBSTACLES, max_episode_time_s=0.5)
    env.reset(seed=0)
    steps = run_until_done(env, speed_action(2.0))
    _, _, terminated, truncated, info = steps[-1]
    assert truncated is True and terminated is False
    assert info["end_reason"] == "timeout"
    assert len(steps) == 20
    assert info["time_s"] == pytest.approx(0.5, abs=1e-9)
    assert info["progress_m"] > 0.3


def test_obstacle_option_and_collision_obstacle():
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0)
    x, y, yaw = pose_ahead(env, 4.0)
    boxes = [[x, y, yaw, 0.5, 0.5]]
    _, info = env.reset(seed=0, options={"obstacles": boxes})
    assert np.array_equal(env.layout.obstacles.boxes, np.array(boxes))
    assert info["min_obstacle_clearance_m"] == math.inf
    steps = run_until_done(env, FULL_SPEED_STRAIGHT)
    _, reward, terminated, truncated, info = steps[-1]
    assert terminated and not truncated
    assert info["end_reason"] == "collision_obstacle"
    assert reward < -9.0
    # The front bumper (0.455 m ahead of the rear axle) reached the box face at 3.75 m.
    assert 3.0 < info["distance_m"] < 3.75
    assert 0.0 <= info["min_obstacle_clearance_m"] < 0.25


def test_obstacle_option_empty_list_removes_obstacles():
    env = TinyLidarEnv(**SMALL)
    env.reset(seed=0, options={"obstacles": []})
    assert env.layout.obstacles.count == 0


def test_progress_rewards_sum_to_progress_m():
    env = TinyLidarEnv(**NO_OBSTACLES, max_episode_time_s=4.0)
    env.reset(seed=0)
    total = 0.0
    info = {}
    acts = np.tile(speed_action(3.0, steer=0.05), (160, 1))
    for a in acts:
        _, r, term, trunc, info = env.step(a)
        total += r
        if term or trunc:
            break
    assert info["end_reason"] in ("timeout", "collision_wall")
    if info["end_reason"] == "collision_wall":
        total += env.config.collision_penalty
    assert info["progress_m"] > 1.0
    assert total == pytest.approx(info["progress_m"], abs=1e-9)


def test_driving_backwards_gives_negative_reward():
    env = TinyLidarEnv(**NO_OBSTACLES, min_speed_command_mps=-2.0, max_speed_command_mps=2.0)
    env.reset(seed=0)
    rewards = []
    for _ in range(20):
        _, r, _, _, info = env.step(np.array([0.0, -1.0], dtype=np.float32))
        rewards.append(r)
    assert info["speed_mps"] < 0.0
    assert info["progress_m"] < -0.2
    assert sum(rewards) == pytest.approx(info["progress_m"], abs=1e-12)
    assert info["distance_m"] == pytest.approx(-info["progress_m"], rel=0.05)


def _pure_pursuit(env: TinyLidarEnv, info: dict, lookahead_m: float, speed: float) -> np.ndarray:
    cl = env.layout.course.centerline
    x, y, yaw = info["x_m"], info["y_m"], info["yaw_rad"]
    nearest = int(np.argmin(np.hypot(cl[:, 0] - x, cl[:, 1] - y)))
    n = len(cl)
    k = nearest
    while np.hypot(cl[k % n, 0] - x, cl[k % n, 1] - y) < lookahead_m:
        k += 1
    tx, ty = cl[k % n]
    dx, dy = tx - x, ty - y
    local_y = -math.sin(yaw) * dx + math.cos(yaw) * dy
    ld2 = dx * dx + dy * dy
    steer = math.atan(2.0 * env.config.vehicle.wheelbase_m * local_y / ld2)
    return speed_action(
        speed, steer=float(np.clip(steer / env.config.vehicle.max_steer_rad, -1, 1))
    )


def test_centerline_follower_reaches_goal_with_checkpoints_in_order():
    env = TinyLidarEnv(**NO_OBSTACLES)
    _, info = env.reset(seed=0)
    passed = [info["checkpoints_passed"]]
    progress_m = [info["progress_m"]]
    total_reward = 0.0
    for _ in range(3000):
        _, r, term, trunc, info = env.step(_pure_pursuit(env, info, 1.2, 4.0))
        total_reward += r
        passed.append(info["checkpoints_passed"])
        progress_m.append(info["progress_m"])
        if term or trunc:
            break
    assert term and not trunc
    assert info["end_reason"] == "goal_reached"
    assert info["is_success"] is True
    assert info["checkpoints_passed"] == info["checkpoints_total"] == 10
    # The finishing step overshoots the line; the fraction of the lap is still 1, not more.
    assert info["progress_m"] > env.layout.course.length_m
    assert info["progress"] == 1.0
    assert info["progress_m"] == pytest.approx(env.layout.course.length_m, abs=0.2)
    assert abs(info["lateral_offset_m"]) < 0.5
    # Checkpoints: monotone, one at a time, each exactly when progress crosses its gate.
    steps = np.diff(passed)
    assert np.all((steps == 0) | (steps == 1))
    assert passed[-1] - passed[0] == 10
    gates = env.layout.course.length_m * np.arange(1, 11) / 10
    for p, s in zip(passed, progress_m, strict=True):
        assert p == int(np.sum(s >= gates))
    # The car drove about one lap and the progress reward adds up to it (goal_bonus = 0).
    assert total_reward == pytest.approx(info["progress_m"], abs=1e-9)
    assert info["distance_m"] == pytest.approx(env.layout.course.length_m, rel=0.05)


def test_goal_bonus_is_added_on_goal_step():
    env = TinyLidarEnv(**NO_OBSTACLES, goal_bonus=5.0, n_checkpoints=2, laps=1)
    _, info = env.reset(seed=0)
    total = 0.0
    for _ in range(3000):
        _, r, term, trunc, info = env.step(_pure_pursuit(env, info, 1.2, 4.0))
        total += r
        if term or trunc:
            break
    assert info["end_reason"] == "goal_reached"
    assert info["checkpoints_total"] == 2
    assert total == pytest.approx(info["progress_m"] + 5.0, abs=1e-9)


# --------------------------------------------------------------------------- sensor mount


@pytest.mark.parametrize("mount_m", [0.0, 0.275, 0.6])
def test_lidar_scan_origin_is_mount_offset_ahead_of_rear_axle(mount_m):
    env = TinyLidarEnv(lidar={"n_beams": 61, "mount_offset_m": mount_m})
    env.reset(seed=0)
    centre_m, box_len_m = 3.0, 0.4
    x, y, yaw = pose_ahead(env, centre_m)
    obs, _ = env.reset(seed=0, options={"obstacles": [[x, y, yaw, box_len_m, 1.2]]})
    face_from_sensor = centre_m - box_len_m / 2 - mount_m
    mid = 30
    angles = env.config.lidar.angle_min_rad + np.arange(61) * env.config.lidar.angle_increment_rad
    assert abs(angles[mid]) < 1e-12
    assert abs(float(obs[mid]) - face_from_sensor) < 1e-6
    # Neighbouring beams hit the same flat face, further by 1/cos(angle).
    for j in (mid - 1, mid + 1):
        assert abs(float(obs[j]) - face_from_sensor / math.cos(angles[j])) < 1e-6
