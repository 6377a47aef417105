"""`experiment-runner evaluate` on bad input: one `error:` line, exit status 2, nothing run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from experiments.experiment_runner import main
from trainers.export import export_onnx, save_model
from trainers.models import TinyLidarNet

QUICK = ["--episodes", "1", "--num-envs", "1", "--tracking.tracker", "none", "--no-record"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from tinylidar_gym.sim.config import EnvConfig, config_to_dict

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("models") / "m"
    save_model(out, TinyLidarNet(1081, "L"), {"env": config_to_dict(EnvConfig())})
    return out


def _refused(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(["evaluate", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


def test_a_missing_model_directory(tmp_path, capsys):
    err = _refused(["--policy", str(tmp_path / "nope"), "--out", str(tmp_path), *QUICK], capsys)
    assert "nope" in err and "does not exist" in err


def test_a_swapped_onnx_file(model, tmp_path, capsys):
    swapped = tmp_path / "swapped"
    shutil.copytree(model, swapped)
    export_onnx(TinyLidarNet(1081, "L"), swapped / "model.onnx")
    argv = ["--policy", str(swapped), "--runtime", "onnx", "--out", str(tmp_path / "runs")]
    err = _refused([*argv, *QUICK], capsys)
    assert "model.onnx: sha256 does not match" in err
    assert not (tmp_path / "runs").exists()


def test_a_model_json_without_hashes(model, tmp_path, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(model, bare)
    doc = json.loads((bare / "model.json").read_text())
    del doc["files"]
    (bare / "model.json").write_text(json.dumps(doc))
    err = _refused(["--policy", str(bare), "--out", str(tmp_path / "runs"), *QUICK], capsys)
    assert "records no sha256 for model.safetensors" in err


def test_no_episodes(model, tmp_path, capsys):
    argv = ["--policy", str(model), "--out", str(tmp_path), "--tracking.tracker", "none"]
    err = _refused([*argv, "--episodes", "0"], capsys)
    assert "--episodes 0 is invalid" in err


def test_an_existing_evaluation_is_not_overwritten(model, tmp_path, capsys):
    argv = ["--policy", str(model), "--out", str(tmp_path), "--no-compare-expert", *QUICK]
    main(["evaluate", *argv])
    capsys.readouterr()
    err = _refused(argv, capsys)
    assert "already holds an evaluation" in err


def test_an_unknown_split_is_a_parse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--split", "holdout"])
    assert info.value.code == 2
