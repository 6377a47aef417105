"""Sharing a trained :class:`~trainers.network.TinyLidarNet`: safetensors + JSON (+ ONNX).

A model directory holds::

    model.safetensors   state dict (weights + normalisation buffers scan_mean/scan_std), float32
    model.json          format_version, architecture, variant, n_beams, max_range_m, parameters,
                        input/output description, sha256 of the other files, caller's "metadata"
    model.onnx          optional: scan (batch, n_beams) float32 -> action (batch, 2), opset 17

Loading never unpickles anything: weights come from ``safetensors.torch.load_file`` and the
configuration from JSON, so a model from an untrusted source cannot run code.
:class:`OnnxPolicy` and :class:`TorchPolicy` are the two ways to drive the env with a model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.model_files import (
    ARCHITECTURE,
    FORMAT_VERSION,
    INPUT_NAME,
    METADATA_FILE,
    ONNX_FILE,
    ONNX_OPSET,
    OUTPUT_NAME,
    WEIGHTS_FILE,
    ModelFileError,
    read_model_json,
    sha256_of,
    verified_file,
)
from trainers.network import TinyLidarNet, count_parameters

# --------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path``, renamed onto it on success and removed on failure.

    The temp file lives in the same directory so that ``os.replace`` is an atomic rename: a reader
    sees either the old file or the complete new one, never a partial write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600 files; a shared model should be readable like any written file.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _json_default(value: Any) -> Any:
    """JSON encoding for the usual non-JSON values found in metadata (numpy, paths, dataclasses)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"metadata value of type {type(value).__name__} is not JSON serialisable.")


# --------------------------------------------------------------------------- save


def export_onnx(net: TinyLidarNet, path: str | os.PathLike[str], opset: int = ONNX_OPSET) -> Path:
    """Write ``net`` (normalisation included) as ONNX: "scan" (batch, n_beams) -> "action".

    The batch axis is dynamic. Uses the TorchScript-based exporter (``dynamo=False``), which needs
    no extra packages. Written atomically; returns the path.
    """
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}.")
    path = Path(path)
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    example = torch.full((2, net.n_beams), net.max_range_m / 2, device=device)
    try:
        with _atomic_path(path) as tmp, warnings.catch_warnings():
            # The legacy exporter is deprecated upstream; its warning is not actionable here.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
            import onnx

            onnx.checker.check_model(str(tmp))
    finally:
        net.train(was_training)
    return path


def save_model(
    out_dir: str | os.PathLike[str],
    net: TinyLidarNet,
    metadata: dict[str, Any],
    *,
    onnx: bool = True,
) -> None:
    """Write ``model.safetensors``, ``model.onnx`` (unless ``onnx=False``) and ``model.json``.

    ``metadata`` (env/action mapping, dataset hash, git commit, config, tracker run ids, ...) is
    stored under the "metadata" key of model.json and must be JSON serialisable (numpy values,
    paths and dataclasses are converted). Each file is written atomically; model.json last, so a
    directory with a model.json is complete.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Encode the metadata first so a bad value fails before anything is written.
    meta_json = json.dumps(metadata, default=_json_default)

    tensors = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()
    }
    header = {"format_version": str(FORMAT_VERSION), "architecture": ARCHITECTURE}
    with _atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    files = {"weights": {"path": WEIGHTS_FILE, "sha256": sha256_of(out / WEIGHTS_FILE)}}
    if onnx:
        export_onnx(net, out / ONNX_FILE)
        files["onnx"] = {"path": ONNX_FILE, "sha256": sha256_of(out / ONNX_FILE)}

    doc = {
        "format_version": FORMAT_VERSION,
        "architecture": ARCHITECTURE,
        "variant": net.variant,
        "n_beams": net.n_beams,
        "max_range_m": net.max_range_m,
        "parameters": count_parameters(net),
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", net.n_beams],
            "dtype": "float32",
            "unit": "m",
            "description": "raw LiDAR ranges; NaN -> max_range_m, clamped to [0, max_range_m]; "
            "normalisation and decimation happen inside the model",
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", 2],
            "dtype": "float32",
            "description": "[steering, speed] in [-1, 1] (TinyLidar-v0 action)",
        },
        "files": files,
        "metadata": json.loads(meta_json),
    }
    with _atomic_path(out / METADATA_FILE) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")


# --------------------------------------------------------------------------- load


def load_model(model_dir: str | os.PathLike[str]) -> tuple[TinyLidarNet, dict[str, Any]]:
    """Load a model written by :func:`save_model`: (CPU network in eval mode, model.json dict).

    Reads only JSON and safetensors (no pickle). Raises ``FileNotFoundError`` for a missing file
    and ``ValueError`` for a wrong format_version, a checksum mismatch or tensors that do not fit
    the architecture, each naming the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    doc = read_model_json(model_dir)
    weights = verified_file(model_dir, doc, "weights")
    try:
        tensors = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{weights}: cannot read safetensors: {e}") from e

    try:
        net = TinyLidarNet(doc["n_beams"], doc["variant"], max_range_m=float(doc["max_range_m"]))
    except ValueError as e:  # e.g. n_beams too small for the conv stack
        raise ModelFileError(f"{model_dir / METADATA_FILE}: {e}") from e
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFileError(
            f"{weights} does not match TinyLidarNet(n_beams={net.n_beams}, "
            f"variant={net.variant!r}): missing tensors {missing}, unexpected tensors {unexpected}."
        )
    for key, ref in expected.items():
        if tuple(tensors[key].shape) != tuple(ref.shape):
            raise ModelFileError(
                f"{weights}: tensor {key!r} has shape {tuple(tensors[key].shape)}, expected "
                f"{tuple(ref.shape)} for TinyLidarNet(n_beams={net.n_beams}, "
                f"variant={net.variant!r})."
            )
    net.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=True)
    return net.eval(), doc


# --------------------------------------------------------------------------- policies


def _as_batch(scan: np.ndarray, n_beams: int) -> tuple[np.ndarray, bool]:
    """``scan`` as contiguous float32 (B, n_beams) and whether the input was a single scan."""
    arr = np.ascontiguousarray(scan, dtype=np.float32)
    single = arr.ndim == 1
    if single:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != n_beams:
        raise ValueError(
            f"scan must have shape ({n_beams},) or (batch, {n_beams}), got {np.shape(scan)}."
        )
    return arr, single


class OnnxPolicy:
    """Drive with ``model.onnx`` via onnxruntime: scan (n_beams,) or (B, n_beams) metres ->
    action (2,) or (B, 2) float32 in [-1, 1].

    Args:
        model_dir_or_onnx_path: a model directory (uses its model.onnx, whose sha256 must match
            its model.json) or an .onnx file (checked the same way when a model.json is beside
            it; a lone .onnx file has nothing to be checked against).
        intra_op_threads: onnxruntime threads per call; 1 (default) is fastest for batch 1 and
            leaves cores to the simulator.
    """

    def __init__(
        self, model_dir_or_onnx_path: str | os.PathLike[str], intra_op_threads: int = 1
    ) -> None:
        import onnxruntime as ort

        path = Path(model_dir_or_onnx_path)
        in_model_dir = path.is_dir() or (
            path.name == ONNX_FILE and (path.parent / METADATA_FILE).is_file()
        )
        if path.is_dir():
            path = path / ONNX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (save_model(..., onnx=True) writes it).")
        if in_model_dir:
            verified_file(path.parent, read_model_json(path.parent), "onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        self.path = path
        self.session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        inp = self.session.get_inputs()[0]
        if inp.name != INPUT_NAME or len(inp.shape) != 2 or not isinstance(inp.shape[1], int):
            raise ValueError(f"{path}: expected input '{INPUT_NAME}' (batch, n_beams), got {inp}.")
        self.n_beams: int = inp.shape[1]

    def __call__(self, scan: np.ndarray) -> np.ndarray:
        """(n_beams,) or (B, n_beams) metres -> (2,) or (B, 2) float32."""
        batch, single = _as_batch(scan, self.n_beams)
        (action,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})
        return action[0] if single else action


class TorchPolicy:
    """Drive with a :class:`TinyLidarNet` on CPU: same call signature as :class:`OnnxPolicy`."""

    def __init__(self, net: TinyLidarNet) -> None:
        self.net = net.cpu().eval()
        self.n_beams = net.n_beams

    @torch.no_grad()
    def __call__(self, scan: np.ndarray) -> np.ndarray:
        """(n_beams,) or (B, n_beams) metres -> (2,) or (B, 2) float32."""
        batch, single = _as_batch(scan, self.n_beams)
        action = self.net(torch.from_numpy(batch)).numpy()
        return action[0] if single else action


def load_policy(
    model_dir: str | os.PathLike[str], runtime: str = "torch"
) -> TorchPolicy | OnnxPolicy:
    """A driving policy (scan(s) -> action(s)) from a model directory, via torch or onnxruntime."""
    if runtime == "onnx":
        return OnnxPolicy(model_dir)
    if runtime == "torch":
        net, _ = load_model(model_dir)
        return TorchPolicy(net)
    raise ValueError(f"unknown runtime {runtime!r}; use 'torch' or 'onnx'.")


@dataclasses.dataclass(frozen=True)
class ModelDriver:
    """A picklable policy factory for evaluation: holds the model directory's path, and the
    process that drives (a Ray worker too) loads the model itself with :func:`load_policy`."""

    model_dir: str
    runtime: str = "torch"

    def __call__(self) -> Callable[[np.ndarray, Any], np.ndarray]:
        """``actions (N, 2) = policy(scans (N, n_beams), venv)``; the venv is ignored."""
        policy = load_policy(self.model_dir, self.runtime)
        return lambda obs, venv: policy(obs)


def model_env_config(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The env config a model was trained for (as a dict), from its ``model.json``."""
    doc = read_model_json(Path(model_dir))
    env = (doc.get("metadata") or {}).get("env")
    if not isinstance(env, dict):
        raise ModelFileError(
            f"{Path(model_dir) / METADATA_FILE} records no env config (metadata.env); save "
            "models with the env they were trained in"
        )
    return env
