"""The MLflow tracker (optional extra: ``uv sync --extra mlflow``).

Records, in the experiment named ``cfg.project``:

* params: the full resolved run config, flattened (``bc.epochs``, ``dataset.path``, ...);
* metrics: every ``log(metrics, step)`` (training loss curve, validation) and the summary values
  (best epoch, evaluation figures), the latter at step 0;
* tags: the dataset's DVC hash and content hash and the git commit, from the run config's
  lineage (``dataset.dvc_md5``, ``dataset.content_hash``, ``git_commit``; "none" when unknown);
* artifacts: the model files (``model.safetensors``, ``model.json``, ``model.onnx``) under
  ``model/``, registered as a new version of ``cfg.registered_model_name`` in the model registry.
  The registered files are exactly ours (no MLmodel, no pickle): fetch them with
  ``mlflow artifacts download -u models:/tiny-lidar-net/<version>`` and load them with
  :func:`trainers.export.load_model`.

The tracking URI is ``cfg.mlflow_uri``, else ``$MLFLOW_TRACKING_URI``, else a SQLite store
``mlruns.db`` in the working directory with artifacts in ``./mlartifacts`` beside it: no server
and no network (`mlflow ui --backend-store-uri sqlite:///mlruns.db` shows it). MLflow's
telemetry is off unless ``MLFLOW_DISABLE_TELEMETRY`` says otherwise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainers.tracking import Tracker, TrackerUnavailableError, TrackingConfig

INSTALL_HINT = "uv sync --extra mlflow (or pip install 'tinylidar[mlflow]')"
DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
ARTIFACT_DIR = "mlartifacts"
"""Artifact directory of a SQLite store, beside its database file."""
MODEL_ARTIFACT_PATH = "model"
LINEAGE_TAGS = ("dataset.dvc_md5", "dataset.content_hash", "git_commit")
_MAX_PARAM_LENGTH = 6000
_BATCH = 100  # MLflow's limit of params per log_batch call


def _import_mlflow() -> Any:
    """``mlflow``, imported with telemetry off (unless the user set it) and short HTTP retries.

    Raises :class:`TrackerUnavailableError` naming the install command when it is missing.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # A tracking server that is gone should cost seconds, not minutes of retries, before the
    # tracker turns itself off.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    try:
        import mlflow
    except ImportError as exc:
        raise TrackerUnavailableError(
            f"--tracking.tracker mlflow needs MLflow, which is not installed: {INSTALL_HINT}."
        ) from exc
    # mlflow imported earlier (before the variable was set) may hold a telemetry client.
    from mlflow.telemetry import get_telemetry_client, set_telemetry_client
    from mlflow.telemetry.utils import is_telemetry_disabled

    if get_telemetry_client() is not None and is_telemetry_disabled():
        set_telemetry_client()
    return mlflow


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative to the working directory or
    absolute), or None for another kind of store."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns.db``; a SQLite path made
    absolute, so that a model records where its run lives wherever it is evaluated from."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    path = _sqlite_path(uri)
    if path is not None and not path.is_absolute():
        query = uri.split("?", 1)[1] if "?" in uri else ""
        uri = "sqlite:///" + str(path.resolve()) + (f"?{query}" if query else "")
    return uri


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: ``{"bc": {"epochs": 2}}`` -> ``{"bc.epochs": "2"}``."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:_MAX_PARAM_LENGTH]
    return out


def lineage_tags(run_config: Mapping[str, Any]) -> dict[str, str]:
    """The lineage tags of a run: dataset DVC and content hashes, git commit ("none": unknown)."""
    dataset = run_config.get("dataset") or {}
    values = {
        "dataset.dvc_md5": dataset.get("dvc_md5"),
        "dataset.content_hash": dataset.get("content_hash"),
        "git_commit": run_config.get("git_commit"),
    }
    tags = {k: "none" if v is None else str(v) for k, v in values.items()}
    if run_config.get("git_commit"):
        tags["mlflow.source.git.commit"] = str(run_config["git_commit"])
    return tags


class MlflowTracker(Tracker):
    """A run in MLflow (a new one, or with ``resume`` the recorded one of a trained model)."""

    name = "mlflow"

    @classmethod
    def require(cls) -> None:
        _import_mlflow()

    def __init__(
        self,
        cfg: TrackingConfig,
        run_config: dict[str, Any],
        directory: Path,
        resume: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        _import_mlflow()
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self._Metric, self._Param, self._RunTag = Metric, Param, RunTag
        self._MlflowException = MlflowException
        self.cfg = cfg
        self.resumed = resume is not None
        self.tracking_uri = resolve_tracking_uri(
            cfg.mlflow_uri or (resume or {}).get("tracking_uri")
        )
        self.experiment_id: str | None = None
        self.model_version: str | None = None
        self.client: Any = None

        def _client() -> Any:
            # A SQLite store is created (schema and all) on first use.
            return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

        if resume is not None:
            self.run_id = self._guard("resume", self._resume, str(resume.get("run_id")), _client)
        else:
            self.run_id = self._guard("init", self._start, run_config, Path(directory), _client)

    # ----------------------------------------------------------------------- run

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.cfg.project)
        if experiment is not None:
            return experiment.experiment_id
        db = _sqlite_path(self.tracking_uri)
        location = str(db.parent / ARTIFACT_DIR) if db is not None else None
        return self.client.create_experiment(self.cfg.project, artifact_location=location)

    def _start(self, run_config: dict[str, Any], directory: Path, client: Any) -> str:
        self.client = client()
        self.experiment_id = self._experiment_id()
        tags = {**lineage_tags(run_config), "local_dir": str(directory.resolve())}
        run = self.client.create_run(self.experiment_id, run_name=self.cfg.run_name, tags=tags)
        params = [self._Param(k, v) for k, v in flatten(run_config).items()]
        for i in range(0, len(params), _BATCH):
            self.client.log_batch(run.info.run_id, params=params[i : i + _BATCH])
        return run.info.run_id

    def _resume(self, run_id: str, client: Any) -> str:
        db = _sqlite_path(self.tracking_uri)
        if db is not None and not db.exists():
            raise FileNotFoundError(f"MLflow store {db} does not exist (set --tracking.mlflow-uri)")
        self.client = client()
        run = self.client.get_run(run_id)
        self.experiment_id = run.info.experiment_id
        return run.info.run_id

    # ----------------------------------------------------------------------- interface

    def _metrics(self, values: Mapping[str, Any], step: int) -> list[Any]:
        now = int(time.time() * 1000)
        return [
            self._Metric(k, float(v), now, step)
            for k, v in values.items()
            if isinstance(v, int | float)
        ]

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.run_id is not None:
            self._guard(
                "log", self.client.log_batch, self.run_id, metrics=self._metrics(metrics, step)
            )

    def summary(self, values: dict[str, Any]) -> None:
        """Numbers as metrics (step 0), anything else (but None) as tags."""
        if self.run_id is None:
            return
        tags = [
            self._RunTag(k, str(v))
            for k, v in values.items()
            if v is not None and not isinstance(v, int | float)
        ]
        self._guard(
            "summary",
            self.client.log_batch,
            self.run_id,
            metrics=self._metrics(values, 0),
            tags=tags,
        )

    def log_model(self, model_dir: Path, name: str) -> None:
        if self.run_id is not None:
            self._guard("log_model", self._log_model, Path(model_dir))

    def _log_model(self, model_dir: Path) -> None:
        files = sorted(p for p in model_dir.glob("model.*") if p.is_file())
        for file in files:
            self.client.log_artifact(self.run_id, str(file), MODEL_ARTIFACT_PATH)
        name = self.cfg.registered_model_name
        if not name or not files:
            return
        # A registered version points at the logged files; MlflowClient.create_model_version is
        # what mlflow.register_model does, with the run linked and no global tracking URI.
        try:
            self.client.create_registered_model(
                name, description="Tiny Lidar Net: model.safetensors + model.json + model.onnx"
            )
        except self._MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        run = self.client.get_run(self.run_id)
        version = self.client.create_model_version(
            name,
            source=f"{run.info.artifact_uri}/{MODEL_ARTIFACT_PATH}",
            run_id=self.run_id,
            tags={k: v for k, v in run.data.tags.items() if k in LINEAGE_TAGS},
        )
        self.model_version = version.version

    def finish(self) -> None:
        if self.run_id is not None and not self.resumed:
            self._guard("finish", self.client.set_terminated, self.run_id)

    def run_info(self) -> dict[str, dict[str, Any]]:
        if not self.run_id:
            return {}
        return {
            "mlflow": {
                "run_id": self.run_id,
                "experiment_id": self.experiment_id,
                "tracking_uri": self.tracking_uri,
            }
        }


TRACKER = MlflowTracker
