"""`train-bc`, `train-dagger` and `train-rl` on bad input: exit status 2 with the flag named,
before any training and without writing a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.experiment_runner import main
from tinylidar_gym.sim.config import ConfigError
from trainers.configs import (
    AugmentConfig,
    BCConfig,
    DAggerBCConfig,
    DAggerConfig,
    PPOConfig,
    RLConfig,
)

NONE = ["--tracking.tracker", "none"]


def _exit_2(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["train-bc", "--bc.epochs", "0"], "--bc.epochs 0"),
        (["train-bc", "--bc.batch-size", "0"], "--bc.batch-size 0"),
        (["train-bc", "--bc.learning-rate", "-1"], "--bc.learning-rate -1"),
        (["train-bc", "--bc.val-fraction", "1"], "--bc.val-fraction 1"),
        (["train-bc", "--bc.augment.beam-dropout-prob", "2"], "--bc.augment.beam-dropout-prob"),
        (["train-dagger", "--dagger.rounds", "0"], "--dagger.rounds 0"),
        (["train-dagger", "--dagger.num-envs", "0"], "--dagger.num-envs 0"),
        (["train-dagger", "--dagger.bc.epochs-per-round", "0"], "--dagger.bc.epochs-per-round"),
        (["train-dagger", "--dagger.takeover.hold-s", "-1"], "--dagger.takeover.hold-s"),
        (["train-dagger", "--dagger.demos.stats-episodes", "0"], "--dagger.demos.stats-episodes"),
        (["train-rl", "--rl.ppo.n-steps", "1"], "--rl.ppo.n-steps 1"),
        (["train-rl", "--rl.ppo.batch-size", "999999"], "exceeds a rollout"),
        (["train-rl", "--rl.ppo.gamma", "0"], "--rl.ppo.gamma 0"),
        (["train-rl", "--rl.finetune.critic-warmup", "-1"], "--rl.finetune.critic-warmup -1"),
    ],
)
def test_a_bad_training_setting_names_its_flag(tmp_path, capsys, argv, named) -> None:
    out = tmp_path / "model"
    err = _exit_2([*argv, "--out", str(out)], capsys)
    assert named in err
    assert not out.exists()


def test_configs_refuse_bad_values_in_python_too() -> None:
    for make in (
        lambda: BCConfig(epochs=0),
        lambda: BCConfig(batch_size=0),
        lambda: BCConfig(max_minutes=0),
        lambda: AugmentConfig(range_clip_prob=-0.1),
        lambda: DAggerConfig(rounds=0),
        lambda: DAggerConfig(steps_per_round=0),
        lambda: DAggerBCConfig(batch_size=0),
        lambda: RLConfig(n_envs=0),
        lambda: PPOConfig(learning_rate=0.0),
    ):
        with pytest.raises(ConfigError, match="is invalid"):
            make()


def _existing_model(tmp_path: Path) -> Path:
    out = tmp_path / "model"
    out.mkdir()
    (out / "model.json").write_text("{}")
    return out


@pytest.mark.parametrize(
    "argv",
    [
        ["train-bc", "--data", "nowhere", *NONE],
        ["train-dagger"],
        ["train-rl", "--rl.init", "none", *NONE],
    ],
)
def test_an_existing_model_is_never_overwritten(tmp_path, capsys, argv) -> None:
    out = _existing_model(tmp_path)
    err = _exit_2([*argv, "--out", str(out)], capsys)
    assert err == (
        f"error: {out} already holds a model; models are never overwritten (choose another --out)\n"
    )
    assert sorted(p.name for p in out.iterdir()) == ["model.json"]


def test_train_bc_without_a_dataset(tmp_path, capsys) -> None:
    err = _exit_2(["train-bc", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "m"),
                   *NONE], capsys)  # fmt: skip
    assert err.startswith("error: ") and "nope" in err and len(err.splitlines()) == 1


def test_train_rl_from_a_missing_model(tmp_path, capsys) -> None:
    argv = ["train-rl", "--rl.init", str(tmp_path / "nope"), "--out", str(tmp_path / "m"), *NONE]
    err = _exit_2(argv, capsys)
    assert "--rl.init" in err and "no model.json there" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m").exists()
