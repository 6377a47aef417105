"""`dvc repro` runs the whole flow (collect, extract, train, evaluate) offline on a tiny config,
and the committed params.yaml is the pipeline's default flow."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SMOKE_PARAMS = Path(__file__).with_name("dvc_smoke_params.yaml")


def _dvc(*args, cwd):
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    # No analytics or update checks: tests never touch the network.
    env = {**os.environ, "PATH": path, "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_dvc_repro_runs_the_flow_and_records_lineage(tmp_path):
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copy(ROOT / "dvc.yaml", work)
    shutil.copy(SMOKE_PARAMS, work / "params.yaml")
    # The stages depend on the code directories; small stand-ins keep the hashing cheap.
    (work / "tinylidar_gym" / "data").mkdir(parents=True)
    (work / "tinylidar_gym" / "data" / "extract.py").write_text("# code stand-in\n")
    (work / "trainers").mkdir()
    (work / "trainers" / "bc.py").write_text("# code stand-in\n")
    assert _dvc("init", "--no-scm", "-q", cwd=work).returncode == 0
    assert _dvc("config", "core.analytics", "false", cwd=work).returncode == 0
    remote = tmp_path / "remote"
    assert _dvc("remote", "add", "-d", "local", str(remote), cwd=work).returncode == 0
    out = _dvc("repro", cwd=work)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    lock = yaml.safe_load((work / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"collect", "extract", "train", "evaluate"}
    data_md5 = lock["stages"]["extract"]["outs"][0]["md5"]
    meta = json.loads((work / "pipeline" / "model" / "model.json").read_text())["metadata"]
    assert meta["dataset"]["dvc_md5"] == data_md5
    assert meta["bc"]["epochs"] == 1
    metrics = json.loads((work / "pipeline" / "metrics.json").read_text())
    assert metrics["episodes"] == 2 and metrics["split"] == "test"

    # Nothing changed: a second repro runs no stage; outputs go to the local remote.
    again = _dvc("repro", cwd=work)
    assert again.returncode == 0 and "didn't change" in again.stdout + again.stderr
    push = _dvc("push", cwd=work)
    assert push.returncode == 0, push.stderr
    assert any(remote.rglob("*"))


def test_committed_params_are_the_pipelines_default_flow():
    """`uv run dvc repro` with the committed params.yaml trains what `experiment-runner pipeline`
    trains (the README's default flow and its measured success), not a smoke-test model."""
    from experiments import evaluate, pipeline
    from trainers.configs import BCConfig

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    default = pipeline.Args()
    assert params["collect"]["episodes"] == default.train_episodes
    assert params["collect"]["workers"] == default.workers
    assert params["evaluate"]["episodes"] == default.test_episodes
    assert params["evaluate"]["num_envs"] == evaluate.Args().num_envs
    for name, value in params["train"].items():
        assert getattr(default.bc, name) == value, name
    # Every training setting the pipeline changes from BCConfig's defaults reaches dvc's stage.
    changed = {
        f.name
        for f in dataclasses.fields(BCConfig)
        if getattr(default.bc, f.name) != getattr(BCConfig(), f.name)
    }
    assert changed <= set(params["train"]), changed - set(params["train"])
    train_cmd = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["cmd"]
    for name in params["train"]:
        assert f"--bc.{name.replace('_', '-')} ${{train.{name}}}" in train_cmd, name
