"""Training-time augmentation: scan perturbations, weighted sampling, pseudo-positions in BC."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from tinylidar_gym.data.collect import CollectJob, collect
from tinylidar_gym.data.episode import episode_dir
from tinylidar_gym.data.extract import extract
from tinylidar_gym.data.relabel import PseudoPositionConfig
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from trainers.augment import augment_scans
from trainers.bc import train_bc
from trainers.configs import AugmentConfig, BCConfig
from trainers.dataset import BatchStream, LidarDataset
from trainers.tracking import TrackingConfig

MAX_RANGE_M = 30.0


def _scans(b=512, n=200, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).uniform(0.5, 20.0, (b, n))).float()


def test_off_changes_nothing():
    scans = _scans()
    out = augment_scans(scans, AugmentConfig(), MAX_RANGE_M, torch.Generator().manual_seed(0))
    assert torch.equal(out, scans)
    assert not AugmentConfig().online


def test_noise_has_the_configured_std_and_leaves_the_input_alone():
    scans = _scans()
    before = scans.clone()
    cfg = AugmentConfig(scan_noise_std_m=0.05)
    out = augment_scans(scans, cfg, MAX_RANGE_M, torch.Generator().manual_seed(0))
    assert torch.equal(scans, before)
    assert float((out - scans).std()) == pytest.approx(0.05, rel=0.05)
    assert float(out.min()) >= 0.0 and float(out.max()) <= MAX_RANGE_M


def test_dropout_sets_the_configured_share_of_beams_to_max_range():
    scans = _scans()
    cfg = AugmentConfig(beam_dropout_prob=0.1)
    out = augment_scans(scans, cfg, MAX_RANGE_M, torch.Generator().manual_seed(0))
    dropped = out == MAX_RANGE_M
    assert float(dropped.float().mean()) == pytest.approx(0.1, abs=0.01)
    assert torch.equal(out[~dropped], scans[~dropped])


def test_range_clipping_saturates_some_scans_at_a_shorter_range():
    # Ranges up to almost the max, so that every drawn limit clips something.
    scans = torch.from_numpy(np.random.default_rng(0).uniform(0.5, 29.99, (512, 200))).float()
    cfg = AugmentConfig(range_clip_prob=0.5, range_clip_min_m=5.0)
    out = augment_scans(scans, cfg, MAX_RANGE_M, torch.Generator().manual_seed(0))
    clipped = (out != scans).any(dim=1)
    assert 0.35 < float(clipped.float().mean()) < 0.65
    for row in torch.nonzero(clipped).flatten()[:20]:
        limit = float(out[row].max())
        assert 5.0 <= limit < MAX_RANGE_M
        assert torch.equal(out[row], scans[row].clamp(max=limit))


def test_bad_augment_values_are_refused():
    with pytest.raises(ValueError, match="--bc.augment.beam-dropout-prob 1.5"):
        AugmentConfig(beam_dropout_prob=1.5)
    with pytest.raises(ValueError, match="--bc.augment.scan-noise-std-m -0.1"):
        AugmentConfig(scan_noise_std_m=-0.1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    env = with_overrides(EnvConfig(), lidar={"n_beams": 241}, max_episode_time_s=2.0)
    run = root / "runs" / "r"
    collect(CollectJob(run, "train", 0, 4, env=env), workers=1, progress=False)
    for seed in range(4):  # 2 s episodes time out; use them as demonstrations
        p = episode_dir(run, "train", seed) / "result.json"
        p.write_text(json.dumps({**json.loads(p.read_text()), "success": True}))
    extract([run], root / "data", progress=False)
    return root / "data"


def test_weighted_sampling_draws_heavy_samples_more_often(dataset, tmp_path):
    heavy = tmp_path / "weighted"
    shutil.copytree(dataset, heavy)
    weights = np.load(heavy / "weights.npy")
    weights[: len(weights) // 2] = 3.0
    np.save(heavy / "weights.npy", weights)
    n = len(weights)
    # Mark each row by its own action so that batch rows tell where they came from.
    actions = np.load(heavy / "actions.npy")
    actions[:, 0] = np.arange(n) / n
    np.save(heavy / "actions.npy", actions)
    ds = LidarDataset(heavy)
    stream = BatchStream(ds, np.arange(n), batch_size=64, seed=0)
    it = iter(stream)
    rows = np.concatenate([np.rint(next(it)["acts"][:, 0].numpy() * n) for _ in range(100)])
    heavy_share = float((rows < n // 2).mean())
    # Weight 3 against 1 on equal halves: 3/4 of the draws.
    assert heavy_share == pytest.approx(0.75, abs=0.03)


def test_train_bc_with_augmentation_and_pseudo_positions(dataset, tmp_path):
    aug = AugmentConfig(
        scan_noise_std_m=0.02,
        beam_dropout_prob=0.02,
        range_clip_prob=0.2,
        pseudo_positions=PseudoPositionConfig(per_step=1, every_n_steps=8),
    )
    cfg = BCConfig(epochs=1, batch_size=64, threads=2, augment=aug, val_fraction=0.25)
    report = train_bc(dataset, tmp_path / "m", cfg, TrackingConfig(tracker="none"), progress=False)
    ds = LidarDataset(dataset)
    assert report["pseudo_position_samples"] > 20
    assert report["expert_labels"] == len(ds) + report["pseudo_position_samples"]
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["metadata"]["bc"]["augment"]["pseudo_positions"]["per_step"] == 1
    # The off switch really is off: no extra samples.
    plain = dataclasses.replace(cfg, augment=AugmentConfig())
    report2 = train_bc(
        dataset, tmp_path / "p", plain, TrackingConfig(tracker="none"), progress=False
    )
    assert report2["pseudo_position_samples"] == 0
    assert report2["expert_labels"] == len(ds)
