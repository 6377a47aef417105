"""Bad input and bad luck in collect: nothing to do, killed workers, two runs at once, full disk."""

import errno
import json
import os
import signal
import threading

import pytest

import tinylidar_gym.data.collect as collect_mod
import tinylidar_gym.data.collect_job as collect_job
from tinylidar_gym.data.collect import CollectJob, DiskFullError, collect
from tinylidar_gym.data.episode import episode_dir
from tinylidar_gym.data.manifest import RunConflictError, failed_with_error
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from tinylidar_gym.sim.errors import UserError


def small_env() -> EnvConfig:
    return with_overrides(EnvConfig(), lidar={"n_beams": 61}, max_episode_time_s=1.0)


def make_job(root, name="run", first=0, n=3):
    return CollectJob(root / name, "train", first, n, env=small_env())


@pytest.mark.parametrize(
    "episodes, first, match",
    [
        (0, 0, "--episodes 0 collects nothing"),
        (-2, 0, "collects nothing"),
        (1, -1, "must be >= 0"),
        (2, 999_999, "do not fit split 'train'"),
    ],
)
def test_a_job_that_asks_for_nothing_or_too_much_is_refused(tmp_path, episodes, first, match):
    with pytest.raises(UserError, match=match):
        CollectJob(tmp_path / "r", "train", first, episodes)
    assert not (tmp_path / "r").exists()


def test_an_unknown_split_is_refused(tmp_path):
    with pytest.raises(UserError, match="unknown split 'tset'"):
        CollectJob(tmp_path / "r", "tset", 0, 1)


def test_a_killed_worker_fails_its_seeds_and_the_run_goes_on(tmp_path, monkeypatch):
    real = collect_mod._collect_task

    def killed_on_seed_2(job, index, seed):  # a local function travels to the workers by value
        if seed == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(job, index, seed)

    monkeypatch.setattr(collect_mod, "_collect_task", killed_on_seed_2)
    job = make_job(tmp_path, n=6)
    manifest = collect(job, workers=2, progress=False)
    seeds = manifest["seeds"]
    assert seeds["2"]["status"] == "failed" and "worker process died" in seeds["2"]["error"]
    failed = failed_with_error(manifest)
    # Only what was in flight with seed 2 (at most one other seed) fails; the rest finish.
    assert 2 in failed and len(failed) <= 2
    assert all(seeds[str(s)]["status"] == "done" for s in range(6) if s not in failed)
    assert manifest["outcome"]["failed_with_error"] == failed
    on_disk = json.loads((job.run_dir / "manifest.json").read_text())
    assert on_disk["outcome"] == manifest["outcome"]
    # The same command again retries exactly the failed seeds.
    monkeypatch.setattr(collect_mod, "_collect_task", real)
    again = collect(job, workers=1, progress=False)
    assert failed_with_error(again) == [] and again["outcome"]["done"] == 6
    assert again["timings"]["sessions"][-1]["episodes_run"] == len(failed)


def test_two_runs_started_at_once_never_take_the_same_seeds(tmp_path, monkeypatch):
    # Hold the first run inside its overlap check until the second has started, as two
    # commands started at once would interleave without the lock.
    real_check = collect_mod.check_seed_overlap
    first_in = threading.Event()

    def slow_check(*args):
        first_in.set()
        threading.Event().wait(1.0)
        real_check(*args)

    monkeypatch.setattr(collect_mod, "check_seed_overlap", slow_check)
    outcomes = {}

    def run(name):
        try:
            outcomes[name] = collect(make_job(tmp_path, name, n=2), workers=1, progress=False)
        except RunConflictError as exc:
            outcomes[name] = exc

    a = threading.Thread(target=run, args=("a",))
    a.start()
    first_in.wait(10)
    run("b")
    a.join()
    assert isinstance(outcomes["a"], dict)
    assert isinstance(outcomes["b"], RunConflictError)
    assert "already used 2 of these train seeds" in str(outcomes["b"])


def test_a_run_being_collected_is_not_resumed_by_a_second_process(tmp_path):
    from tinylidar_gym.data.locks import exclusive_lock

    job = make_job(tmp_path, n=1)
    collect(job, workers=1, progress=False)
    with exclusive_lock(tmp_path / ".run.run.lock", RuntimeError("held")):
        with pytest.raises(RunConflictError, match="another process is collecting"):
            collect(job, workers=1, progress=False)


def test_a_full_disk_ends_the_run_with_a_manifest_that_says_which_seeds_are_done(
    tmp_path, monkeypatch
):
    real = collect_job.write_result

    def full_at_seed_2(path, result):
        if result["seed"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, result)

    monkeypatch.setattr(collect_job, "write_result", full_at_seed_2)
    job = make_job(tmp_path, n=5)
    with pytest.raises(DiskFullError, match="is full .*2 of 5 seeds done.*run the same command"):
        collect(job, workers=1, progress=False)
    manifest = json.loads((job.run_dir / "manifest.json").read_text())
    assert manifest["outcome"] == {"done": 2, "failed_with_error": [2], "pending": [3, 4]}
    assert "No space left" in manifest["seeds"]["2"]["error"]
    assert not episode_dir(job.run_dir, "train", 3).exists()  # the run stopped there
    monkeypatch.setattr(collect_job, "write_result", real)
    assert collect(job, workers=1, progress=False)["outcome"]["done"] == 5


def test_a_full_disk_while_writing_the_manifest_is_a_clear_error(tmp_path, monkeypatch):
    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(collect_mod, "atomic_write_json", full)
    with pytest.raises(DiskFullError, match="manifest.json could not be updated"):
        collect(make_job(tmp_path, n=1), workers=1, progress=False)


def test_a_full_disk_in_a_worker_process_stops_the_other_workers(tmp_path, monkeypatch):
    real = collect_mod._collect_task

    def full_at_seed_1(job, index, seed):  # travels to the worker processes by value
        if seed == 1:
            return {"seed": seed, "status": "failed", "error": "OSError: full", "disk_full": "full"}
        return real(job, index, seed)

    monkeypatch.setattr(collect_mod, "_collect_task", full_at_seed_1)
    job = make_job(tmp_path, n=8)
    with pytest.raises(DiskFullError, match="is full"):
        collect(job, workers=2, progress=False)
    manifest = json.loads((job.run_dir / "manifest.json").read_text())
    outcome = manifest["outcome"]
    assert outcome["failed_with_error"] == [1] and outcome["pending"]
    assert outcome["done"] + 1 + len(outcome["pending"]) == 8
