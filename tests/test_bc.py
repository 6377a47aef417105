"""Behavioural cloning end to end on a tiny dataset: training, lineage, tracking, evaluation."""

import json
import shutil
import struct

import numpy as np
import pytest

from experiments import evaluate as evaluate_cli
from tinylidar_gym.data.collect import CollectJob, collect
from tinylidar_gym.data.episode import episode_dir
from tinylidar_gym.data.extract import extract
from tinylidar_gym.report import build_report
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from trainers.bc import train_bc
from trainers.configs import BCConfig
from trainers.dataset import LidarDataset
from trainers.export import load_model
from trainers.tracking import Tracker, TrackingConfig

TINY = BCConfig(epochs=2, batch_size=64, seed=0, threads=2)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("bc")
    env = with_overrides(EnvConfig(), lidar={"n_beams": 241}, max_episode_time_s=2.0)
    collect(CollectJob(root / "runs" / "r", "train", 0, 4, env=env), workers=1, progress=False)
    # 2 s episodes time out; the trainer only needs (scan, action) pairs.
    extract([root / "runs" / "r"], root / "data", progress=False, cfg=_include_failed())
    return root / "data"


def _include_failed():
    from tinylidar_gym.data.extract import ExtractConfig

    return ExtractConfig(include_failed=True)


def test_split_by_episode_never_shares_an_episode(dataset):
    ds = LidarDataset(dataset)
    train, val = ds.split_by_episode(0.25, seed=0)
    ids = np.asarray(ds.episode_ids)
    assert set(ids[train]).isdisjoint(ids[val])
    assert len(train) + len(val) == len(ds) and len(val) > 0


def test_train_bc_writes_a_model_with_lineage(dataset, tmp_path):
    out = tmp_path / "model"
    report = train_bc(dataset, out, TINY, TrackingConfig(tracker="none"), progress=False)
    assert len(report["history"]) == 2
    assert report["history"][1]["val/mse"] < report["history"][0]["val/mse"] * 1.5
    net, meta = load_model(out)
    md = meta["metadata"]
    assert (
        md["dataset"]["content_hash"]
        == json.loads((dataset / "stats.json").read_text())["content_hash"]
    )
    assert "git_commit" in md and md["bc"]["epochs"] == 2
    assert md["env"]["lidar"]["n_beams"] == 241
    assert (out / "model.onnx").exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_001", "epoch_002"]
    # The per-epoch history is on disk for the report's learning curves.
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history["epochs"]] == [1, 2]
    assert history["best_epoch"] == report["best_epoch"]
    for saved, returned in zip(history["epochs"], report["history"], strict=True):
        assert saved["val/mse"] == pytest.approx(returned["val/mse"])
        assert 0 < saved["train/epoch_loss"] < 100
    curves = build_report(out, tmp_path / "report", progress=False)
    assert [p.name for p in curves.images] == ["model-run-learning_curves.png"]
    # The normalisation statistics live inside the model.
    stats = json.loads((dataset / "stats.json").read_text())
    assert np.allclose(net.features.scan_mean.numpy(), stats["scan_mean"], atol=1e-6)
    with pytest.raises(FileExistsError, match="never overwritten"):
        train_bc(dataset, out, TINY, TrackingConfig(tracker="none"), progress=False)


def test_a_failing_tracker_does_not_stop_training(dataset, tmp_path, monkeypatch):
    class Broken(Tracker):
        name = "broken"

        def log(self, metrics, step):
            self._guard("log", self._raise)

        def summary(self, values):
            self._guard("summary", self._raise)

        def _raise(self):
            raise OSError("disk full")

    monkeypatch.setattr("trainers.bc.make_tracker", lambda *a, **k: Broken())
    with pytest.warns(RuntimeWarning, match="disk full"):
        train_bc(dataset, tmp_path / "m", TINY, progress=False)
    assert (tmp_path / "m" / "model.safetensors").exists()


def test_wandb_offline_run_records_the_final_loss(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "model"
    report = train_bc(dataset, out, TINY, TrackingConfig(tracker="wandb"), progress=False)
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    _, meta = load_model(out)
    run_id = meta["metadata"]["tracker"]["run_id"]
    assert run_id and run_id in runs[0].name
    summary = _offline_summary(runs[0])
    assert summary["best_val_mse"] == pytest.approx(report["best_val_mse"])
    assert summary["val/mse"] == pytest.approx(report["history"][-1]["val/mse"])
    assert isinstance(summary["train/loss"], float)  # the last logged training loss


def _offline_summary(run_dir):
    """Final summary of an offline wandb run, read from its ``.wandb`` log file.

    The file is a LevelDB-style log (32 KiB blocks of records with a 7-byte header) of
    wandb ``Record`` protobufs; summary updates are applied in order.
    """
    from wandb.proto import wandb_internal_pb2

    data = next(run_dir.glob("*.wandb")).read_bytes()
    block, pos, payload, summary = 32768, 7, b"", {}
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        payload = chunk if kind in (1, 2) else payload + chunk
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(payload)
            if rec.WhichOneof("record_type") == "summary":
                for item in rec.summary.update:
                    key = item.key or "/".join(item.nested_key)
                    summary[key] = json.loads(item.value_json)
    return summary


def test_evaluate_a_model_on_test_seeds(dataset, tmp_path):
    model = tmp_path / "model"
    train_bc(dataset, model, TINY, TrackingConfig(tracker="none"), progress=False)
    args = evaluate_cli.Args(
        policy=str(model),
        episodes=3,
        num_envs=2,
        out=tmp_path / "runs",
        run_name="ev",
        metrics=tmp_path / "metrics.json",
    )
    reports = evaluate_cli.run(args)
    m, e = reports["model"], reports["expert"]
    assert m["episodes"] == e["episodes"] == 3
    assert e["split"] == "test" and m["seeds"] == [2_000_000, 2_000_002]
    for key in ("success_rate", "checkpoint_pass_rate", "mean_distance_m", "mean_speed_mps"):
        assert key in m
    for seed in (2_000_000, 2_000_001, 2_000_002):
        d = episode_dir(tmp_path / "runs" / "ev", "test", seed)
        assert {p.name for p in d.iterdir()} == {"config.yaml", "simulation.mcap", "result.json"}
        assert json.loads((d / "result.json").read_text())["driver"] == str(model)
    assert json.loads((tmp_path / "metrics.json").read_text())["episodes"] == 3
    # The ONNX runtime drives the same way.
    shutil.rmtree(tmp_path / "runs")
    onnx = evaluate_cli.run(
        evaluate_cli.Args(policy=str(model), episodes=3, num_envs=2, out=tmp_path / "runs",
                          run_name="ev", runtime="onnx", compare_expert=False)
    )  # fmt: skip
    assert onnx["model"]["reasons"] == m["reasons"]
