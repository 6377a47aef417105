"""The files of a model directory and their checks: names, format version, the sha256 of every
file recorded in model.json. Nothing here loads torch."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from tinylidar_gym.sim.errors import UserError

VARIANTS = ("L", "M", "S")
"""Tiny Lidar Net sizes a model.json may name (trainers.network.VARIANT_STRIDE's keys)."""

FORMAT_VERSION = 1
"""Version of the model directory layout; :func:`load_model` accepts only this one."""

ARCHITECTURE = "TinyLidarNet"
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "model.json"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17
INPUT_NAME = "scan"
OUTPUT_NAME = "action"
FILE_NAMES = {"weights": WEIGHTS_FILE, "onnx": ONNX_FILE}
"""The files model.json lists under "files", each with its sha256."""


class ModelFileError(UserError, ValueError):
    """A model directory that cannot be used as it is: a bad model.json, a file whose sha256 is
    missing or differs from the one recorded, or weights that do not fit the architecture."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_model_json(model_dir: Path) -> dict[str, Any]:
    path = model_dir / METADATA_FILE
    if not model_dir.is_dir():
        raise FileNotFoundError(f"Model directory {model_dir} does not exist.")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a model directory written by save_model.")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path} must hold a JSON object, got {type(doc).__name__}.")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: unsupported format_version {version!r}; this code reads format_version "
            f"{FORMAT_VERSION}."
        )
    if doc.get("architecture") != ARCHITECTURE:
        raise ModelFileError(
            f"{path}: architecture must be {ARCHITECTURE!r}, got {doc.get('architecture')!r}."
        )
    for key, ok in (
        ("variant", lambda v: v in VARIANTS),
        ("n_beams", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0),
        ("max_range_m", lambda v: isinstance(v, int | float) and np.isfinite(v) and v > 0),
    ):
        if key not in doc or not ok(doc[key]):
            raise ModelFileError(f"{path}: missing or invalid {key!r} (got {doc.get(key)!r}).")
    return doc


def verified_file(model_dir: Path, doc: dict[str, Any], key: str) -> Path:
    """The path of model file ``key`` ("weights" or "onnx") once its sha256 matches model.json.

    Raises ``FileNotFoundError`` if the file is missing and :class:`ModelFileError` if model.json
    records no hash for it or the hash differs (a swapped, edited or corrupt file).
    """
    meta = model_dir / METADATA_FILE
    path = model_dir / FILE_NAMES[key]
    files = doc.get("files")
    entry = files.get(key) if isinstance(files, dict) else None
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(expected, str) or entry.get("path", path.name) != path.name:
        raise ModelFileError(
            f"{meta} records no sha256 for {path.name}, so the file cannot be checked (re-save "
            "the model with trainers.export.save_model, which records every file's hash)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (referenced by {meta}).")
    if sha256_of(path) != expected:
        raise ModelFileError(
            f"{path}: sha256 does not match {meta} (file changed or corrupt; use the files "
            "the model was saved with)"
        )
    return path
