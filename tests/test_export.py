"""Tests of model sharing (trainers.export): safetensors + JSON round trip without pickle, ONNX
parity with torch (random scans and a driving episode), and clear errors for broken model dirs."""

from __future__ import annotations

import json
import os
import pickle

import gymnasium as gym
import numpy as np
import onnx
import pytest
import torch

import tinylidar_gym  # noqa: F401  (registers TinyLidar-v0)
from tinylidar_gym.sim.errors import UserError
from trainers.export import (
    FORMAT_VERSION,
    OnnxPolicy,
    TorchPolicy,
    export_onnx,
    load_model,
    save_model,
)
from trainers.models import PAPER_PARAMETERS, TinyLidarNet

N_BEAMS = 1081
ONNX_TOL = 1e-5
METADATA = {
    "env_id": "TinyLidar-v0",
    "action": {"steering": "action[0] * max_steer_rad", "speed": "0..8 m/s"},
    "dataset_sha256": "ab" * 32,
    "git_commit": "0123456789abcdef",
    "config": {"lidar": {"n_beams": N_BEAMS}, "lr": 1e-3},
    "wandb_run_id": "abc123",
    "val_loss": np.float32(0.25),
}


def _net(variant: str = "L", seed: int = 0) -> TinyLidarNet:
    """A net with non-trivial normalisation (so the buffers matter)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    return TinyLidarNet(
        N_BEAMS,
        variant,
        scan_mean=rng.uniform(1.0, 6.0, N_BEAMS),
        scan_std=rng.uniform(1.0, 4.0, N_BEAMS),
        max_range_m=30.0,
    ).eval()


def _scans(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 30.0, (n, N_BEAMS)).astype(np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[str, TinyLidarNet]:
    """A model directory written once (ONNX export costs ~0.3 s)."""
    out = tmp_path_factory.mktemp("model")
    net = _net("M")
    save_model(out, net, METADATA)
    return str(out), net


def test_round_trip_gives_identical_outputs(saved) -> None:
    out, net = saved
    loaded, doc = load_model(out)
    assert not loaded.training
    assert (loaded.n_beams, loaded.variant, loaded.max_range_m) == (N_BEAMS, "M", 30.0)
    ref = net.state_dict()
    assert loaded.state_dict().keys() == ref.keys()
    assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items())
    x = _scans(9)
    x[0, 0] = np.nan
    np.testing.assert_array_equal(TorchPolicy(loaded)(x), TorchPolicy(net)(x))


def test_model_json_content(saved) -> None:
    out, _ = saved
    assert sorted(os.listdir(out)) == ["model.json", "model.onnx", "model.safetensors"]
    with open(os.path.join(out, "model.json")) as f:
        doc = json.load(f)
    assert doc["format_version"] == FORMAT_VERSION == 1
    assert doc["architecture"] == "TinyLidarNet"
    assert (doc["variant"], doc["n_beams"], doc["max_range_m"]) == ("M", N_BEAMS, 30.0)
    assert doc["parameters"] == PAPER_PARAMETERS["M"] == 111_886
    assert doc["input"]["name"] == "scan" and doc["input"]["shape"] == ["batch", N_BEAMS]
    assert doc["output"]["name"] == "action" and doc["output"]["shape"] == ["batch", 2]
    assert set(doc["files"]) == {"weights", "onnx"}
    assert len(doc["files"]["weights"]["sha256"]) == 64
    expected_meta = {**METADATA, "val_loss": 0.25}
    assert doc["metadata"] == expected_meta
    assert load_model(out)[1] == doc
    # Readable by others (tempfiles are created 0600).
    assert os.stat(os.path.join(out, "model.safetensors")).st_mode & 0o044 == 0o044


def test_load_never_unpickles(saved, monkeypatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("load_model must not unpickle")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    net, _ = load_model(saved[0])
    assert net(torch.from_numpy(_scans(1))).shape == (1, 2)


def test_save_without_onnx_and_bad_metadata(tmp_path) -> None:
    save_model(tmp_path / "a", _net("S"), {}, onnx=False)
    assert sorted(os.listdir(tmp_path / "a")) == ["model.json", "model.safetensors"]
    assert "onnx" not in load_model(tmp_path / "a")[1]["files"]
    with pytest.raises(TypeError, match="not JSON serialisable"):
        save_model(tmp_path / "b", _net("S"), {"fn": print}, onnx=False)
    assert os.listdir(tmp_path / "b") == []  # nothing written, no temp files left


@pytest.mark.parametrize("variant", ["L", "M", "S"])
def test_onnx_matches_torch(tmp_path, variant: str) -> None:
    net = _net(variant, seed=1)
    path = export_onnx(net, tmp_path / "model.onnx")
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert [i.name for i in model.graph.input] == ["scan"]
    assert [o.name for o in model.graph.output] == ["action"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == N_BEAMS  # dynamic batch, fixed beams
    onnx_policy, torch_policy = OnnxPolicy(path), TorchPolicy(net)
    for batch in (1, 7, 64):
        x = _scans(batch, seed=batch)
        x[0, :5] = [np.nan, np.inf, -np.inf, -1.0, 100.0]
        a_onnx, a_torch = onnx_policy(x), torch_policy(x)
        assert a_onnx.shape == a_torch.shape == (batch, 2) and a_onnx.dtype == np.float32
        np.testing.assert_allclose(a_onnx, a_torch, rtol=0, atol=ONNX_TOL)
    single = _scans(1, seed=99)[0]
    assert onnx_policy(single).shape == torch_policy(single).shape == (2,)
    np.testing.assert_allclose(onnx_policy(single), torch_policy(single), rtol=0, atol=ONNX_TOL)
    for policy in (onnx_policy, torch_policy):
        with pytest.raises(ValueError, match=r"shape \(1081,\) or \(batch, 1081\)"):
            policy(np.zeros(541, np.float32))


def test_onnx_and_torch_agree_while_driving(saved) -> None:
    out, net = saved
    onnx_policy, torch_policy = OnnxPolicy(out), TorchPolicy(net)
    env = gym.make("TinyLidar-v0")
    obs, _ = env.reset(seed=0)
    episodes = 1
    # An untrained net crashes within ~50 steps; keep driving new episodes so that 200 scans
    # from real driving (walls, obstacles, max-range beams) are compared.
    for _ in range(200):
        action = torch_policy(obs)
        np.testing.assert_allclose(onnx_policy(obs), action, rtol=0, atol=ONNX_TOL)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset(seed=episodes)
            episodes += 1
    env.close()
    assert episodes < 200  # the policy really drove (episodes lasted more than one step)


def test_clear_errors(saved, tmp_path) -> None:
    src, net = saved
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"model\.json is missing"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"model\.onnx is missing"):
        OnnxPolicy(tmp_path)

    def copy(name: str, edit=None) -> str:
        d = tmp_path / name
        d.mkdir()
        for f in os.listdir(src):
            data = open(os.path.join(src, f), "rb").read()
            if f == "model.json" and edit is not None:
                doc = json.loads(data)
                edit(doc)
                data = json.dumps(doc).encode()
            (d / f).write_bytes(data)
        return str(d)

    d = copy("no_weights")
    os.remove(os.path.join(d, "model.safetensors"))
    with pytest.raises(FileNotFoundError, match=r"no_weights/model\.safetensors is missing"):
        load_model(d)

    d = copy("v2", lambda doc: doc.update(format_version=2))
    with pytest.raises(ValueError, match=r"v2/model\.json: unsupported format_version 2"):
        load_model(d)

    d = copy("shape", lambda doc: doc.update(n_beams=1000))
    with pytest.raises(ValueError, match=r"shape/model\.safetensors: tensor .* has shape"):
        load_model(d)

    d = copy("variant", lambda doc: doc.update(variant="XL"))
    with pytest.raises(ValueError, match=r"variant/model\.json: missing or invalid 'variant'"):
        load_model(d)

    d = copy("corrupt")
    with open(os.path.join(d, "model.safetensors"), "r+b") as f:
        f.seek(-4, os.SEEK_END)
        f.write(b"\0\0\0\0")
    with pytest.raises(ValueError, match=r"corrupt/model\.safetensors: sha256 does not match"):
        load_model(d)

    d = copy("badjson")
    with open(os.path.join(d, "model.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(ValueError, match=r"badjson/model\.json is not valid JSON"):
        load_model(d)


def test_every_model_file_hash_is_required_and_checked(saved, tmp_path) -> None:
    src, net = saved

    def copy(name: str, edit=None) -> str:
        d = tmp_path / name
        d.mkdir()
        for f in os.listdir(src):
            data = open(os.path.join(src, f), "rb").read()
            if f == "model.json" and edit is not None:
                doc = json.loads(data)
                edit(doc)
                data = json.dumps(doc).encode()
            (d / f).write_bytes(data)
        return str(d)

    # A swapped model.onnx (another network's, itself a valid model) is refused by its hash.
    d = copy("swapped")
    export_onnx(_net(seed=1), os.path.join(d, "model.onnx"))
    with pytest.raises(UserError, match=r"swapped/model\.onnx: sha256 does not match"):
        OnnxPolicy(d)
    with pytest.raises(UserError, match=r"swapped/model\.onnx: sha256 does not match"):
        OnnxPolicy(os.path.join(d, "model.onnx"))
    OnnxPolicy(copy("intact"))  # the files it was saved with load

    # A model.json without hashes is refused, naming the file it cannot check.
    d = copy("no_weight_hash", lambda doc: doc["files"]["weights"].pop("sha256"))
    with pytest.raises(UserError, match=r"records no sha256 for model\.safetensors"):
        load_model(d)
    d = copy("no_onnx_hash", lambda doc: doc["files"].pop("onnx"))
    with pytest.raises(UserError, match=r"records no sha256 for model\.onnx"):
        OnnxPolicy(d)
    d = copy("no_files", lambda doc: doc.pop("files"))
    with pytest.raises(UserError, match=r"records no sha256 for model\.safetensors"):
        load_model(d)
