"""PPO fine-tuning (trainers.rl): the BC start is loaded exactly, short runs train and save a model
directory that evaluation drives, the critic warm-up leaves the actor alone, metrics reach the
tracker, and the env's discounted reward pays for speed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments.experiment_runner import main as runner_main
from tinylidar_gym.envs.tinylidar_env import TinyLidarEnv
from tinylidar_gym.experts import Expert
from tinylidar_gym.sim.config import EnvConfig, config_to_dict, with_overrides
from trainers.configs import FineTuneConfig, PPOConfig, RLConfig
from trainers.export import load_model, load_policy, save_model
from trainers.models import TinyLidarNet, policy_to_network
from trainers.rl import build_ppo, train_rl
from trainers.tracking import Tracker

N_BEAMS = 241
ENV = with_overrides(EnvConfig(), lidar={"n_beams": N_BEAMS}, max_episode_time_s=1.0)
# A few PPO iterations: 4 cars x 16 steps per rollout, 3 rollouts.
TINY_PPO = PPOConfig(n_steps=16, batch_size=32, n_epochs=2, learning_rate=1e-3)
TINY = {
    "n_envs": 4,
    "total_timesteps": 192,
    "val_every": 2,
    "val_episodes": 4,
    "threads": 1,
    "ppo": TINY_PPO,
    "finetune": FineTuneConfig(critic_warmup=1),
}


class RecordingTracker(Tracker):
    """A tracker that keeps what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.logged: list[tuple[int, dict[str, float]]] = []
        self.summaries: list[dict] = []

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.logged.append((step, dict(metrics)))

    def summary(self, values: dict) -> None:
        self.summaries.append(dict(values))

    def keys(self) -> set[str]:
        return {k for _, m in self.logged for k in m}


@pytest.fixture(scope="module")
def bc_model(tmp_path_factory) -> Path:
    """A stand-in BC model directory: a seeded network with a non-trivial normalisation."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = TinyLidarNet(
        N_BEAMS, "L", scan_mean=rng.uniform(1, 4, N_BEAMS), scan_std=rng.uniform(0.5, 2, N_BEAMS)
    )
    out = tmp_path_factory.mktemp("bc") / "model"
    meta = {"env": config_to_dict(ENV), "dataset": {"n_samples": 1234}, "training": {}}
    save_model(out, net, meta, onnx=False)
    return out


def _actor(net: TinyLidarNet) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_ppo_loads_the_bc_weights_first_step_actions_equal(bc_model: Path) -> None:
    bc_net, _ = load_model(bc_model)
    cfg = RLConfig(init=bc_model, **TINY).resolved()
    model = build_ppo(cfg, ENV, bc_net)
    obs = model.env.reset()  # the first observations PPO acts on
    ppo_actions, _ = model.predict(obs, deterministic=True)
    with torch.no_grad():
        bc_actions = bc_net(torch.from_numpy(obs)).numpy()
    assert not np.allclose(bc_actions, 0.0, atol=1e-3)  # a real comparison, not two zeros
    np.testing.assert_allclose(ppo_actions, bc_actions, rtol=0, atol=1e-6)
    # The critic has an encoder of its own, initialised from BC too.
    assert model.policy.vf_features_extractor is not model.policy.pi_features_extractor
    vf_enc = model.policy.vf_features_extractor.encoder
    assert torch.equal(vf_enc.scan_mean, bc_net.features.scan_mean)
    # Exploration starts small: std exp(-2.5) ~ 0.08 in action units.
    np.testing.assert_allclose(torch.exp(model.policy.log_std).detach(), np.exp(-2.5), rtol=1e-6)
    model.env.close()


def test_short_run_trains_and_writes_an_evaluable_model(bc_model: Path, tmp_path: Path) -> None:
    tracker = RecordingTracker()
    cfg = RLConfig(init=bc_model, keep="final", **TINY)
    report = train_rl(tmp_path / "ppo", cfg, progress=False, tracker=tracker)

    assert report["env_steps"] == 192 and report["rollouts"] == 3 and report["updates"] == 3
    start, _ = load_model(bc_model)
    # The step-0 checkpoint is the BC start, weight for weight.
    step0, _ = load_model(tmp_path / "ppo" / "checkpoints" / "step_000000000")
    assert all(torch.equal(v, _actor(start)[k]) for k, v in step0.state_dict().items())
    # The kept (final) model was trained: the actor moved after the warm-up update.
    final, doc = load_model(tmp_path / "ppo")
    assert not torch.equal(final.head[0].weight, start.head[0].weight)
    assert torch.equal(final.features.scan_mean, start.features.scan_mean)  # normalisation kept
    meta = doc["metadata"]
    assert meta["training"]["env_steps"] == 192
    assert meta["training"]["expert_labels"] == 1234  # the BC start's labels; PPO adds none
    assert meta["training"]["train_seconds"] > 0
    assert meta["start"]["path"] == str(bc_model)
    assert meta["env"] == config_to_dict(ENV)  # evaluate rebuilds the same env from it
    assert [h["step"] for h in report["history"]] == [0, 128, 192]

    # evaluate's loader drives it.
    obs, _ = TinyLidarEnv(config=ENV).reset(seed=2_000_000)
    action = load_policy(tmp_path / "ppo")(obs)
    assert action.shape == (2,) and np.all(np.abs(action) <= 1)
    with torch.no_grad():
        np.testing.assert_allclose(action, final(torch.from_numpy(obs[None]))[0].numpy(), atol=1e-6)

    # Metrics reached the tracker: rollout figures, SB3's train figures, validation.
    keys = tracker.keys()
    for key in (
        "rollout/ep_return_mean",
        "rollout/success_rate",
        "rollout/collision_rate",
        "train/value_loss",
        "train/policy_gradient_loss",
        "train/approx_kl",
        "train/std",
        "val/success_rate",
        "val/checkpoint_pass_rate",
    ):
        assert key in keys, key
    steps = [s for s, m in tracker.logged if "train/value_loss" in m]
    assert steps == sorted(steps) and steps[-1] == 192
    assert tracker.summaries[-1]["env_steps"] == 192

    with pytest.raises(FileExistsError, match="never overwritten"):
        train_rl(tmp_path / "ppo", cfg, progress=False, tracker=RecordingTracker())


def test_critic_warmup_leaves_the_actor_unchanged(bc_model: Path, tmp_path: Path) -> None:
    warmup = FineTuneConfig(critic_warmup=10)
    cfg = RLConfig(init=bc_model, keep="final", **{**TINY, "finetune": warmup})
    train_rl(tmp_path / "warm", cfg, progress=False, tracker=RecordingTracker())
    start, _ = load_model(bc_model)
    final, _ = load_model(tmp_path / "warm")
    assert all(torch.equal(v, _actor(start)[k]) for k, v in final.state_dict().items())


def test_critic_learns_during_warmup(bc_model: Path) -> None:
    bc_net, _ = load_model(bc_model)
    warmup = FineTuneConfig(critic_warmup=10)
    cfg = RLConfig(init=bc_model, **{**TINY, "finetune": warmup, "total_timesteps": 64}).resolved()
    model = build_ppo(cfg, ENV, bc_net)
    value_before = model.policy.value_net.weight.clone()
    actor_before = _actor(policy_to_network(model.policy))
    model.learn(64)
    assert not torch.equal(model.policy.value_net.weight, value_before)
    after = policy_to_network(model.policy).state_dict()
    assert all(torch.equal(v, actor_before[k]) for k, v in after.items())
    assert torch.equal(model.policy.log_std.detach(), torch.full((2,), -2.5))
    model.env.close()


def test_from_scratch(tmp_path: Path) -> None:
    cfg = RLConfig(
        init=None,
        variant="S",
        keep="final",
        **{**TINY, "finetune": FineTuneConfig(), "ppo": replace(TINY_PPO, learning_rate=None)},
    )
    resolved = cfg.resolved()
    ft = resolved.finetune
    assert (resolved.ppo.learning_rate, ft.log_std_init, ft.critic_warmup) == (
        3e-4,
        -0.5,
        0,
    )
    assert RLConfig(init=Path("none")).resolved().init is None  # the CLI's spelling
    env = with_overrides(ENV, lidar={"n_beams": 1081})  # S needs >= 853 beams
    report = train_rl(tmp_path / "scratch", cfg, env_cfg=env, progress=False, tracker=Tracker())
    net, doc = load_model(tmp_path / "scratch")
    assert net.variant == "S" and net.n_beams == 1081
    # The normalisation comes from random driving, not the identity default.
    assert float(net.features.scan_mean.mean()) > 0.5
    assert doc["metadata"]["start"]["kind"] == "scratch"
    assert report["expert_labels"] == 0


def test_bad_init_and_config_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no model.json.*--rl.init none"):
        train_rl(tmp_path / "x", RLConfig(init=tmp_path / "nope"), tracker=Tracker())
    with pytest.raises(ValueError, match="batch_size=64 exceeds a rollout"):
        RLConfig(n_envs=2, ppo=PPOConfig(n_steps=16, batch_size=64))
    assert not (tmp_path / "x").exists()


def test_cli_train_rl(bc_model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    runner_main(
        ["train-rl", "--out", str(out), "--rl.init", str(bc_model), "--tracking.tracker", "none"]
        + ["--rl.n-envs", "4", "--rl.ppo.n-steps", "16", "--rl.ppo.batch-size", "32"]
        + ["--rl.total-timesteps", "64", "--rl.val-episodes", "2"]
    )
    doc = json.loads((out / "model.json").read_text())
    assert doc["metadata"]["training"]["env_steps"] == 64
    assert "env steps" in capsys.readouterr().out


def test_discounting_rewards_speed() -> None:
    """The same expert lap, capped at 4 vs 8 m/s: about the same undiscounted return (the course
    length), but the faster lap has the larger discounted return. This is what lets PPO lower
    lap time on a progress reward."""
    gamma = 0.99
    returns = {}
    for top in (4.0, 8.0):
        cfg = with_overrides(EnvConfig(), lidar={"n_beams": N_BEAMS}, max_speed_command_mps=top)
        env = TinyLidarEnv(config=cfg)
        env.reset(seed=5)
        expert = Expert(cfg)
        rewards, info = [], {}
        for _ in range(4000):
            _, r, term, trunc, info = env.step(expert.act(env.world, 0))
            rewards.append(r)
            if term or trunc:
                break
        assert info["is_success"], top
        disc = float(np.sum(np.asarray(rewards) * gamma ** np.arange(len(rewards))))
        returns[top] = (float(np.sum(rewards)), disc, len(rewards))
    (slow_sum, slow_disc, slow_n), (fast_sum, fast_disc, fast_n) = returns[4.0], returns[8.0]
    assert fast_n < slow_n
    assert abs(fast_sum - slow_sum) < 1.0
    assert fast_disc > 1.2 * slow_disc
