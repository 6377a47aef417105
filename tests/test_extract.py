"""Extraction: scan/command pairing, episode selection, corrupt files, stats, determinism."""

import json
import shutil

import numpy as np
import pytest

from tinylidar_gym.data.collect import CollectJob, collect
from tinylidar_gym.data.episode import episode_dir
from tinylidar_gym.data.extract import (
    DatasetExistsError,
    ExtractConfig,
    extract,
    pair_scans_with_commands,
)
from tinylidar_gym.recording.reader import read_episode
from tinylidar_gym.sim.config import EnvConfig, with_overrides


def test_pairing_is_a_zero_order_hold():
    cmd_t = np.array([100, 200, 300])
    scan_t = np.array([50, 100, 150, 299, 300, 450, 800])
    idx, reason = pair_scans_with_commands(scan_t, cmd_t, max_age_ns=200)
    # 50: before the first command; 100: exactly at a command -> that one; 800: stale (500 old).
    assert idx.tolist() == [-1, 0, 0, 1, 2, 2, -1]
    assert reason.tolist() == [1, 0, 0, 0, 0, 0, 2]


def test_pairing_with_other_rates_and_jitter():
    rng = np.random.default_rng(0)
    # Commands at 50 Hz, scans at 40 Hz, both with up to 3 ms of jitter.
    cmd_t = np.sort(np.arange(200) * 20_000_000 + rng.integers(0, 3_000_000, 200))
    scan_t = np.sort(np.arange(150) * 25_000_000 + rng.integers(0, 3_000_000, 150))
    idx, reason = pair_scans_with_commands(scan_t, cmd_t, max_age_ns=50_000_000)
    ok = idx >= 0
    assert ok[1:].all()
    # Brute force: the latest command not after the scan.
    for k in np.flatnonzero(ok):
        earlier = np.flatnonzero(cmd_t <= scan_t[k])
        assert idx[k] == earlier.max()
        assert scan_t[k] - cmd_t[idx[k]] < 25_000_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    env = with_overrides(EnvConfig(), lidar={"n_beams": 121}, max_episode_time_s=2.0)
    ok = collect(CollectJob(root / "ok", "train", 0, 3, env=env), workers=1, progress=False)
    assert all(s["status"] == "done" for s in ok["seeds"].values())
    return root / "ok"


def _make_successful(run_dir, seeds):
    """The 2 s episodes time out; mark some as successful to exercise selection."""
    for seed in seeds:
        p = episode_dir(run_dir, "train", seed) / "result.json"
        result = json.loads(p.read_text())
        result.update(success=True, reason="goal_reached")
        p.write_text(json.dumps(result))


def test_extract_pairs_every_recorded_step(tmp_path, run_dir):
    work = tmp_path / "run"
    shutil.copytree(run_dir, work)
    _make_successful(work, [0, 1])
    stats = extract([work], tmp_path / "ds", progress=False)
    counts = stats["counts"]
    assert {k: counts[k] for k in ("episodes_found", "episodes_used", "episodes_skipped")} == {
        "episodes_found": 3,
        "episodes_used": 2,
        "episodes_skipped": 1,
    }
    assert counts["hard_negative_samples"] == 0
    assert counts["expert_labels"] == stats["n_samples"]
    assert "not successful" in stats["skipped_episodes"][0]["skipped"]
    scans = np.load(tmp_path / "ds" / "scans.npy", mmap_mode="r")
    actions = np.load(tmp_path / "ds" / "actions.npy", mmap_mode="r")
    ids = np.load(tmp_path / "ds" / "episode_ids.npy")
    assert isinstance(scans, np.memmap) and scans.shape == (stats["n_samples"], 121)
    rec = read_episode(episode_dir(work, "train", 0) / "simulation.mcap")
    first = ids == 0
    assert np.array_equal(scans[first], rec.scans)
    assert np.array_equal(actions[first], rec.actions.astype(np.float32))
    assert stats["episodes"][0]["skipped_scans"] == {"before_first_command": 0, "stale_command": 0}
    all_scans = np.asarray(scans, dtype=np.float64)
    assert np.allclose(stats["scan_mean"], all_scans.mean(0), atol=1e-6)
    assert np.allclose(stats["scan_std"], all_scans.std(0), atol=1e-5)
    assert stats["scan_mean_all"] == pytest.approx(all_scans.mean(), abs=1e-9)


def test_corrupt_and_incomplete_episodes_are_skipped_with_reasons(tmp_path, run_dir):
    work = tmp_path / "run"
    shutil.copytree(run_dir, work)
    _make_successful(work, [0, 1, 2])
    mcap = episode_dir(work, "train", 1) / "simulation.mcap"
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    (episode_dir(work, "train", 2) / "result.json").unlink()
    stats = extract([work], tmp_path / "ds", progress=False)
    reasons = sorted(s["skipped"] for s in stats["skipped_episodes"])
    assert len(reasons) == 2
    assert reasons[0].startswith("bad recording") and "simulation.mcap" in reasons[0]
    assert reasons[1].startswith("no result.json")
    assert stats["counts"]["episodes_used"] == 1


def test_test_split_is_never_extracted_by_default(tmp_path):
    env = with_overrides(EnvConfig(), lidar={"n_beams": 61}, max_episode_time_s=0.5)
    collect(CollectJob(tmp_path / "t", "test", 0, 1, env=env), workers=1, progress=False)
    with pytest.raises(ValueError, match="no usable episodes"):
        extract(
            [tmp_path / "t"], tmp_path / "ds", ExtractConfig(include_failed=True), progress=False
        )


def test_extraction_is_deterministic_and_never_overwrites(tmp_path, run_dir):
    work = tmp_path / "run"
    shutil.copytree(run_dir, work)
    _make_successful(work, [0, 1, 2])
    a = extract([work], tmp_path / "a", progress=False)
    b = extract([work], tmp_path / "b", progress=False)
    assert a["content_hash"] == b["content_hash"]
    assert (tmp_path / "a" / "stats.json").read_bytes() == (
        tmp_path / "b" / "stats.json"
    ).read_bytes()
    with pytest.raises(DatasetExistsError, match="--overwrite"):
        extract([work], tmp_path / "a", progress=False)
    extract([work], tmp_path / "a", overwrite=True, progress=False)
    assert not list(tmp_path.glob(".a.*"))
