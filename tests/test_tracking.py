"""Experiment tracking behind one interface: MLflow (SQLite store), wandb offline, both, none."""

import json
import sys
import warnings
from pathlib import Path

import pytest

from experiments import evaluate as evaluate_cli
from tinylidar_gym.data.collect import CollectJob, collect
from tinylidar_gym.data.extract import ExtractConfig, extract
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from trainers import tracking_mlflow
from trainers.bc import train_bc
from trainers.configs import BCConfig
from trainers.dataset import BatchStream, LidarDataset
from trainers.export import load_model
from trainers.tracking import (
    TrackerUnavailableError,
    TrackingConfig,
    make_tracker,
    model_runs,
    require_trackers,
)

# MLflow's SQLite store uses an SQLAlchemy loader option that SQLAlchemy 2.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")

TINY = BCConfig(epochs=2, batch_size=64, seed=0, threads=2)
MODEL_FILES = {"model.safetensors", "model.json", "model.onnx"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracking")
    env = with_overrides(EnvConfig(), lidar={"n_beams": 241}, max_episode_time_s=2.0)
    collect(CollectJob(root / "runs" / "r", "train", 0, 3, env=env), workers=1, progress=False)
    extract(
        [root / "runs" / "r"], root / "data", progress=False, cfg=ExtractConfig(include_failed=True)
    )
    return root / "data"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module (creating its schema takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # Nothing may land in the repository, and no ambient tracking server may be used.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")


def _client(uri):
    tracking_mlflow._import_mlflow()  # telemetry off before mlflow is imported here
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture(scope="module")
def mlflow_model(dataset, store, tmp_path_factory):
    """A BC model trained with the MLflow tracker: (model dir, report, model.json)."""
    out = tmp_path_factory.mktemp("mlflow-model") / "model"
    cfg = TrackingConfig(tracker="mlflow", mlflow_uri=store, run_name="bc-tiny")
    report = train_bc(dataset, out, TINY, cfg, progress=False)
    _, meta = load_model(out)
    return out, report, meta


def test_bc_run_records_config_curves_lineage_and_model(mlflow_model, dataset, store):
    out, report, meta = mlflow_model
    md = meta["metadata"]
    info = md["tracker"]["mlflow"]
    assert md["tracker"]["name"] == "mlflow" and md["tracker"]["run_id"] == info["run_id"]
    assert info["tracking_uri"] == store
    client = _client(store)
    run = client.get_run(info["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "bc-tiny"
    # Params: the full resolved config, flattened.
    run_config = {k: v for k, v in md.items() if k not in ("env", "training", "tracker")}
    assert run.data.params == tracking_mlflow.flatten(run_config)
    assert run.data.params["bc.epochs"] == "2" and run.data.params["bc.batch_size"] == "64"
    # One training-loss value per logged step; one validation value per epoch.
    ds = LidarDataset(dataset)
    train_idx, _ = ds.split_by_episode(TINY.val_fraction, TINY.seed)
    per_epoch = BatchStream(ds, train_idx, TINY.batch_size, seed=TINY.seed).batches_per_epoch
    every = max(1, min(50, per_epoch))
    loss = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in loss] == list(range(every, TINY.epochs * per_epoch + 1, every))
    val = client.get_metric_history(run.info.run_id, "val/mse")
    assert [m.step for m in val] == [per_epoch, 2 * per_epoch]
    assert [m.value for m in val] == pytest.approx([h["val/mse"] for h in report["history"]])
    assert run.data.metrics["best_val_mse"] == pytest.approx(report["best_val_mse"])
    # Lineage tags.
    tags = run.data.tags
    assert tags["dataset.dvc_md5"] == str(md["dataset"]["dvc_md5"] or "none")
    stats = json.loads((dataset / "stats.json").read_text())
    assert tags["dataset.content_hash"] == stats["content_hash"]
    assert tags["git_commit"] == str(md["git_commit"] or "none")
    # The model files as artifacts, beside the store, and registered as a model version.
    names = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert names == {f"model/{f}" for f in MODEL_FILES}
    assert run.info.artifact_uri.startswith(store.removeprefix("sqlite:///")[: -len("mlruns.db")])
    versions = client.search_model_versions("name='tiny-lidar-net'")
    (version,) = [v for v in versions if v.run_id == run.info.run_id]
    assert version.tags["dataset.content_hash"] == stats["content_hash"]
    # The registered files are ours: they load without MLflow's pickled flavours.
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri("tiny-lidar-net", version.version),
        dst_path=str(out.parent / "registry"),
    )
    assert {p.name for p in Path(local).iterdir()} == MODEL_FILES
    assert load_model(local)[1]["metadata"]["tracker"]["mlflow"]["run_id"] == run.info.run_id


def test_evaluate_adds_its_figures_to_the_models_run(mlflow_model, store, tmp_path):
    out, _, meta = mlflow_model
    args = evaluate_cli.Args(
        policy=str(out), episodes=2, num_envs=2, out=tmp_path / "runs", run_name="ev",
        record=False,
    )  # fmt: skip
    reports = evaluate_cli.run(args)
    metrics = _client(store).get_run(meta["metadata"]["tracker"]["run_id"]).data.metrics
    for who, report in (("", reports["model"]), ("expert/", reports["expert"])):
        for key in ("success_rate", "checkpoint_pass_rate", "mean_speed_mps", "episodes"):
            assert metrics[f"eval/test/{who}{key}"] == pytest.approx(report[key])
        if report["mean_distance_before_collision_m"] is not None:
            assert f"eval/test/{who}mean_distance_before_collision_m" in metrics


def test_evaluating_the_expert_opens_its_own_run(store, tmp_path):
    cfg = TrackingConfig(tracker="mlflow", mlflow_uri=store)
    args = evaluate_cli.Args(
        policy="expert", episodes=1, num_envs=1, out=tmp_path / "runs", record=False, tracking=cfg
    )
    report = evaluate_cli.run(args)["expert"]
    client = _client(store)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("tinylidar").experiment_id],
        "attributes.run_name = 'eval-expert-test-000000-000000'",
    )
    assert run.data.metrics["eval/test/success_rate"] == report["success_rate"]
    assert run.data.params["evaluate.policy"] == "expert" and run.info.status == "FINISHED"


def test_both_logs_to_wandb_offline_and_mlflow(mlflow_model, store, tmp_path):
    model_dir = mlflow_model[0]
    cfg = TrackingConfig(tracker="both", mlflow_uri=store, registered_model_name=None)
    tracker = make_tracker(cfg, {"bc": {"epochs": 1}, "git_commit": "abc"}, tmp_path)
    assert tracker.name == "wandb+mlflow"
    tracker.log({"train/loss": 0.5}, step=1)
    tracker.summary({"best_val_mse": 0.25})
    tracker.log_model(model_dir, "tiny-lidar-net")
    tracker.finish()
    info = tracker.run_info()
    assert set(info) == {"wandb", "mlflow"} and tracker.run_id == info["wandb"]["run_id"]
    (wandb_run,) = (tmp_path / "wandb").glob("offline-run-*")
    assert info["wandb"]["run_id"] in wandb_run.name
    run = _client(store).get_run(info["mlflow"]["run_id"])
    assert run.data.metrics == {"train/loss": 0.5, "best_val_mse": 0.25}
    assert run.data.params == {"bc.epochs": "1", "git_commit": "abc"}
    assert run.data.tags["git_commit"] == "abc" and run.data.tags["dataset.dvc_md5"] == "none"


def test_a_tracker_failing_mid_run_warns_once_and_training_goes_on(
    dataset, store, tmp_path, monkeypatch
):
    """The MLflow store works for the run's start, then every call raises (disk full)."""
    tracking_mlflow._import_mlflow()
    from mlflow.tracking import MlflowClient

    class Failing:
        def __init__(self, **kwargs):
            self.real, self.calls = MlflowClient(**kwargs), 0

        def __getattr__(self, name):
            attr = getattr(self.real, name)

            def call(*args, **kwargs):
                self.calls += 1
                if self.calls > 3:  # get_experiment_by_name, create_run, log_batch(params)
                    raise OSError("disk full")
                return attr(*args, **kwargs)

            return call

    monkeypatch.setattr("mlflow.tracking.MlflowClient", Failing)
    cfg = TrackingConfig(tracker="mlflow", mlflow_uri=store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_bc(dataset, tmp_path / "m", TINY, cfg, progress=False)
    failures = [w for w in caught if "mlflow tracking failed" in str(w.message)]
    assert len(failures) == 1 and "disk full" in str(failures[0].message)
    _, meta = load_model(tmp_path / "m")  # the model is saved all the same
    assert meta["metadata"]["tracker"]["mlflow"]["run_id"]


def test_mlflow_missing_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    cfg = TrackingConfig(tracker="mlflow")
    with pytest.raises(TrackerUnavailableError, match="uv sync --extra mlflow"):
        make_tracker(cfg, {}, tmp_path)
    with pytest.raises(TrackerUnavailableError, match="uv sync --extra mlflow"):
        require_trackers(TrackingConfig(tracker="both"))
    require_trackers(TrackingConfig(tracker="wandb"))  # the others need no MLflow
    assert make_tracker(TrackingConfig(tracker="none"), {}, tmp_path).run_info() == {}


def test_a_missing_tracker_is_a_user_error_on_the_command_line(monkeypatch, tmp_path, capsys):
    from experiments.experiment_runner import main

    monkeypatch.setitem(sys.modules, "mlflow", None)
    argv = ["train-bc", "--data", str(tmp_path), "--out", str(tmp_path / "m")]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--tracking.tracker", "mlflow"])
    assert info.value.code == 2
    assert "uv sync --extra mlflow" in capsys.readouterr().err


def test_wandb_online_without_a_network_gives_up_within_30_s(monkeypatch, tmp_path):
    import wandb

    asked = {}

    def init(**kwargs):
        asked.update(kwargs)
        raise TimeoutError("no network")

    monkeypatch.setattr(wandb, "init", init)
    with pytest.warns(RuntimeWarning, match="wandb tracking failed during init"):
        tracker = make_tracker(TrackingConfig(wandb_mode="online"), {}, tmp_path)
    assert asked["mode"] == "online" and asked["settings"].init_timeout <= 30
    tracker.log({"loss": 1.0}, step=1)  # tracking is off; training goes on
    tracker.finish()


def test_model_runs_reads_both_metadata_forms():
    old = {"metadata": {"tracker": {"name": "wandb", "run_id": "abc"}}}
    assert model_runs(old) == {"wandb": {"run_id": "abc"}}
    new = {"name": "wandb+mlflow", "run_id": "abc", "wandb": {"run_id": "abc"}}
    new["mlflow"] = {"run_id": "f00", "tracking_uri": "sqlite:////x.db"}
    assert model_runs({"metadata": {"tracker": new}}) == {k: new[k] for k in ("wandb", "mlflow")}
    assert model_runs({"metadata": {"tracker": {"name": "none", "run_id": None}}}) == {}
    assert model_runs({"metadata": {}}) == {}


def test_default_store_is_sqlite_in_the_working_directory(tmp_path):
    assert tracking_mlflow.resolve_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlruns.db"
    assert tracking_mlflow.resolve_tracking_uri("http://localhost:5000") == "http://localhost:5000"
