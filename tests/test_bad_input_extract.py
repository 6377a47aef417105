"""Bad input to extract: foreign LiDAR configs, the test split, killed or concurrent writers."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tinylidar_gym.data.collect import CollectJob, collect
from tinylidar_gym.data.dataset import DatasetBusyError, write_dataset
from tinylidar_gym.data.episode import episode_dir
from tinylidar_gym.data.extract import ExtractConfig, RunNotFoundError, extract
from tinylidar_gym.data.locks import exclusive_lock
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from tinylidar_gym.sim.errors import UserError


def _collect(path, n_beams, episodes):
    env = with_overrides(EnvConfig(), lidar={"n_beams": n_beams}, max_episode_time_s=1.0)
    collect(CollectJob(path, "train", 0, episodes, env=env), workers=1, progress=False)
    for seed in range(episodes):  # the 1 s episodes time out: count them as successes
        p = episode_dir(path, "train", seed) / "result.json"
        p.write_text(json.dumps({**json.loads(p.read_text()), "success": True}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    _collect(root / "one" / "b121", 121, 3)
    _collect(root / "other" / "a61", 61, 1)  # another root: its seeds may repeat; sorts first
    shutil.move(root / "one" / "b121", root / "b121")
    shutil.move(root / "other" / "a61", root / "a61")
    return root


def test_an_episode_whose_config_disagrees_with_its_recording_is_the_one_skipped(tmp_path, runs):
    work = tmp_path / "run"
    shutil.copytree(runs / "b121", work)
    cfg_file = episode_dir(work, "train", 0) / "config.yaml"
    doc = yaml.safe_load(cfg_file.read_text())
    doc["env"]["lidar"]["n_beams"] = 541  # the recording still has 121 beams
    cfg_file.write_text(yaml.safe_dump(doc))
    stats = extract([work], tmp_path / "ds", progress=False)
    assert stats["counts"]["episodes_used"] == 2
    [skipped] = stats["skipped_episodes"]
    assert skipped["seed"] == 0 and "121 beams but its config.yaml says 541" in skipped["skipped"]
    scans = np.load(tmp_path / "ds" / "scans.npy", mmap_mode="r")
    assert stats["n_beams"] == scans.shape[1] == stats["env"]["lidar"]["n_beams"] == 121


def test_the_commands_beam_count_is_the_sensor_contract(tmp_path, runs):
    stats = extract(
        [runs / "a61", runs / "b121"], tmp_path / "ds", ExtractConfig(n_beams=121), progress=False
    )
    assert stats["counts"]["episodes_used"] == 3 and stats["n_beams"] == 121
    [skipped] = stats["skipped_episodes"]
    assert "61 beams, not the 121 asked for" in skipped["skipped"]
    assert stats["config"]["n_beams"] == 121
    # Without it the first usable episode sets the contract; the others are named.
    stats = extract([runs / "a61", runs / "b121"], tmp_path / "ds2", progress=False)
    assert stats["n_beams"] == 61 and stats["counts"]["episodes_skipped"] == 3
    assert "n_beams" not in stats["config"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"splits": ("test",)}, "test split is never extracted"),
        ({"splits": ("train", "test")}, "test split is never extracted"),
        ({"splits": ("trian",)}, "not a choice of train, val, test"),
        ({"splits": ()}, "not a choice"),
        ({"max_command_age_s": 0.0}, "max_command_age_s=0.0 must be > 0"),
        ({"n_beams": 1}, "n_beams=1 must be an integer >= 2"),
    ],
)
def test_bad_options_are_refused_before_anything_is_read(kwargs, match):
    with pytest.raises(UserError, match=match):
        ExtractConfig(**kwargs)


def test_a_missing_run_or_nothing_usable_is_a_user_error(tmp_path, runs):
    with pytest.raises(RunNotFoundError, match="does not exist"):
        extract([tmp_path / "nope"], tmp_path / "ds", progress=False)
    with pytest.raises(UserError, match="no usable episodes"):
        extract([runs / "a61"], tmp_path / "ds", ExtractConfig(n_beams=121), progress=False)
    assert not (tmp_path / "ds").exists()


def test_a_killed_writer_leaves_no_work_directory_after_the_next_run(tmp_path):
    out = tmp_path / "ds"
    killed = (
        "import os, signal; from tinylidar_gym.data.dataset import write_dataset; "
        f"write_dataset({str(out)!r}, lambda w: os.kill(os.getpid(), signal.SIGKILL))"
    )
    assert subprocess.run([sys.executable, "-c", killed]).returncode == -9
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()]  # what the kill left
    write_dataset(out, lambda work: (work / "stats.json").write_text("{}") and {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_a_second_writer_of_the_same_dataset_is_refused(tmp_path):
    with exclusive_lock(tmp_path / ".ds.lock", RuntimeError("held")):
        with pytest.raises(DatasetBusyError, match="another process is writing"):
            write_dataset(tmp_path / "ds", lambda work: {})
    assert not (tmp_path / "ds").exists()


def test_a_result_that_breaks_its_schema_is_never_extracted(tmp_path, runs):
    work = tmp_path / "run"
    shutil.copytree(runs / "b121", work)
    p = episode_dir(work, "train", 1) / "result.json"
    p.write_text(json.dumps({**json.loads(p.read_text()), "success": "false"}))
    stats = extract([work], tmp_path / "ds", progress=False)
    assert stats["counts"]["episodes_used"] == 2
    [skipped] = stats["skipped_episodes"]
    assert "'success' must be true or false" in skipped["skipped"]
