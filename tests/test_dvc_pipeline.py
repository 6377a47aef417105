"""`dvc repro` runs the whole flow (collect, extract, train, evaluate) offline on a tiny config."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY_PARAMS = {
    "collect": {"episodes": 2, "workers": 1},
    "train": {"variant": "L", "epochs": 1, "batch_size": 64, "learning_rate": 0.001},
    "evaluate": {"episodes": 2, "num_envs": 2},
}


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
    (work / "params.yaml").write_text(yaml.safe_dump(TINY_PARAMS))
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
