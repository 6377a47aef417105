"""One experiment-tracking interface for every trainer and for evaluation.

Trainers and CLIs talk to a :class:`Tracker` only; none imports wandb or mlflow. Which trackers
run is ``--tracking.tracker wandb|mlflow|both|none`` (:class:`TrackingConfig`, default: wandb
offline). Each tracker lives in its own module, ``trainers/tracking_<name>.py``, which exposes
its class as ``TRACKER`` (a :class:`Tracker` subclass): adding a third one means one new module
(and its name in :data:`TrackerName`).

A tracker that fails mid-run (disk full, server gone) warns once and turns itself off: training
goes on and the model is still saved. A tracker that is asked for but not installed (MLflow is
the optional extra ``mlflow``) is an error before any work starts.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from tinylidar_gym.sim.errors import UserError

TrackerName = Literal["wandb", "mlflow", "both", "none"]
WandbMode = Literal["offline", "online", "disabled"]

BOTH: tuple[str, ...] = ("wandb", "mlflow")
"""The trackers that ``--tracking.tracker both`` runs."""


@dataclass(frozen=True)
class TrackingConfig:
    """Where and how runs are tracked."""

    tracker: TrackerName = "wandb"
    """'wandb' (default), 'mlflow', 'both' or 'none'."""
    wandb_mode: WandbMode = "offline"
    """wandb mode: offline (default; `wandb sync` later), online, or disabled."""
    project: str = "tinylidar"
    """Project name in the tracker (the experiment name in MLflow)."""
    run_name: str | None = None
    """Run name (default: the tracker's)."""
    mlflow_uri: str | None = None
    """MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns.db here)."""
    registered_model_name: str | None = "tiny-lidar-net"
    """Register the trained model under this name in the MLflow model registry (None: don't)."""


class TrackerUnavailableError(UserError, ImportError):
    """A tracker was asked for but its package is not installed."""


class Tracker:
    """No-op base: the 'none' tracker, and the interface every tracker implements.

    Implementations call their tracker's API through :meth:`_guard`, so that a failure warns once
    and turns the tracker off instead of stopping the run.
    """

    name = "none"

    # A concrete tracker is built as ``cls(cfg, run_config, directory, resume=None)``: a new run
    # with ``run_config`` as its configuration, or (``resume``: what its :meth:`run_info` once
    # returned) the existing run it records into.

    def __init__(self) -> None:
        self.run_id: str | None = None
        self._failed = False

    @classmethod
    def require(cls) -> None:
        """Raise :class:`TrackerUnavailableError` (naming the install command) if this tracker's
        package is missing."""

    def _guard(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._failed:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # a tracker must never stop training
            self._failed = True
            warnings.warn(
                f"{self.name} tracking failed during {what} ({type(exc).__name__}: {exc}); "
                "tracking is off for the rest of this run, training goes on.",
                RuntimeWarning,
                stacklevel=3,
            )
            return None

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Scalar metrics at ``step``."""

    def watch(self, model: Any, log_every: int) -> None:
        """Gradient and parameter histograms of a torch module every ``log_every`` batches."""

    def log_model(self, model_dir: Path, name: str) -> None:
        """The model files (``model.*`` in ``model_dir``) as an artifact called ``name``."""

    def summary(self, values: dict[str, Any]) -> None:
        """Final values of the run (e.g. evaluation metrics)."""

    def finish(self) -> None:
        """Close the run."""

    def run_info(self) -> dict[str, dict[str, Any]]:
        """How to find this run again, per tracker (``{"mlflow": {"run_id": ..., ...}}``); a
        model stores it in its metadata so that its evaluation joins the run."""
        return {}


class MultiTracker(Tracker):
    """Several trackers at once (``--tracking.tracker both``); each one guards itself."""

    def __init__(self, trackers: Iterable[Tracker]) -> None:
        super().__init__()
        self.trackers = list(trackers)
        self.name = "+".join(t.name for t in self.trackers)
        self.run_id = next((t.run_id for t in self.trackers if t.run_id), None)

    def log(self, metrics: dict[str, float], step: int) -> None:
        for t in self.trackers:
            t.log(metrics, step)

    def watch(self, model: Any, log_every: int) -> None:
        for t in self.trackers:
            t.watch(model, log_every)

    def log_model(self, model_dir: Path, name: str) -> None:
        for t in self.trackers:
            t.log_model(model_dir, name)

    def summary(self, values: dict[str, Any]) -> None:
        for t in self.trackers:
            t.summary(values)

    def finish(self) -> None:
        for t in self.trackers:
            t.finish()

    def run_info(self) -> dict[str, dict[str, Any]]:
        info: dict[str, dict[str, Any]] = {}
        for t in self.trackers:
            info.update(t.run_info())
        return info


# --------------------------------------------------------------------------- choosing


def tracker_class(name: str) -> type[Tracker]:
    """The class of tracker ``name``: ``TRACKER`` in module ``trainers.tracking_<name>``."""
    try:
        module = importlib.import_module(f"trainers.tracking_{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"trainers.tracking_{name}":
            raise
        raise ValueError(
            f"unknown tracker {name!r}; use 'wandb', 'mlflow', 'both' or 'none'."
        ) from None
    return module.TRACKER


def tracker_names(cfg: TrackingConfig) -> list[str]:
    """The trackers ``cfg`` asks for (wandb is left out when its mode is 'disabled')."""
    if cfg.tracker == "none":
        return []
    names = list(BOTH) if cfg.tracker == "both" else [cfg.tracker]
    return [n for n in names if not (n == "wandb" and cfg.wandb_mode == "disabled")]


def require_trackers(cfg: TrackingConfig) -> None:
    """Fail early (before a long run) if a tracker ``cfg`` asks for is not installed."""
    for name in tracker_names(cfg):
        tracker_class(name).require()


def _combine(trackers: list[Tracker]) -> Tracker:
    if not trackers:
        return Tracker()
    return trackers[0] if len(trackers) == 1 else MultiTracker(trackers)


def make_tracker(cfg: TrackingConfig, run_config: dict[str, Any], directory: Path) -> Tracker:
    """A new run in each tracker ``cfg`` asks for (a no-op :class:`Tracker` for 'none').

    ``run_config`` is the full resolved configuration (recorded as the run's config/params; its
    lineage part, ``dataset`` and ``git_commit``, also as tags); ``directory`` is where local
    tracker files go (wandb's ``wandb/``).
    """
    classes = [tracker_class(n) for n in tracker_names(cfg)]
    for cls in classes:
        cls.require()
    return _combine([cls(cfg, run_config, Path(directory)) for cls in classes])


def tracker_record(tracker: Tracker) -> dict[str, Any]:
    """What a model.json stores about the runs that trained it: per-tracker run ids
    (``{"wandb": {...}, "mlflow": {...}}``) so that its evaluation joins them, plus "name" and
    "run_id", the older single-tracker form, so that older readers still find the run."""
    return {"name": tracker.name, "run_id": tracker.run_id, **tracker.run_info()}


def model_runs(model_meta: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The tracker runs recorded in a model.json: ``{tracker: {"run_id": ..., ...}}``.

    Reads the per-tracker form (``metadata.tracker.<name>``) and the older single form
    ``metadata.tracker = {"name": ..., "run_id": ...}``.
    """
    info = (model_meta.get("metadata") or {}).get("tracker") or {}
    runs = {k: dict(v) for k, v in info.items() if isinstance(v, Mapping) and v.get("run_id")}
    if not runs and info.get("name") in BOTH and info.get("run_id"):
        runs[info["name"]] = {"run_id": info["run_id"]}
    return runs


def tracker_for_model(
    model_dir: Path, model_meta: dict[str, Any], cfg: TrackingConfig | None = None
) -> Tracker:
    """A tracker that logs into the runs that trained the model (e.g. its evaluation).

    Every run recorded in the model's metadata is reopened, unless ``cfg.tracker`` is 'none'
    (wandb also not when its mode is 'disabled'). ``cfg.mlflow_uri`` overrides the tracking URI
    recorded with the MLflow run. A recorded tracker that is not installed here is skipped with
    a warning.
    """
    cfg = cfg or TrackingConfig()
    if cfg.tracker == "none":
        return Tracker()
    trackers: list[Tracker] = []
    for name, record in model_runs(model_meta).items():
        if name == "wandb" and cfg.wandb_mode == "disabled":
            continue
        try:
            cls = tracker_class(name)
            cls.require()
        except (ValueError, TrackerUnavailableError) as exc:
            warnings.warn(
                f"not logging into the model's {name} run: {exc}", RuntimeWarning, stacklevel=2
            )
            continue
        run_cfg = replace(cfg, project=record.get("project", cfg.project))
        trackers.append(cls(run_cfg, {}, Path(model_dir), resume=record))
    return _combine(trackers)


def __getattr__(name: str) -> Any:
    """``WandbTracker``/``MlflowTracker`` from their modules, imported on first use."""
    classes = {"WandbTracker": "wandb", "MlflowTracker": "mlflow"}
    if name in classes:
        return tracker_class(classes[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
