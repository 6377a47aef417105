"""Rebuilding recorded episodes and relabelling them: hard negatives and pseudo-positions."""

import json
import math
import shutil

import numpy as np
import pytest

from tinylidar_gym.data.collect import CollectJob, collect
from tinylidar_gym.data.episode import MCAP_FILE, episode_dir, read_config
from tinylidar_gym.data.evaluation import evaluate, expert_batch_policy
from tinylidar_gym.data.extract import extract
from tinylidar_gym.data.relabel import (
    HardNegativeConfig,
    PseudoPositionConfig,
    ReplayDivergedError,
    mine_hard_negatives,
    offset_pose,
    pseudo_positions,
    redrive,
)
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.experts.expert import Expert
from tinylidar_gym.recording.reader import read_episode
from tinylidar_gym.sim import world as w
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from tinylidar_gym.sim.progress import project_global
from tinylidar_gym.sim.world import World

ENV = with_overrides(EnvConfig(), lidar={"n_beams": 181}, max_episode_time_s=3.0)


def _swerve_left(obs, venv):
    """A bad driver: full left lock at speed, into the wall within a second or two."""
    return np.tile(np.array([1.0, 0.2], dtype=np.float32), (len(obs), 1))


@pytest.fixture(scope="module")
def crash_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "eval-crash"
    report = evaluate(
        _swerve_left, [5, 6], run, ENV, "train", "model:swerve", num_envs=2, progress=False
    )
    assert report["success_rate"] == 0.0
    return run


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("collect")
    collect(CollectJob(root / "ok", "train", 0, 2, env=ENV), workers=1, progress=False)
    return root / "ok"


def _drive_to(ep_dir, k):
    """An env driven independently with the recorded actions to recorded step ``k``."""
    ep = read_config(ep_dir)
    rec = read_episode(ep_dir / MCAP_FILE)
    env = TinyLidarEnv(ep.env)
    env.reset(seed=ep.seed, options={"obstacles": ep.obstacles})
    for j in range(k):
        env.step(rec.actions[j].astype(np.float32))
    return env, rec


def test_redrive_reproduces_the_recorded_scans(crash_run, expert_run):
    for ep_dir in [episode_dir(crash_run, "train", 5), episode_dir(expert_run, "train", 1)]:
        rec = read_episode(ep_dir / MCAP_FILE)
        steps = 0
        for k, env in redrive(ep_dir):
            np.testing.assert_array_equal(env.world.scans[0].astype(np.float32), rec.scans[k])
            steps += 1
        assert steps == len(rec.scans)


def test_redrive_detects_a_recording_that_does_not_match_its_config(crash_run, tmp_path):
    ep_dir = tmp_path / "ep"
    shutil.copytree(episode_dir(crash_run, "train", 5), ep_dir)
    cfg = (ep_dir / "config.yaml").read_text()
    # Another car (a longer wheelbase) would not have driven the recorded path.
    assert "wheelbase_m: 0.33" in cfg
    (ep_dir / "config.yaml").write_text(cfg.replace("wheelbase_m: 0.33", "wheelbase_m: 0.5", 1))
    with pytest.raises(ReplayDivergedError, match="recorded pose"):
        list(redrive(ep_dir))


def test_hard_negatives_carry_the_experts_actions(crash_run):
    ep_dir = episode_dir(crash_run, "train", 5)
    result = json.loads((ep_dir / "result.json").read_text())
    assert result["reason"].startswith("collision")
    mined = mine_hard_negatives(ep_dir, window_s=0.5)
    n_rec = len(read_episode(ep_dir / MCAP_FILE).scans)
    window = math.ceil(0.5 / ENV.control_dt_s)
    assert mined.steps.tolist() == list(range(n_rec - window, n_rec))
    expert = Expert(ENV)
    for j in [0, len(mined) // 2, len(mined) - 1]:
        env, rec = _drive_to(ep_dir, int(mined.steps[j]))
        np.testing.assert_array_equal(mined.actions[j], expert.act(env.world, 0))
        np.testing.assert_array_equal(mined.scans[j], rec.scans[mined.steps[j]])
    # The data really changes: the labels are the expert's correction, not the crash's actions.
    rec_actions = read_episode(ep_dir / MCAP_FILE).actions[mined.steps]
    assert np.abs(mined.actions - rec_actions).max() > 0.5


def test_successful_episodes_give_no_hard_negatives(expert_run):
    ep_dir = episode_dir(expert_run, "train", 0)
    result = json.loads((ep_dir / "result.json").read_text())
    assert not result["reason"].startswith("collision")
    assert len(mine_hard_negatives(ep_dir)) == 0


def test_extract_adds_hard_negatives_with_their_weight(crash_run, expert_run, tmp_path):
    for seed in (0, 1):  # the 3 s episodes time out; count them as demonstrations
        p = episode_dir(expert_run, "train", seed) / "result.json"
        p.write_text(json.dumps({**json.loads(p.read_text()), "success": True}))
    hn = HardNegativeConfig(runs=(crash_run,), window_s=0.5, weight=3.0)
    stats = extract([expert_run], tmp_path / "ds", hard_negatives=hn, progress=False)
    window = math.ceil(0.5 / ENV.control_dt_s)
    counts = stats["counts"]
    assert counts["episodes_used"] == 2
    assert counts["hard_negative_episodes_used"] == 2
    assert counts["hard_negative_samples"] == 2 * window
    assert counts["expert_labels"] == stats["n_samples"]
    weights = np.load(tmp_path / "ds" / "weights.npy")
    actions = np.load(tmp_path / "ds" / "actions.npy")
    mined = mine_hard_negatives(episode_dir(crash_run, "train", 6), window_s=0.5)
    assert (weights == 3.0).sum() == 2 * window
    np.testing.assert_array_equal(actions[-window:], mined.actions)
    kinds = [e.get("kind") for e in stats["episodes"]]
    assert kinds == [None, None, "hard_negative", "hard_negative"]


def test_hard_negatives_never_come_from_test_seeds(tmp_path, expert_run):
    run = tmp_path / "eval-test"
    evaluate(_swerve_left, [2_000_000], run, ENV, "test", "model:swerve", progress=False)
    for seed in (0, 1):
        p = episode_dir(expert_run, "train", seed) / "result.json"
        p.write_text(json.dumps({**json.loads(p.read_text()), "success": True}))
    hn = HardNegativeConfig(runs=(run,))
    stats = extract([expert_run], tmp_path / "ds", hard_negatives=hn, progress=False)
    assert stats["counts"]["hard_negative_samples"] == 0
    assert any("test split" in s["skipped"] for s in stats["skipped_episodes"])


def test_pseudo_position_scans_equal_a_resimulation_from_the_offset_pose(expert_run):
    ep_dir = episode_dir(expert_run, "train", 0)
    cfg = PseudoPositionConfig(per_step=2, every_n_steps=10, lateral_std_m=0.2)
    rel = pseudo_positions(ep_dir, cfg)
    assert len(rel) > 10
    ep = read_config(ep_dir)
    env = TinyLidarEnv(ep.env)
    env.reset(seed=ep.seed, options={"obstacles": ep.obstacles})
    world = World(ep.env, n_cars=1)
    world.set_layout(0, env.layout.course, env.layout.obstacles)
    expert = Expert(ep.env)
    rec = read_episode(ep_dir / MCAP_FILE)
    checked = list(range(0, len(rel), 5))
    for j in checked:
        world.reset_car(0, 0, pose=tuple(rel.poses[j]))
        np.testing.assert_allclose(rel.scans[j], world.scans[0], atol=1e-5)
        # The pose really is off the recorded one, and the scan differs from the recorded scan.
        assert np.hypot(*(rel.poses[j, :2] - rec.poses[rel.steps[j], :2])) > 1e-4
        assert np.abs(rel.scans[j] - rec.scans[rel.steps[j]]).max() > 1e-3
    # Labelled by the expert at that pose (speed and steering as they were at that step).
    by_step = {int(rel.steps[j]): j for j in checked}
    for k, env2 in redrive(ep_dir):
        if k not in by_step:
            continue
        j = by_step[k]
        car = env2.world.cars[0].copy()
        env2.world.cars[0, [w.C_X, w.C_Y, w.C_YAW]] = rel.poses[j]
        wd = env2.world
        wd.cars[0, w.C_CL_IDX], wd.cars[0, w.C_S_LOCAL] = project_global(
            *rel.poses[j, :2], wd.centerline[0], wd.n_cl[0]
        )
        np.testing.assert_array_equal(rel.actions[j], expert.act(wd, 0))
        wd.cars[0] = car


def test_offset_pose_moves_left_of_the_heading():
    x, y, yaw = offset_pose(1.0, 2.0, math.pi / 2, 0.5, 0.1)
    assert (x, y) == pytest.approx((0.5, 2.0))
    assert yaw == pytest.approx(math.pi / 2 + 0.1)


def test_redrive_rebuilds_expert_evaluation_episodes_without_collection_noise(tmp_path):
    # Evaluation runs the expert without noise and records what it executed; its config.yaml
    # says driver: expert, like a (noisy) collection episode.
    run = tmp_path / "eval-expert"
    evaluate(expert_batch_policy(ENV), [3], run, ENV, "train", "expert", progress=False)
    ep_dir = episode_dir(run, "train", 3)
    rec = read_episode(ep_dir / MCAP_FILE)
    steps = 0
    for k, env in redrive(ep_dir):
        np.testing.assert_array_equal(env.world.scans[0].astype(np.float32), rec.scans[k])
        steps += 1
    assert steps == len(rec.scans)
