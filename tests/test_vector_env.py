"""Tests of the native vector env: sub-env i must be bit-identical to TinyLidarEnv(seed + i)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import VectorEnv

from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.envs.vector_env import TinyLidarVectorEnv
from tinylidar_gym.sim.config import ConfigError

N = 4
SMALL = {"lidar": {"n_beams": 61}, "max_episode_time_s": 3.0}

INFO_KEYS = {
    "x_m",
    "y_m",
    "yaw_rad",
    "speed_mps",
    "steer_rad",
    "steer_cmd_rad",
    "speed_cmd_mps",
    "progress_m",
    "progress",
    "lateral_offset_m",
    "checkpoints_passed",
    "checkpoints_total",
    "distance_m",
    "time_s",
    "min_obstacle_clearance_m",
    "end_reason",
    "is_success",
}


def random_actions(steps: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    acts = rng.uniform(-1.0, 1.0, size=(steps, n, 2)).astype(np.float32)
    acts[..., 1] = rng.uniform(-0.3, 1.0, size=(steps, n))
    return acts


def info_row(infos: dict, i: int) -> dict:
    """Sub-env i's entries of a batched info dict (without masks and final_*)."""
    return {k: infos[k][i] for k in INFO_KEYS}


def assert_info_equal(batched_row: dict, single: dict) -> None:
    assert set(batched_row) == set(single)
    for k, v in single.items():
        assert batched_row[k] == v, (k, batched_row[k], v)


def run_vector(venv: TinyLidarVectorEnv, seed: int, acts: np.ndarray) -> list[tuple]:
    out = [venv.reset(seed=seed)]
    for a in acts:
        out.append(venv.step(a))
    return out


@pytest.mark.parametrize(
    "cfg",
    [
        {"max_episode_time_s": 2.5},  # default lidar (1081 beams) and obstacles
        {"lidar": {"n_beams": 61, "noise_std_m": 0.03}, "max_episode_time_s": 3.0},
        {
            "lidar": {"n_beams": 61},
            "course": {"kind": "procedural", "length_m": 60.0},
            "obstacles": {"count": 4},
            "stuck_time_s": 1.0,
        },
    ],
    ids=["defaults", "noise", "procedural"],
)
def test_sub_envs_match_single_envs_step_by_step(cfg):
    seed, steps = 100, 300
    acts = random_actions(steps, N, seed=1)
    venv = TinyLidarVectorEnv(N, **cfg)
    singles = [TinyLidarEnv(**cfg) for _ in range(N)]
    vobs, vinfos = venv.reset(seed=seed)
    assert vobs.shape == (N, venv.single_observation_space.shape[0])
    for i, env in enumerate(singles):
        obs, info = env.reset(seed=seed + i)
        assert np.array_equal(vobs[i], obs)
        assert_info_equal(info_row(vinfos, i), info)
    resets = 0
    reasons = set()
    for t in range(steps):
        vobs, vrew, vterm, vtrunc, vinfos = venv.step(acts[t])
        assert vobs.dtype == np.float32 and vrew.shape == (N,)
        assert vterm.dtype == bool and vtrunc.dtype == bool
        for i, env in enumerate(singles):
            obs, rew, term, trunc, info = env.step(acts[t, i])
            assert vrew[i] == rew, (t, i)
            assert vterm[i] == term and vtrunc[i] == trunc, (t, i)
            if term or trunc:
                resets += 1
                reasons.add(info["end_reason"])
                assert vinfos["_final_observation"][i] and vinfos["_final_info"][i]
                assert np.array_equal(vinfos["final_observation"][i], obs)
                assert vinfos["final_info"][i] == info
                obs, _ = env.reset()
                assert np.array_equal(vobs[i], obs), (t, i)
            else:
                assert np.array_equal(vobs[i], obs), (t, i)
                assert_info_equal(info_row(vinfos, i), info)
                if "_final_observation" in vinfos:
                    assert not vinfos["_final_observation"][i]
                    assert vinfos["final_observation"][i] is None
                    assert vinfos["final_info"][i] is None
    # The run exercised several autoresets, with more than one kind of ending.
    assert resets >= N
    assert len(reasons) >= 2, reasons


def test_info_after_autoreset_is_the_new_episodes_reset_info():
    """Gymnasium 0.29 (SyncVectorEnv) semantics: for a sub-env that just autoreset, the batched
    info holds the info of the new episode's reset (the finished one is in ``final_info``),
    consistent with the observation, which is the new episode's first."""
    venv = TinyLidarVectorEnv(2, lidar={"n_beams": 61}, max_episode_time_s=0.25)
    single = TinyLidarEnv(lidar={"n_beams": 61}, max_episode_time_s=0.25)
    venv.reset(seed=3)
    single.reset(seed=3)
    act = np.array([[0.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    for _ in range(9):
        single.step(act[0])
        _, _, _, trunc, infos = venv.step(act)
        assert not trunc.any()
    _, _, _, trunc, infos = venv.step(act)
    assert trunc.all()
    final = single.step(act[0])[4]
    assert final["end_reason"] == "timeout"
    assert infos["final_info"][0] == final
    _, reset_info = single.reset()
    assert infos["end_reason"][0] == "running"
    assert infos["time_s"][0] == 0.0
    assert_info_equal(info_row(infos, 0), reset_info)


def test_parallel_and_serial_give_identical_results():
    cfg = {"lidar": {"n_beams": 61, "noise_std_m": 0.02}, "max_episode_time_s": 2.0}
    acts = random_actions(200, 6, seed=7)
    par = run_vector(TinyLidarVectorEnv(6, parallel=True, **cfg), 9, acts)
    ser = run_vector(TinyLidarVectorEnv(6, parallel=False, **cfg), 9, acts)
    assert np.array_equal(par[0][0], ser[0][0])
    n_final = 0
    for p, s in zip(par[1:], ser[1:], strict=True):
        for k in range(4):
            assert np.array_equal(p[k], s[k])
        assert set(p[4]) == set(s[4])
        for key in INFO_KEYS:
            assert np.array_equal(p[4][key], s[4][key])
        if "final_info" in p[4]:
            n_final += 1
            assert np.array_equal(p[4]["_final_info"], s[4]["_final_info"])
            for i in np.flatnonzero(p[4]["_final_info"]):
                assert p[4]["final_info"][i] == s[4]["final_info"][i]
                assert np.array_equal(p[4]["final_observation"][i], s[4]["final_observation"][i])
    assert n_final > 0


def test_is_gymnasium_vector_env_with_batched_spaces():
    venv = TinyLidarVectorEnv(N, **SMALL)
    assert isinstance(venv, VectorEnv)
    assert venv.num_envs == N
    assert venv.single_observation_space == spaces.Box(0.0, 30.0, (61,), np.float32)
    assert venv.single_action_space == spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert venv.observation_space.shape == (N, 61)
    assert venv.action_space.shape == (N, 2)
    obs, _ = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    obs, rew, term, trunc, _ = venv.step(venv.action_space.sample())
    assert obs.shape == (N, 61) and obs.dtype == np.float32
    assert rew.shape == term.shape == trunc.shape == (N,)
    venv.close()


def test_batched_info_has_masks():
    venv = TinyLidarVectorEnv(N, **SMALL)
    _, infos = venv.reset(seed=0)
    _, _, _, _, step_infos = venv.step(np.zeros((N, 2), dtype=np.float32))
    for batch in (infos, step_infos):
        for key in INFO_KEYS:
            assert len(batch[key]) == N
            mask = batch["_" + key]
            assert mask.dtype == bool and mask.shape == (N,) and mask.all()
        assert set(batch) == INFO_KEYS | {"_" + k for k in INFO_KEYS}
        assert batch["checkpoints_total"].tolist() == [10] * N
        assert batch["end_reason"].tolist() == ["running"] * N
        assert batch["is_success"].dtype == bool


def test_reset_with_seed_list_and_unseeded_reset():
    venv = TinyLidarVectorEnv(3, **SMALL)
    obs_list, _ = venv.reset(seed=[5, 6, 7])
    boxes_list = [lay.obstacles.boxes.copy() for lay in venv.layouts]
    obs_int, _ = venv.reset(seed=5)
    assert np.array_equal(obs_list, obs_int)
    for lay, boxes in zip(venv.layouts, boxes_list, strict=True):
        assert np.array_equal(lay.obstacles.boxes, boxes)
    # Sub-envs have distinct layouts.
    assert not np.allclose(boxes_list[0], boxes_list[1])
    # An unseeded reset continues each sub-env's own generator, as a single env would.
    single = TinyLidarEnv(**SMALL)
    single.reset(seed=6)
    obs_single, _ = single.reset()
    obs_next, _ = venv.reset()
    assert np.array_equal(obs_next[1], obs_single)
    with pytest.raises(ValueError, match="seeds"):
        venv.reset(seed=[1, 2])


def test_bad_actions_raise_value_error():
    venv = TinyLidarVectorEnv(N, **SMALL)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros(2, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros((N + 1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros((N, 3), dtype=np.float32))
    bad = np.zeros((N, 2), dtype=np.float32)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"\[2\]"):
        venv.step(bad)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="finite"):
        venv.step(bad)
    # A rejected batch changes nothing: the env keeps matching a fresh one.
    ref = TinyLidarVectorEnv(N, **SMALL)
    ref.reset(seed=0)
    ok = np.full((N, 2), 0.5, dtype=np.float32)
    assert np.array_equal(venv.step(ok)[0], ref.step(ok)[0])


def test_out_of_range_actions_are_clipped():
    a = TinyLidarVectorEnv(2, **SMALL)
    b = TinyLidarVectorEnv(2, **SMALL)
    a.reset(seed=1)
    b.reset(seed=1)
    for _ in range(30):
        ra = a.step(np.array([[5.0, 5.0], [-3.0, 2.0]]))
        rb = b.step(np.array([[1.0, 1.0], [-1.0, 1.0]]))
        for k in range(4):
            assert np.array_equal(ra[k], rb[k])


def test_step_before_reset_and_bad_num_envs():
    venv = TinyLidarVectorEnv(2, **SMALL)
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros((2, 2), dtype=np.float32))
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="num_envs"):
            TinyLidarVectorEnv(bad, **SMALL)


def test_config_errors_propagate():
    with pytest.raises(ConfigError, match=r"LidarConfig\.n_beams"):
        TinyLidarVectorEnv(2, lidar={"n_beams": 1})
    with pytest.raises(ConfigError, match="Did you mean 'lidar'"):
        TinyLidarVectorEnv(2, lidr={"n_beams": 61})


def test_render_sub_env_zero():
    venv = TinyLidarVectorEnv(2, render_mode="rgb_array", **SMALL)
    venv.reset(seed=0)
    img = venv.render()
    assert img.shape == (640, 640, 3) and img.dtype == np.uint8
    assert TinyLidarVectorEnv(2, **SMALL).render() is None


def test_registered_vector_entry_point():
    spec = gym.spec("TinyLidar-v0")
    assert spec.vector_entry_point == "tinylidar_gym.envs.vector_env:TinyLidarVectorEnv"


def test_make_vec_custom_uses_native_vector_env():
    """``gym.make_vec(..., vectorization_mode="custom")`` builds the registered vector entry
    point; gymnasium 0.29 passes it ``max_episode_steps`` (None for this env)."""
    venv = gym.make_vec("TinyLidar-v0", num_envs=3, vectorization_mode="custom")
    assert isinstance(venv.unwrapped, TinyLidarVectorEnv)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, 1081)
    venv.close()
