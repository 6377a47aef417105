"""Evaluate a model or the expert on any course: course, obstacle and episode-rule overrides and
map files apply; the model's contract (sensor, action mapping, control rate, car) is refused if
it differs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from experiments.experiment_runner import main
from tinylidar_gym.sim.config import CourseConfig, EnvConfig, LidarConfig, ObstacleConfig
from trainers.export import save_model
from trainers.model_env import FREE, ModelContractError, env_changes, env_for_model
from trainers.models import TinyLidarNet

MODEL_ENV = EnvConfig(lidar=LidarConfig(n_beams=541), max_episode_time_s=1.0)
"""A model's env that differs from the default in a contract field (the beam count)."""

QUICK = ["--episodes", "1", "--num-envs", "1", "--tracking.tracker", "none"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """An untrained model (evaluation only needs it to drive) for MODEL_ENV."""
    from tinylidar_gym.sim.config import config_to_dict

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("models") / "m"
    net = TinyLidarNet(541, "L", max_range_m=MODEL_ENV.lidar.max_range_m)
    save_model(out, net, {"env": config_to_dict(MODEL_ENV)})
    return out


def ring_map(directory: Path) -> Path:
    """A 10 m x 8 m occupancy map (map_server YAML + PNG) of a ring-shaped course."""
    img = np.full((160, 200), 254, np.uint8)
    img[:3], img[-3:], img[:, :3], img[:, -3:] = 0, 0, 0, 0
    img[33:127, 33:167] = 0
    Image.fromarray(img).save(directory / "ring.png")
    path = directory / "ring.yaml"
    path.write_text(
        "image: ring.png\nresolution: 0.05\norigin: [0.0, 0.0, 0.0]\nnegate: 0\n"
        "occupied_thresh: 0.65\nfree_thresh: 0.196\n"
    )
    return path


def episode_config(run_dir: Path) -> dict:
    (path,) = run_dir.rglob("config.yaml")
    return yaml.safe_load(path.read_text())


def test_course_obstacle_and_time_limit_changes_apply_to_the_models_env(model, tmp_path):
    main(
        ["evaluate", "--policy", str(model), "--out", str(tmp_path), "--no-compare-expert", *QUICK]
        + ["--env.course.kind", "procedural", "--env.course.seed", "3"]
        + ["--env.obstacles.count", "2", "--env.max-episode-time-s", "0.5"]
    )
    (run,) = tmp_path.iterdir()
    assert run.name.startswith("eval-m-test-000000-000000-env-")
    env = episode_config(run)["env"]
    assert env["course"]["kind"] == "procedural" and env["course"]["seed"] == 3
    assert env["obstacles"]["count"] == 2 and env["max_episode_time_s"] == 0.5
    assert env["lidar"]["n_beams"] == 541  # the model's, not the flag default's


def test_a_map_file_course_for_the_model_and_the_expert_beside_it(model, tmp_path):
    yaml_path = ring_map(tmp_path)
    main(
        ["evaluate", "--policy", str(model), "--out", str(tmp_path / "runs"), *QUICK]
        + ["--env.course.kind", "map", "--env.course.map-yaml", str(yaml_path)]
        + ["--env.obstacles.count", "0"]
    )
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and runs[1].name == runs[0].name + "-expert"
    for run in runs:
        env = episode_config(run)["env"]
        assert env["course"]["kind"] == "map" and env["course"]["map_yaml"] == str(yaml_path)
        assert env["lidar"]["n_beams"] == 541


def test_the_expert_drives_the_env_asked_for(tmp_path):
    main(
        ["evaluate", "--policy", "expert", "--out", str(tmp_path), *QUICK]
        + ["--env.course.kind", "procedural", "--env.max-episode-time-s", "0.5"]
    )
    (run,) = tmp_path.iterdir()
    assert "-env-" in run.name
    assert episode_config(run)["env"]["course"]["kind"] == "procedural"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--env.lidar.fov-deg", "180"], "--env.lidar.fov-deg 180.0 differs from the model's"),
        (["--env.lidar.max-range-m", "10"], "--env.lidar.max-range-m"),
        (["--env.lidar.mount-offset-m", "0.1"], "--env.lidar.mount-offset-m"),
        (["--env.control-dt-s", "0.05"], "--env.control-dt-s"),
        (["--env.vehicle.max-steer-rad", "0.3"], "--env.vehicle.max-steer-rad"),
        (["--env.max-speed-command-mps", "4"], "--env.max-speed-command-mps"),
    ],
)
def test_a_change_to_the_models_contract_is_refused(model, tmp_path, capsys, flags, named):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--policy", str(model), "--out", str(tmp_path), *QUICK, *flags])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "only --env.course" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


def test_the_python_api_merges_changes_and_checks_the_contract():
    changes = {"course": {"kind": "procedural", "length_m": 120.0}, "laps": 2}
    env = env_for_model(MODEL_ENV, changes)
    assert env.course == CourseConfig(kind="procedural", length_m=120.0)
    assert env.laps == 2 and env.lidar == MODEL_ENV.lidar
    # A contract field given with the model's own value is no change.
    assert env_for_model(MODEL_ENV, {"lidar": {"n_beams": 541}}) == MODEL_ENV
    with pytest.raises(ModelContractError, match=r"--env\.lidar\.n-beams 1081"):
        env_for_model(MODEL_ENV, {"lidar": {"n_beams": 1081}})


def test_every_course_and_obstacle_field_may_change():
    # Generic over the dataclasses: a field added to either is free without code changes.
    other = EnvConfig(
        course=CourseConfig(kind="procedural", seed=1, length_m=70.0, reverse=True),
        obstacles=ObstacleConfig(count=3, min_spacing_m=7.0),
    )
    changes = env_changes(other)
    assert set(changes) == {"course", "obstacles"}
    assert env_for_model(EnvConfig(), changes) == other
    for section in ("course", "obstacles"):
        assert section in FREE
        for f in dataclasses.fields(getattr(EnvConfig(), section)):
            value = getattr(getattr(other, section), f.name)
            env_for_model(EnvConfig(), {section: {f.name: value}})
