"""What a report is built from: the episode runs and the trained models found under a directory.

A directory given to the report can be

- a run (collection or evaluation): ``<run>/<split>/seed_XXXXXXX/`` episode directories,
  with ``manifest.json`` or ``evaluation.json`` beside them;
- a model directory (``model.json``, and ``history.json`` from training);
- anything holding several of them, e.g. the working directory of ``experiment-runner pipeline``
  (``runs/``, ``models/``): every run becomes a section of the page.

An evaluation run names the model it drove (``evaluation.json``'s ``driver``), so the report of
an evaluation also finds that model's learning curves.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinylidar_gym.data.episode import CONFIG_FILE, MCAP_FILE, RESULT_FILE, read_result
from tinylidar_gym.sim.errors import UserError

HISTORY_FILE = "history.json"
MODEL_FILE = "model.json"
EVALUATION_FILE = "evaluation.json"
MANIFEST_FILE = "manifest.json"
_EPISODE_DIR = re.compile(r"seed_\d+")
# Never searched: hidden folders (virtual environments, caches), tracker stores, checkpoints
# (each holds a model.json of its own epoch) and earlier reports.
_PRUNE = {"__pycache__", "node_modules", "checkpoints", "wandb", "mlruns", "mlartifacts", "report"}


class NothingToReportError(UserError, FileNotFoundError, ValueError):
    """The path given to report is not a directory or holds no runs or models."""


@dataclass
class Episode:
    """One finished episode (its ``result.json`` read)."""

    dir: Path
    result: dict[str, Any]

    @property
    def seed(self) -> int:
        return int(self.result.get("seed", -1))

    @property
    def success(self) -> bool:
        return bool(self.result["success"])

    @property
    def reason(self) -> str:
        return str(self.result["reason"])

    @property
    def metrics(self) -> dict[str, Any]:
        return self.result.get("metrics") or {}

    @property
    def mcap(self) -> Path:
        return self.dir / MCAP_FILE


@dataclass
class Run:
    """The episodes of one run directory, sorted by seed."""

    dir: Path
    episodes: list[Episode] = field(default_factory=list)
    incomplete: list[Path] = field(default_factory=list)
    """Episode directories without ``result.json`` (crashed or still running)."""
    corrupt: dict[Path, str] = field(default_factory=dict)
    """Episode directories whose ``result.json`` is corrupt or breaks its schema, with why."""
    info: dict[str, Any] = field(default_factory=dict)
    """``evaluation.json`` or a digest of ``manifest.json`` (empty when neither exists)."""
    kind: str = "episodes"
    """'evaluation', 'collection' or 'episodes' (neither file)."""


@dataclass
class Model:
    """A trained model directory and its per-epoch training history (empty when not saved)."""

    dir: Path
    history: list[dict[str, Any]]
    best_epoch: int | None


@dataclass
class Sources:
    root: Path
    runs: list[Run]
    models: list[Model]


def _walk(root: Path) -> tuple[list[Path], list[Path]]:
    """Episode directories and model directories under ``root`` (pruned walk, sorted)."""
    episodes: list[Path] = []
    models: list[Path] = []
    for here, dirs, files in os.walk(root):
        path = Path(here)
        if MODEL_FILE in files:
            models.append(path)
        if _EPISODE_DIR.fullmatch(path.name) and (RESULT_FILE in files or CONFIG_FILE in files):
            episodes.append(path)
            dirs.clear()  # an episode holds nothing else of interest
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _PRUNE)
    return sorted(episodes), sorted(models)


def _run_info(run_dir: Path) -> tuple[str, dict[str, Any]]:
    evaluation = run_dir / EVALUATION_FILE
    if evaluation.is_file():
        return "evaluation", _read_json(evaluation)
    manifest = run_dir / MANIFEST_FILE
    if manifest.is_file():
        doc = _read_json(manifest)
        config = doc.get("config") or {}
        keys = ("created", "git_commit", "kind")
        info = {k: doc[k] for k in keys if k in doc}
        info.update({k: config[k] for k in ("split", "first_episode", "episodes") if k in config})
        info["driver"] = "expert"
        return "collection", info
    return "episodes", {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {"unreadable": f"{path.name}: {exc}"}
    return doc if isinstance(doc, dict) else {}


def load_model(model_dir: Path) -> Model:
    """The model at ``model_dir`` with its training history (``history.json``, from training)."""
    doc = _read_json(model_dir / HISTORY_FILE) if (model_dir / HISTORY_FILE).is_file() else {}
    history = [e for e in doc.get("epochs", []) if isinstance(e, dict) and "epoch" in e]
    best = doc.get("best_epoch")
    return Model(model_dir, history, int(best) if best is not None else None)


def driver_model(run: Run) -> Path | None:
    """The model directory an evaluation run drove, when it can still be found.

    ``driver`` is the path as typed when evaluating (usually relative to the working directory
    of then), so it is tried as given and against every ancestor of the run directory.
    """
    driver = run.info.get("driver")
    if not driver or driver == "expert":
        return None
    given = Path(str(driver))
    candidates = [given] if given.is_absolute() else [given, *(a / given for a in run.dir.parents)]
    for candidate in candidates:
        if (candidate / MODEL_FILE).is_file():
            return candidate.resolve()
    return None


def find_sources(root: str | Path) -> Sources:
    """Every run and model under ``root`` (``root`` itself may be one).

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: ``root`` holds neither episodes nor a model.
    """
    root = Path(root)
    if not root.is_dir():
        raise NothingToReportError(
            f"{root} is not a directory (pass a run, model or pipeline directory)"
        )
    episode_dirs, model_dirs = _walk(root)
    by_run: dict[Path, Run] = {}
    for ep_dir in episode_dirs:
        run_dir = ep_dir.parent.parent  # <run>/<split>/seed_XXXXXXX
        run = by_run.get(run_dir)
        if run is None:
            kind, info = _run_info(run_dir)
            run = by_run[run_dir] = Run(run_dir, kind=kind, info=info)
        try:
            run.episodes.append(Episode(ep_dir, read_result(ep_dir)))
        except FileNotFoundError:
            run.incomplete.append(ep_dir)
        except (OSError, ValueError) as exc:  # never trusted, but named and counted
            run.corrupt[ep_dir] = str(exc)
    runs = sorted(by_run.values(), key=lambda r: str(r.dir))
    for run in runs:
        run.episodes.sort(key=lambda e: (e.seed, str(e.dir)))
    resolved = {p.resolve() for p in model_dirs}
    resolved |= {m for m in (driver_model(r) for r in runs) if m is not None}
    models = [load_model(p) for p in sorted(resolved)]
    if not runs and not models:
        raise NothingToReportError(
            f"{root} holds no episodes (<run>/<split>/seed_XXXXXXX/result.json) and no model "
            "(model.json) (pass a run directory from `experiment-runner collect` or `evaluate`, "
            "a model directory, or a directory holding them)"
        )
    return Sources(root, runs, models)
