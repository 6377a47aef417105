"""Scale-out with Ray: collection and evaluation as Ray tasks on a local instance started here give
the same run directories, results and recordings as local runs, resume the same way, isolate a
failing (or dying) seed, and a missing Ray names the extra to install."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import tinylidar_gym.data.collect as collect_mod
from experiments import evaluate as evaluate_cli
from tinylidar_gym.data.collect import CollectJob, collect, job_from_manifest
from tinylidar_gym.data.episode import episode_dir, read_result
from tinylidar_gym.data.evaluation import ExpertDriver, evaluate
from tinylidar_gym.data.ray_backend import RayNotInstalledError, chunk_seeds, import_ray
from tinylidar_gym.recording.reader import read_episode
from tinylidar_gym.sim.config import EnvConfig, config_to_dict, with_overrides
from trainers.tracking import TrackingConfig

EPISODE_FILES = {"config.yaml", "simulation.mcap", "result.json"}


def small_env(n_beams: int = 181) -> EnvConfig:
    """Fewer beams and a 3 s timeout keep each episode short (120 steps at most)."""
    return with_overrides(EnvConfig(), lidar={"n_beams": n_beams}, max_episode_time_s=3.0)


def make_job(root, n=3) -> CollectJob:
    return CollectJob(root / "run", "train", 0, n, env=small_env())


@pytest.fixture(scope="module")
def ray_cluster():
    """A private local Ray instance (never a cluster that RAY_ADDRESS or a `ray start` names)."""
    ray = import_ray()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def assert_same_episode(a_dir, b_dir) -> None:
    """Same files, same result.json and config.yaml, bit-identical recorded scans and actions."""
    assert {p.name for p in a_dir.iterdir()} == {p.name for p in b_dir.iterdir()} == EPISODE_FILES
    assert read_result(a_dir) == read_result(b_dir)
    assert (a_dir / "config.yaml").read_text() == (b_dir / "config.yaml").read_text()
    a, b = read_episode(a_dir / "simulation.mcap"), read_episode(b_dir / "simulation.mcap")
    assert len(a.scans) > 0
    assert np.array_equal(a.scans, b.scans) and np.array_equal(a.actions, b.actions)


def test_chunks_are_consecutive_and_each_as_wide_as_the_vector_env():
    seeds = list(range(100, 137))
    chunks = chunk_seeds(seeds, num_envs=4, workers=5)
    assert len(chunks) == 5 and sum(chunks, []) == seeds
    assert min(len(c) for c in chunks) >= 4
    assert chunk_seeds(seeds, num_envs=16, workers=8) == [seeds[:19], seeds[19:]]
    assert chunk_seeds(seeds[:3], num_envs=16, workers=8) == [seeds[:3]]


def test_missing_ray_names_the_extra_and_local_runs_need_none_of_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    job = make_job(tmp_path, n=1)
    with pytest.raises(RayNotInstalledError, match="uv sync --extra ray"):
        collect(job, workers=1, backend="ray", progress=False)
    assert not job.run_dir.exists()
    args = evaluate_cli.Args(policy="expert", episodes=1, out=tmp_path, backend="ray")
    with pytest.raises(RayNotInstalledError, match="uv sync --extra ray"):
        evaluate_cli.run(args)
    # The local default never imports Ray.
    manifest = collect(job, workers=1, progress=False)
    assert manifest["seeds"]["0"]["status"] == "done"
    report = evaluate(ExpertDriver(small_env())(), [5], tmp_path / "ev", small_env(), "train",
                      "expert", progress=False)  # fmt: skip
    assert report["episodes"] == 1


def test_ray_collection_matches_local_and_resumes(tmp_path, ray_cluster):
    local = collect(make_job(tmp_path / "local"), workers=1, progress=False)
    job = make_job(tmp_path / "ray")
    remote = collect(job, workers=2, backend="ray", progress=False)
    assert remote["config"] == local["config"]
    assert {s: st["status"] for s, st in remote["seeds"].items()} == {"0": "done", "1": "done",
                                                                      "2": "done"}  # fmt: skip
    session = remote["timings"]["sessions"][-1]
    assert session["backend"] == "ray" and session["workers"] == 2
    assert session["episodes_run"] == 3
    on_disk = json.loads((job.run_dir / "manifest.json").read_text())
    assert on_disk["seeds"] == remote["seeds"]
    for seed in (0, 1, 2):
        assert_same_episode(
            episode_dir(tmp_path / "local" / "run", "train", seed),
            episode_dir(job.run_dir, "train", seed),
        )
    # Resume: a second call skips every finished seed and rewrites none of them.
    result = episode_dir(job.run_dir, "train", 0) / "result.json"
    before = result.stat().st_mtime_ns
    again = collect(job_from_manifest(job.run_dir), backend="ray", progress=False)
    assert again["timings"]["sessions"][-1]["episodes_run"] == 0
    assert result.stat().st_mtime_ns == before


def test_a_failing_or_dying_seed_is_marked_failed_and_the_others_finish(tmp_path, ray_cluster,
                                                                        monkeypatch):  # fmt: skip
    real = collect_mod._collect_task

    def flaky(job, index, seed):  # runs in the Ray worker (shipped by value: a nested function)
        if seed == 1:
            raise RuntimeError("simulated crash")
        if seed == 2:
            os._exit(3)  # the worker process dies mid-episode
        return real(job, index, seed)

    monkeypatch.setattr(collect_mod, "_collect_task", flaky)
    job = make_job(tmp_path, n=4)
    manifest = collect(job, workers=2, backend="ray", progress=False)
    seeds = manifest["seeds"]
    assert [seeds[s]["status"] for s in "0123"] == ["done", "failed", "failed", "done"]
    assert seeds["1"]["error"] == "RuntimeError: simulated crash"
    assert seeds["2"]["error"].startswith("WorkerCrashedError: The worker died")
    assert not (episode_dir(job.run_dir, "train", 1) / "result.json").exists()
    on_disk = json.loads((job.run_dir / "manifest.json").read_text())
    assert on_disk["seeds"]["2"]["status"] == "failed"

    # Re-running retries only the failed seeds.
    monkeypatch.setattr(collect_mod, "_collect_task", real)
    manifest = collect(job_from_manifest(job.run_dir), workers=2, backend="ray", progress=False)
    assert all(st["status"] == "done" for st in manifest["seeds"].values())
    assert manifest["timings"]["sessions"][-1]["episodes_run"] == 2
    assert read_result(episode_dir(job.run_dir, "train", 2))["seed"] == 2


def test_ray_evaluation_of_a_model_and_the_expert_equals_local(tmp_path, ray_cluster):
    import torch

    from trainers.export import save_model
    from trainers.models import TinyLidarNet

    env = with_overrides(small_env(n_beams=271), max_episode_time_s=1.0)
    torch.manual_seed(0)
    net = TinyLidarNet(271, "L", np.full(271, 3.0), np.full(271, 2.0), max_range_m=30.0)
    model_dir = tmp_path / "model"
    save_model(model_dir, net.eval(), {"env": config_to_dict(env)})
    reports = {}
    for backend in ("local", "ray"):
        args = evaluate_cli.Args(
            policy=str(model_dir), episodes=4, num_envs=2, out=tmp_path / backend, run_name="ev",
            tracking=TrackingConfig(tracker="none"), backend=backend, workers=2,
        )  # fmt: skip
        reports[backend] = evaluate_cli.run(args)
    for key, name in (("model", "ev"), ("expert", "ev-expert")):
        local, remote = reports["local"][key], reports["ray"][key]
        assert {k: v for k, v in local.items() if k != "wall_s"} == {
            k: v for k, v in remote.items() if k != "wall_s"
        }
        on_disk = json.loads((tmp_path / "ray" / name / "evaluation.json").read_text())
        assert on_disk["episodes"] == 4 and on_disk["reasons"] == local["reasons"]
        for seed in range(2_000_000, 2_000_004):
            assert_same_episode(
                episode_dir(tmp_path / "local" / name, "test", seed),
                episode_dir(tmp_path / "ray" / name, "test", seed),
            )
    # A finished evaluation is never overwritten, on Ray either.
    with pytest.raises(FileExistsError, match="never overwritten"):
        evaluate_cli.run(args)


def test_a_failing_evaluation_chunk_raises_and_writes_no_evaluation(tmp_path, ray_cluster):
    from tinylidar_gym.data.evaluation import evaluate_on_ray

    def broken_policy():  # shipped by value; raises in the worker, as a broken model would
        raise ValueError("model.json is missing")

    seeds = [2_000_000, 2_000_001]
    failed = r"seeds 200000(\d)..200000\1 failed on the cluster: ValueError: model.json is missing"
    with pytest.raises(RuntimeError, match=failed):
        evaluate_on_ray(broken_policy, seeds, tmp_path / "ev", small_env(), "test", "broken",
                        num_envs=1, progress=False, workers=2)  # fmt: skip
    assert not (tmp_path / "ev" / "evaluation.json").exists()
