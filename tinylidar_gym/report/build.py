"""Build the visual report of a run (or of every run and model under a directory).

    build_report("runs/eval-bc-test-000000-000099")  # -> runs/eval-.../report/index.html

The report is a folder: ``index.html``, ``img/*.png`` and ``report.json`` (what it was built
from). It is assembled in a temporary folder beside its destination and renamed into place, so
a crash never leaves half a report; an existing report is replaced only when asked to, and a
folder that is not a report never.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tinylidar_gym.data.atomic import atomic_write_json, atomic_write_text
from tinylidar_gym.recording.reader import RecordingError
from tinylidar_gym.report import plots
from tinylidar_gym.report.html import Cell, Image, Link, Section, render_page
from tinylidar_gym.report.sources import Episode, Model, Run, find_sources
from tinylidar_gym.report.tracks import Scene, Track, read_scene, read_track
from tinylidar_gym.sim.errors import UserError

FORMAT_VERSION = 1
INDEX_FILE = "index.html"
MARKER_FILE = "report.json"
IMAGE_DIR = "img"
FOXGLOVE_NOTE = (
    "Each episode links to its simulation.mcap: open it in Foxglove (or Lichtblick) and add a 3D "
    "panel, then switch on /scan and /scene in the panel settings. Links are relative: move the "
    "report together with the runs, or serve their common folder with any static file server."
)


class ReportDestinationError(UserError, FileExistsError, ValueError):
    """The report cannot go where it was asked to, or an option is out of range."""


@dataclass
class ReportResult:
    out_dir: Path
    index: Path
    images: list[Path]
    episodes: int
    seconds: float


def _check_destination(root: Path, out_dir: Path, overwrite: bool) -> None:
    root_r, out_r = root.resolve(), out_dir.resolve()
    if out_r == root_r or out_r in root_r.parents:
        raise ReportDestinationError(
            f"--out {out_dir} would contain the run itself (choose a new folder)"
        )
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return
    if not (out_dir / MARKER_FILE).is_file():
        raise ReportDestinationError(
            f"{out_dir} exists and is not a report, so it is never replaced (choose another --out)"
        )
    if not overwrite:
        raise ReportDestinationError(
            f"{out_dir} already holds a report (pass --overwrite to replace it, or choose --out)"
        )


def _fmt(value: Any, spec: str = ".2f") -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return format(value, spec)


def _mean(values: list[Any]) -> float | None:
    good = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return sum(good) / len(good) if good else None


def _run_facts(run: Run, root: Path) -> list[tuple[str, str]]:
    eps = run.episodes
    if not eps:  # every result.json of the run is missing or corrupt
        return [("run", run.dir.name), ("episodes", "0 readable")] + _problem_facts(run)
    wins = sum(e.success for e in eps)
    reasons = Counter(e.reason for e in eps).most_common()
    lap = _mean([e.metrics.get("duration_s") for e in eps if e.success])
    failed = [e.metrics.get("distance_m") for e in eps if not e.success]
    facts = [
        ("run", str(run.dir.relative_to(root)) if run.dir != root else run.dir.name),
        ("kind", run.kind),
        ("driver", str(run.info.get("driver", eps[0].result.get("driver", "–")))),
        ("split", str(run.info.get("split", eps[0].result.get("split", "–")))),
        ("episodes", str(len(eps))),
        ("success", f"{wins}/{len(eps)} ({wins / len(eps):.1%})"),
        ("end reasons", ", ".join(f"{r} {c}" for r, c in reasons)),
        ("mean distance", f"{_fmt(_mean([e.metrics.get('distance_m') for e in eps]))} m"),
        ("mean distance before failure", f"{_fmt(_mean(failed))} m"),
        ("mean speed", f"{_fmt(_mean([e.metrics.get('mean_speed_mps') for e in eps]))} m/s"),
        ("mean lap time (successes)", f"{_fmt(lap)} s"),
    ]
    for key in ("git_commit", "created"):
        if key in run.info:
            facts.append((key.replace("_", " "), str(run.info[key])))
    return facts + _problem_facts(run)


def _problem_facts(run: Run) -> list[tuple[str, str]]:
    """Episodes without a usable result: counted and named, never counted as driven."""
    facts = []
    if run.incomplete:
        facts.append(("incomplete episodes", str(len(run.incomplete))))
    if run.corrupt:
        names = ", ".join(p.name for p in list(run.corrupt)[:10])
        more = f" and {len(run.corrupt) - 10} more" if len(run.corrupt) > 10 else ""
        facts.append(("corrupt result.json (not counted)", f"{len(run.corrupt)}: {names}{more}"))
    return facts


def _href(target: Path, page_dir: Path) -> str:
    return Path(os.path.relpath(target.resolve(), page_dir.resolve())).as_posix()


def _table(run: Run, page_dir: Path) -> tuple[list[str], list[tuple[bool, list[Cell]]]]:
    headers = [
        "seed",
        "split",
        "success",
        "reason",
        "progress",
        "distance (m)",
        "speed (m/s)",
        "lap time (s)",
        "duration (s)",
        "min clearance (m)",
        "checkpoints",
        "recording",
        "files",
    ]
    rows: list[tuple[bool, list[Cell]]] = []
    for e in run.episodes:
        m = e.metrics
        checkpoints = f"{m.get('checkpoints_passed', '–')}/{m.get('checkpoints_total', '–')}"
        recording: Cell = (
            Link("simulation.mcap", _href(e.mcap, page_dir)) if e.mcap.is_file() else "not recorded"
        )
        cells: list[Cell] = [
            str(e.seed),
            str(e.result.get("split", "")),
            "yes" if e.success else "no",
            e.reason,
            _fmt(m.get("progress"), ".1%"),
            _fmt(m.get("distance_m"), ".1f"),
            _fmt(m.get("mean_speed_mps")),
            _fmt(m.get("duration_s")) if e.success else "–",
            _fmt(m.get("duration_s")),
            _fmt(m.get("min_obstacle_clearance_m")),
            checkpoints,
            recording,
            Link("result.json", _href(e.dir / "result.json", page_dir)),
        ]
        rows.append((not e.success, cells))
    return headers, rows


def _sample(episodes: list[Episode], limit: int) -> list[Episode]:
    """Up to ``limit`` episodes to draw: failures first, then successes spread over the run."""
    failures = [e for e in episodes if not e.success][:limit]
    successes = [e for e in episodes if e.success]
    room = min(limit - len(failures), len(successes))
    if room <= 0:
        return failures
    step = len(successes) / room
    return failures + [successes[int(i * step)] for i in range(room)]


_FIGURES = {  # file name -> (alt text, caption)
    "success_by_seed": (
        "success by seed",
        "Progress reached per seed; green finished, red failed.",
    ),
    "reasons": ("end reasons", "Episodes per end reason."),
    "failures": (
        "failure locations",
        "Where failing episodes ended (marker and heading arrow, coloured by end reason) with the "
        "obstacles of those episodes.",
    ),
    "trajectories": (
        "trajectories coloured by speed",
        "{drawn} of {total} episodes, coloured by speed (failures first, then successes spread "
        "over the seeds; --max-trajectories sets how many).",
    ),
    "learning_curves": (
        "learning curves",
        "Per-epoch training loss (mean over the epoch's batches) and validation figures on "
        "held-out episodes.",
    ),
}


def _add_figure(section: Section, tmp: Path, slug: str, name: str, **caption: Any) -> Path:
    """Register figure ``name`` in ``section``; returns where to write its PNG."""
    rel = f"{IMAGE_DIR}/{slug}-{name}.png"
    alt, text = _FIGURES[name]
    section.images.append(Image(rel, alt, text.format(**caption)))
    return tmp / rel


def _read_scenes(run: Run, section: Section, progress: bool) -> dict[Path, Scene]:
    scenes: dict[Path, Scene] = {}
    unreadable: list[str] = []
    for e in tqdm(run.episodes, desc=f"scenes {run.dir.name}", unit="ep", disable=not progress):
        if not e.mcap.is_file():
            continue
        try:
            scenes[e.dir] = read_scene(e.mcap)
        except RecordingError as exc:
            unreadable.append(str(exc))
    if unreadable:
        section.notes.append(f"{len(unreadable)} unreadable recordings, e.g. {unreadable[0]}")
    if not scenes:
        section.notes.append("No recordings: no course map, failure locations or trajectories.")
    return scenes


def _run_section(
    run: Run, root: Path, slug: str, tmp: Path, page_dir: Path, max_tracks: int, progress: bool
) -> tuple[Section, list[Path]]:
    section = Section(f"Episodes: {run.dir.name}", facts=_run_facts(run, root))
    eps = run.episodes
    if not eps:
        section.notes.append("No episode has a usable result.json: nothing to draw.")
        section.headers, section.rows = _table(run, page_dir)
        return section, []
    plots.success_by_seed(eps, _add_figure(section, tmp, slug, "success_by_seed"))
    plots.reason_breakdown(eps, _add_figure(section, tmp, slug, "reasons"))
    scenes = _read_scenes(run, section, progress)
    if scenes:
        # Maps need one course: take the most common (all the same unless it is procedural).
        keys = Counter(s.course_key for s in scenes.values())
        course = keys.most_common(1)[0][0]
        scene = next(s for s in scenes.values() if s.course_key == course)
        on_course = [e for e in eps if e.dir in scenes and scenes[e.dir].course_key == course]
        if len(keys) > 1:
            section.notes.append(
                f"The episodes drive {len(keys)} different courses; the maps show the most common "
                f"one ({len(on_course)} of {len(scenes)} recorded episodes)."
            )
        failures = [(e, scenes[e.dir]) for e in on_course if not e.success]
        plots.failure_locations(scene, failures, _add_figure(section, tmp, slug, "failures"))
        tracks: list[tuple[Episode, Track]] = []
        chosen = _sample(on_course, max_tracks)
        for e in tqdm(chosen, desc=f"trajectories {run.dir.name}", unit="ep", disable=not progress):
            try:
                tracks.append((e, read_track(e.mcap)))
            except RecordingError as exc:
                section.notes.append(str(exc))
        path = _add_figure(section, tmp, slug, "trajectories", drawn=len(tracks), total=len(eps))
        plots.trajectories(scene, tracks, path)
    section.headers, section.rows = _table(run, page_dir)
    return section, [tmp / i.src for i in section.images]


def _model_section(
    model: Model, slug: str, tmp: Path, page_dir: Path
) -> tuple[Section, Path | None]:
    section = Section(f"Training: {model.dir.name}")
    section.facts.append(("model", _href(model.dir, page_dir)))
    if not model.history:
        section.notes.append(
            "No history.json in this model directory (trained before training history was saved)"
            ": no learning curves."
        )
        return section, None
    last = model.history[-1]
    section.facts += [
        ("epochs", str(len(model.history))),
        ("best epoch", str(model.best_epoch) if model.best_epoch is not None else "–"),
        ("last validation MSE", _fmt(last.get("val/mse"), ".5f")),
        ("training time", f"{_fmt(last.get('elapsed_s'), '.1f')} s"),
    ]
    path = _add_figure(section, tmp, slug, "learning_curves")
    plots.learning_curves(model.history, model.best_epoch, path)
    return section, path


def _slug(path: Path, root: Path, taken: set[str]) -> str:
    """A unique file-name prefix for the figures of ``path`` (a run or model directory)."""
    if path == root:
        base = "run"
    elif path.is_relative_to(root):
        base = "_".join(path.relative_to(root).parts)
    else:  # a model found through an evaluation's driver, outside the reported folder
        base = path.name
    slug, k = base, 2
    while slug in taken:
        slug, k = f"{base}{k}", k + 1
    taken.add(slug)
    return slug


def build_report(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    max_trajectories: int = 30,
    overwrite: bool = False,
    progress: bool = True,
) -> ReportResult:
    """Write the report of ``run_dir`` to ``out_dir`` (default ``<run_dir>/report``).

    Raises:
        FileNotFoundError / ValueError: nothing to report on under ``run_dir``.
        FileExistsError: ``out_dir`` exists (pass ``overwrite=True`` to replace an old report).
    """
    t0 = time.perf_counter()
    if max_trajectories < 0:
        raise ReportDestinationError(
            f"max_trajectories={max_trajectories} must be >= 0 (pass --max-trajectories 0 or more)"
        )
    root = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else root / "report"
    sources = find_sources(root)
    _check_destination(root, out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / IMAGE_DIR).mkdir()
        sections: list[Section] = []
        images: list[Path] = []
        taken: set[str] = set()
        root_r = root.resolve()
        for run in sources.runs:
            slug = _slug(run.dir.resolve(), root_r, taken)
            section, imgs = _run_section(run, root, slug, tmp, out, max_trajectories, progress)
            sections.append(section)
            images += imgs
        for model in sources.models:
            section, img = _model_section(
                model, "model-" + _slug(model.dir, root_r, taken), tmp, out
            )
            sections.append(section)
            images += [img] if img is not None else []
        generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        episodes = sum(len(r.episodes) for r in sources.runs)
        facts = [("source", str(root)), ("generated", generated), ("episodes", str(episodes))]
        page = render_page(f"tinylidar report: {root_r.name}", facts, sections, FOXGLOVE_NOTE)
        atomic_write_text(tmp / INDEX_FILE, page)
        atomic_write_json(
            tmp / MARKER_FILE,
            {
                "format_version": FORMAT_VERSION,
                "generated": generated,
                "source": str(root),
                "runs": [str(r.dir) for r in sources.runs],
                "models": [str(m.dir) for m in sources.models],
                "episodes": episodes,
                "images": [p.relative_to(tmp).as_posix() for p in images],
            },
        )
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a report is to be shared
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    moved = [out / p.relative_to(tmp) for p in images]
    return ReportResult(out, out / INDEX_FILE, moved, episodes, time.perf_counter() - t0)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished report to ``out``; an old report (checked before) is replaced."""
    if out.exists() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
