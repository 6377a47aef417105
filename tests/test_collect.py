"""Collection: episode directories, re-driving, resume after a crash, seed and run safety."""

import json

import numpy as np
import pytest

import tinylidar_gym.data.collect_job as collect_job
from tinylidar_gym.data.collect import CollectJob, RunConflictError, collect, job_from_manifest
from tinylidar_gym.data.episode import episode_dir, read_config, read_result
from tinylidar_gym.data.relabel import redrive
from tinylidar_gym.data.seeds import SPLITS
from tinylidar_gym.experts.expert import ExpertConfig
from tinylidar_gym.recording.reader import read_episode
from tinylidar_gym.sim.config import EnvConfig, with_overrides


def small_env() -> EnvConfig:
    """Fewer beams and a 3 s timeout keep each episode short."""
    return with_overrides(EnvConfig(), lidar={"n_beams": 181}, max_episode_time_s=3.0)


def make_job(root, name="run", split="train", first=0, n=3, **kw):
    return CollectJob(root / name, split, first, n, env=small_env(), **kw)


def test_episode_directory_contents_and_seeds(tmp_path):
    job = make_job(tmp_path, split="val", first=4, n=2)
    manifest = collect(job, workers=1, progress=False)
    seeds = [SPLITS["val"].first + 4, SPLITS["val"].first + 5]
    assert sorted(int(s) for s in manifest["seeds"]) == seeds
    for index, seed in enumerate(seeds, start=4):
        d = episode_dir(job.run_dir, "val", seed)
        assert {p.name for p in d.iterdir()} == {"config.yaml", "simulation.mcap", "result.json"}
        result = read_result(d)
        assert result["seed"] == seed and result["split"] == "val" and result["episode"] == index
        # A 3 s timeout on a 14 s lap: the expert is cut off, never crashes.
        assert result["reason"] == "timeout" and result["success"] is False
        m = result["metrics"]
        for key in (
            "distance_m",
            "progress",
            "checkpoints_passed",
            "checkpoints_total",
            "checkpoint_pass_rate",
            "min_obstacle_clearance_m",
            "mean_speed_mps",
            "duration_s",
            "steps",
        ):
            assert key in m
        assert m["steps"] == 120 and m["duration_s"] == pytest.approx(3.0)
        assert m["checkpoint_pass_rate"] == m["checkpoints_passed"] / m["checkpoints_total"]
        assert m["mean_speed_mps"] == pytest.approx(m["distance_m"] / m["duration_s"])
    assert manifest["config"]["split"] == "val"
    assert "versions" in manifest and manifest["command"]
    assert all(st["status"] == "done" for st in manifest["seeds"].values())


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_redrive_from_config_is_bit_identical_to_the_recording(tmp_path, noise):
    expert = ExpertConfig(noise_steer_std=noise, noise_speed_std=noise)
    job = make_job(tmp_path, n=1, expert=expert)
    collect(job, workers=1, progress=False)
    d = episode_dir(job.run_dir, "train", 0)
    rec = read_episode(d / "simulation.mcap")
    scans, env = [], None
    for _, env in redrive(d):  # checks every rebuilt pose against the recorded one
        scans.append(env.world.scans[0].copy())
    assert rec.scans.dtype == np.float32
    assert np.array_equal(rec.scans, np.stack(scans))
    assert np.array_equal(rec.scan_t_ns, np.arange(len(rec.scans)) * 25_000_000)
    cfg = read_config(d)
    assert np.array_equal(cfg.obstacles, env.layout.obstacles.boxes)
    if noise:
        # The car executed perturbed commands; the recorded labels are the clean expert actions.
        executed = rec.commands[:, 0] / env.config.vehicle.max_steer_rad
        assert not np.allclose(executed, rec.actions[:, 0], atol=1e-3)


def test_worker_error_marks_the_seed_failed_and_resume_retries_only_it(tmp_path, monkeypatch):
    job = make_job(tmp_path, n=3)
    real = collect_job.run_episode

    def crashing(env, policy, seed=None, options=None):
        if seed == 1:
            raise RuntimeError("simulated crash")
        return real(env, policy, seed=seed, options=options)

    monkeypatch.setattr(collect_job, "run_episode", crashing)
    manifest = collect(job, workers=1, progress=False)
    assert manifest["seeds"]["1"]["status"] == "failed"
    assert "simulated crash" in manifest["seeds"]["1"]["error"]
    assert {manifest["seeds"][s]["status"] for s in ("0", "2")} == {"done"}
    crashed = episode_dir(job.run_dir, "train", 1)
    # The half-written episode neither looks complete nor leaves a half-written recording.
    assert not (crashed / "result.json").exists()
    assert not (crashed / "simulation.mcap").exists()
    on_disk = json.loads((job.run_dir / "manifest.json").read_text())
    assert on_disk["seeds"]["1"]["status"] == "failed"

    done_before = (episode_dir(job.run_dir, "train", 0) / "result.json").stat().st_mtime_ns
    monkeypatch.setattr(collect_job, "run_episode", real)
    manifest = collect(job_from_manifest(job.run_dir), workers=1, progress=False)
    assert all(st["status"] == "done" for st in manifest["seeds"].values())
    assert manifest["timings"]["sessions"][-1]["episodes_run"] == 1
    done_after = (episode_dir(job.run_dir, "train", 0) / "result.json").stat().st_mtime_ns
    assert done_after == done_before
    assert read_result(crashed)["seed"] == 1


def test_parallel_workers(tmp_path):
    manifest = collect(make_job(tmp_path, n=4), workers=2, progress=False)
    assert len(manifest["seeds"]) == 4
    assert all(st["status"] == "done" for st in manifest["seeds"].values())
    assert manifest["timings"]["sessions"][-1]["workers"] == 2


def test_overlapping_seeds_across_runs_are_refused(tmp_path):
    collect(make_job(tmp_path, name="a", n=2), workers=1, progress=False)
    with pytest.raises(RunConflictError, match="--first-episode 2"):
        collect(make_job(tmp_path, name="b", first=1, n=2), workers=1, progress=False)
    # Other splits and later indices are fine.
    collect(make_job(tmp_path, name="c", first=2, n=1), workers=1, progress=False)
    collect(make_job(tmp_path, name="d", split="test", n=1), workers=1, progress=False)


def test_a_run_is_never_overwritten_with_another_config(tmp_path):
    collect(make_job(tmp_path, n=1), workers=1, progress=False)
    with pytest.raises(RunConflictError, match="different configuration"):
        collect(make_job(tmp_path, n=2), workers=1, progress=False)
    other = tmp_path / "not_a_run"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunConflictError, match="not a collection run"):
        collect(make_job(tmp_path, name="not_a_run", first=5, n=1), workers=1, progress=False)
