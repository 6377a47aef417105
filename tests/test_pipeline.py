"""The pipeline's result is the same on every run: its training does not depend on the number of
cores torch finds (which sets torch's default thread count, and so the order of its float sums)."""

import dataclasses

import pytest
import torch

from experiments import pipeline
from tinylidar_gym.data.collect import CollectJob, collect
from tinylidar_gym.data.extract import ExtractConfig, extract
from tinylidar_gym.sim.config import EnvConfig, with_overrides
from trainers.bc import train_bc
from trainers.export import load_model
from trainers.tracking import TrackingConfig


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    env = with_overrides(EnvConfig(), max_episode_time_s=1.0)
    collect(CollectJob(root / "runs" / "r", "train", 0, 3, env=env), workers=1, progress=False)
    # 1 s episodes time out; training only needs (scan, action) pairs.
    cfg = ExtractConfig(include_failed=True)
    extract([root / "runs" / "r"], root / "data", progress=False, cfg=cfg)
    return root / "data"


def test_the_pipelines_model_is_the_same_whatever_the_core_count(dataset, tmp_path):
    cfg = dataclasses.replace(pipeline.Args().bc, epochs=1, batch_size=64)
    before = torch.get_num_threads()
    weights = []
    try:
        for cores in (1, 3):
            torch.set_num_threads(cores)  # torch's default on a machine with that many cores
            out = tmp_path / f"cores{cores}"
            train_bc(dataset, out, cfg, TrackingConfig(tracker="none"), progress=False)
            weights.append(load_model(out)[0].state_dict())
    finally:
        torch.set_num_threads(before)
    assert weights[0].keys() == weights[1].keys()
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name
