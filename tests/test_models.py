"""Tests of Tiny Lidar Net (trainers.models): published shapes and parameter counts, normalisation,
input sanitising, decimation, and the SB3 policy (predict, conversions, BC, PPO, save/load)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import tinylidar_gym  # noqa: F401  (registers TinyLidar-v0)
from trainers.models import (
    PAPER_PARAMETERS,
    TinyLidarNet,
    TinyLidarNetPolicy,
    conv_output_lengths,
    count_parameters,
    expected_parameters,
    flattened_features,
    min_beams,
    network_into_policy,
    policy_to_network,
)

N_BEAMS = 1081
VARIANTS = ("L", "M", "S")


def _scans(n: int, n_beams: int = N_BEAMS, seed: int = 0) -> torch.Tensor:
    """(n, n_beams) float32 ranges in [0, 30] m."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(0.0, 30.0, (n, n_beams)).astype(np.float32))


def _net(variant: str = "L", seed: int = 0, **kwargs) -> TinyLidarNet:
    torch.manual_seed(seed)
    return TinyLidarNet(N_BEAMS, variant, **kwargs).eval()


def _lr(_: float) -> float:
    return 1e-3


@pytest.fixture(scope="module")
def env_spaces() -> tuple[gym.spaces.Box, gym.spaces.Box]:
    env = gym.make("TinyLidar-v0")
    spaces = (env.observation_space, env.action_space)
    env.close()
    return spaces


def _policy(env_spaces, variant: str = "L", seed: int = 0, **kwargs) -> TinyLidarNetPolicy:
    torch.manual_seed(seed)
    return TinyLidarNetPolicy(*env_spaces, _lr, variant=variant, **kwargs)


# --------------------------------------------------------------------------- architecture


@pytest.mark.parametrize(("variant", "published"), [("L", 220_686), ("M", 111_886), ("S", 54_286)])
def test_parameter_counts_match_the_paper(variant: str, published: int) -> None:
    net = TinyLidarNet(N_BEAMS, variant)
    assert count_parameters(net) == published
    assert sum(p.numel() for p in net.parameters()) == published  # buffers are not parameters
    assert expected_parameters(N_BEAMS, variant) == published
    assert PAPER_PARAMETERS[variant] == published


@pytest.mark.parametrize(
    ("variant", "lengths", "flat"),
    [
        ("L", [268, 66, 32, 30, 28], 1792),
        ("M", [133, 32, 15, 13, 11], 704),
        ("S", [66, 15, 6, 4, 2], 128),
    ],
)
def test_layer_shapes_as_published(variant: str, lengths: list[int], flat: int) -> None:
    net = TinyLidarNet(N_BEAMS, variant)
    convs = [m for m in net.features.conv if isinstance(m, nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (1, 24, 10, 4),
        (24, 36, 8, 4),
        (36, 48, 4, 2),
        (48, 64, 3, 1),
        (64, 64, 3, 1),
    ]
    assert all(c.padding == (0,) for c in convs)
    # ReLU after every conv.
    assert [type(m) for m in net.features.conv] == [nn.Conv1d, nn.ReLU] * 5
    linears = [m for m in net.head if isinstance(m, nn.Linear)]
    assert [(fc.in_features, fc.out_features) for fc in linears] == [
        (flat, 100),
        (100, 50),
        (50, 10),
        (10, 2),
    ]
    assert [type(m) for m in net.head] == [nn.Linear, nn.ReLU] * 3 + [nn.Linear, nn.Tanh]
    assert conv_output_lengths(N_BEAMS, variant) == lengths
    assert flattened_features(N_BEAMS, variant) == flat == net.features.features_dim
    # The hooks agree with the module: run a batch through the conv stack.
    with torch.no_grad():
        x = net.features.normalise(_scans(2)).unsqueeze(1)
        assert net.features.conv(x).shape == (2, 64, lengths[-1])


@pytest.mark.parametrize("variant", VARIANTS)
def test_smallest_scan(variant: str) -> None:
    n = min_beams(variant)
    out = TinyLidarNet(n, variant)(_scans(3, n))
    assert out.shape == (3, 2)
    with pytest.raises(ValueError, match=rf"too small.*n_beams >= {n}"):
        TinyLidarNet(n - 1, variant)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="variant"):
        TinyLidarNet(N_BEAMS, "XL")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"scan_mean.*shape \(1081,\)"):
        TinyLidarNet(N_BEAMS, scan_mean=np.zeros(541))
    with pytest.raises(ValueError, match="scan_std must be finite"):
        TinyLidarNet(N_BEAMS, scan_std=np.full(N_BEAMS, np.nan))
    with pytest.raises(ValueError, match="max_range_m"):
        TinyLidarNet(N_BEAMS, max_range_m=0.0)
    with pytest.raises(ValueError, match=r"shape \(batch, 1081\)"):
        TinyLidarNet(N_BEAMS)(torch.zeros(2, 1080))
    with pytest.raises(ValueError, match=r"shape \(batch, 1081\)"):
        TinyLidarNet(N_BEAMS)(torch.zeros(1081))


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_is_an_action(variant: str) -> None:
    net = _net(variant)
    out = net(_scans(16))
    assert out.shape == (16, 2) and out.dtype == torch.float32
    assert bool(((out >= -1) & (out <= 1)).all())
    # Saturate the output layer: tanh keeps it in range.
    with torch.no_grad():
        net.head[-2].weight.mul_(1e4)
        out = net(_scans(16))
    assert bool(((out >= -1) & (out <= 1)).all())
    assert float(out.abs().max()) > 0.999


# --------------------------------------------------------------------------- normalisation


def test_normalisation_is_applied_as_predicted() -> None:
    rng = np.random.default_rng(1)
    mean = rng.uniform(-1.0, -0.5, N_BEAMS).astype(np.float32)
    std = rng.uniform(0.5, 2.0, N_BEAMS).astype(np.float32)
    normed = _net("L", scan_mean=mean, scan_std=std)
    # Same weights, identity normalisation and a clamp range that the normalised data stays in.
    plain = _net("L", max_range_m=1000.0)
    x = _scans(8)
    with torch.no_grad():
        expected = plain((x - torch.from_numpy(mean)) / torch.from_numpy(std))
        torch.testing.assert_close(normed(x), expected, rtol=0, atol=1e-6)
        assert not torch.allclose(plain(x), normed(x))
    assert torch.equal(normed.features.scan_mean, torch.from_numpy(mean))
    assert torch.equal(normed.features.scan_std, torch.from_numpy(std))
    state = normed.state_dict()
    assert "features.scan_mean" in state and "features.scan_std" in state
    assert count_parameters(normed) == PAPER_PARAMETERS["L"]


def test_normalisation_defaults_scalars_and_std_floor() -> None:
    net = TinyLidarNet(N_BEAMS)
    assert torch.equal(net.features.scan_mean, torch.zeros(N_BEAMS))
    assert torch.equal(net.features.scan_std, torch.ones(N_BEAMS))
    net = TinyLidarNet(N_BEAMS, scan_mean=2.5, scan_std=torch.tensor(0.0))
    assert torch.equal(net.features.scan_mean, torch.full((N_BEAMS,), 2.5))
    assert torch.equal(net.features.scan_std, torch.full((N_BEAMS,), 1e-3))


def test_bad_readings_are_sanitised() -> None:
    net = _net("L", scan_mean=5.0, scan_std=4.0)
    x = _scans(4)
    bad = x.clone()
    bad[0, [3, 500, 1000]] = float("nan")
    bad[1, 7] = float("inf")
    bad[2, 9] = -float("inf")
    bad[3, 11] = -3.0
    bad[3, 12] = 1e9
    fixed = bad.clone()
    fixed[0, [3, 500, 1000]] = 30.0
    fixed[1, 7] = 30.0
    fixed[2, 9] = 0.0
    fixed[3, 11] = 0.0
    fixed[3, 12] = 30.0
    with torch.no_grad():
        out = net(bad)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, net(fixed), rtol=0, atol=0)
        assert torch.isfinite(net(torch.full((1, N_BEAMS), float("nan")))).all()


@pytest.mark.parametrize(("variant", "stride"), [("M", 2), ("S", 4)])
def test_decimation_ignores_skipped_beams(variant: str, stride: int) -> None:
    rng = np.random.default_rng(2)
    mean = rng.uniform(0, 3, N_BEAMS)
    net = _net(variant, scan_mean=mean, scan_std=2.0)
    x = _scans(4)
    skipped = torch.ones(N_BEAMS, dtype=torch.bool)
    skipped[::stride] = False
    y = x.clone()
    y[:, skipped] = torch.from_numpy(rng.uniform(0, 30, (4, int(skipped.sum())))).float()
    y[0, 1] = float("nan")
    with torch.no_grad():
        assert torch.equal(net(x), net(y))
        # ...but every read beam matters (up to the receptive field): change beam 0.
        z = x.clone()
        z[:, 0] += 5.0
        assert not torch.equal(net(x), net(z))
        # Normalisation is per beam of the full scan: skipped beams' statistics do not matter.
        net.features.scan_mean[skipped] += 100.0
        assert torch.equal(net(x), net(y))
    # The L model reads every beam.
    full = _net("L")
    with torch.no_grad():
        assert not torch.equal(full(x), full(y))


# --------------------------------------------------------------------------- SB3 policy


@pytest.mark.parametrize("variant", ["L", "S"])
def test_policy_predict_equals_network(env_spaces, variant: str) -> None:
    rng = np.random.default_rng(3)
    policy = _policy(
        env_spaces, variant, scan_mean=rng.uniform(1, 5, N_BEAMS), scan_std=rng.uniform(1, 3)
    )
    assert isinstance(policy.action_net[-1], nn.Tanh)
    net = policy_to_network(policy)
    assert count_parameters(net) == PAPER_PARAMETERS[variant]
    assert torch.equal(net.features.scan_mean, policy.encoder.scan_mean)
    obs = _scans(5, seed=4).numpy()
    obs[0, 10] = np.nan
    batch_actions, _ = policy.predict(obs, deterministic=True)
    single_action, _ = policy.predict(obs[1], deterministic=True)
    with torch.no_grad():
        expected = net(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(batch_actions, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(single_action, expected[1], rtol=0, atol=1e-6)
    # The Gaussian mean itself is the tanh output (predict's clipping is a no-op).
    with torch.no_grad():
        dist = policy.get_distribution(torch.from_numpy(obs))
        torch.testing.assert_close(dist.mode(), torch.from_numpy(expected), rtol=0, atol=1e-6)


def test_network_into_policy_round_trip(env_spaces) -> None:
    net = _net("M", seed=5, scan_mean=3.0, scan_std=np.linspace(1, 2, N_BEAMS), max_range_m=25.0)
    policy = _policy(env_spaces, "M", seed=6)
    obs = _scans(6, seed=7).numpy()
    with torch.no_grad():
        expected = net(torch.from_numpy(obs)).numpy()
    assert not np.allclose(policy.predict(obs, deterministic=True)[0], expected)
    value_before = policy.value_net.weight.clone()
    network_into_policy(net, policy)
    np.testing.assert_allclose(policy.predict(obs, deterministic=True)[0], expected, atol=1e-6)
    assert torch.equal(policy.value_net.weight, value_before)  # critic untouched
    assert policy.encoder.max_range_m == 25.0
    back = policy_to_network(policy)
    ref = net.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in back.state_dict().items())
    assert back.max_range_m == 25.0
    with pytest.raises(ValueError, match="does not match the policy"):
        network_into_policy(_net("S"), policy)


def test_separate_critic_extractor(env_spaces) -> None:
    policy = _policy(env_spaces, "S", share_features_extractor=False)
    assert policy.vf_features_extractor is not policy.pi_features_extractor
    net = _net("S", seed=8)
    network_into_policy(net, policy)
    obs = _scans(3).numpy()
    with torch.no_grad():
        expected = net(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(policy.predict(obs, deterministic=True)[0], expected, atol=1e-6)
    np.testing.assert_allclose(
        policy_to_network(policy)(torch.from_numpy(obs)).detach().numpy(), expected, atol=1e-6
    )


def test_policy_defaults_and_bad_kwargs(env_spaces) -> None:
    policy = _policy(env_spaces)
    assert policy.encoder.max_range_m == float(env_spaces[0].high[0])
    assert [m.out_features for m in policy.mlp_extractor.value_net if isinstance(m, nn.Linear)] == [
        64,
        64,
    ]
    assert isinstance(policy.log_std, nn.Parameter) and policy.log_std.shape == (2,)
    assert torch.equal(_policy(env_spaces, log_std_init=-1.0).log_std.data, torch.full((2,), -1.0))
    vf = _policy(env_spaces, net_arch={"vf": [32]})
    assert [m.out_features for m in vf.mlp_extractor.value_net if isinstance(m, nn.Linear)] == [32]
    with pytest.raises(ValueError, match="actor of Tiny Lidar Net is fixed"):
        _policy(env_spaces, net_arch={"pi": [64, 64], "vf": [64]})
    with pytest.raises(ValueError, match="ReLU"):
        _policy(env_spaces, activation_fn=nn.Tanh)
    with pytest.raises(ValueError, match="features_extractor_class"):
        _policy(env_spaces, features_extractor_class=nn.Identity)


# imitation 1.0.1 logs float(loss) without detaching; not ours to fix.
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")
def test_policy_trains_with_imitation_bc(env_spaces, tmp_path) -> None:
    from imitation.algorithms import bc
    from imitation.data import types
    from imitation.util import logger as imit_logger

    obs_space, act_space = env_spaces
    policy = _policy(env_spaces, "S", seed=9, scan_mean=10.0, scan_std=8.0)
    rng = np.random.default_rng(10)
    obs = rng.uniform(0, 30, (64, N_BEAMS)).astype(np.float32)
    # A learnable target: steer towards the side with more free space, speed from the front beam.
    acts = np.stack(
        [np.tanh((obs[:, :540].mean(1) - obs[:, 541:].mean(1)) / 3), obs[:, 540] / 15 - 1], axis=1
    ).astype(np.float32)
    demos = types.Transitions(
        obs=obs,
        acts=acts,
        infos=np.array([{}] * len(obs)),
        next_obs=obs,
        dones=np.zeros(len(obs), dtype=bool),
    )
    trainer = bc.BC(
        observation_space=obs_space,
        action_space=act_space,
        rng=rng,
        policy=policy,
        demonstrations=demos,
        batch_size=32,
        optimizer_kwargs={"lr": 1e-3},
        custom_logger=imit_logger.configure(str(tmp_path), format_strs=[]),
    )
    assert trainer.policy is policy

    def loss() -> float:
        with torch.no_grad():
            return float(trainer.loss_calculator(policy, torch.tensor(obs), acts).loss)

    before_loss = loss()
    before = policy_to_network(policy).state_dict()
    torch.manual_seed(11)
    trainer.train(n_batches=30, progress_bar=False)
    after = policy_to_network(policy).state_dict()
    assert loss() < before_loss
    assert not torch.equal(after["head.0.weight"], before["head.0.weight"])
    assert not torch.equal(after["features.conv.0.weight"], before["features.conv.0.weight"])
    # BC trains weights, never the normalisation.
    assert torch.equal(after["features.scan_mean"], before["features.scan_mean"])

    # The dict-batch form of demonstrations (what a fast data loader yields) works too.
    batches = [
        {"obs": torch.tensor(obs[i : i + 32]), "acts": torch.tensor(acts[i : i + 32])}
        for i in range(0, 64, 32)
    ]
    trainer.set_demonstrations(batches)
    trainer.train(n_epochs=1, progress_bar=False)


def test_ppo_learns_with_the_policy(tmp_path) -> None:
    from stable_baselines3 import PPO

    env = gym.make("TinyLidar-v0", lidar={"n_beams": N_BEAMS})
    model = PPO(
        TinyLidarNetPolicy,
        env,
        policy_kwargs=dict(variant="S"),
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        seed=0,
        device="cpu",
    )
    assert isinstance(model.policy, TinyLidarNetPolicy)
    assert model.policy.encoder.variant == "S"
    before = policy_to_network(model.policy).state_dict()
    model.learn(64)
    after = policy_to_network(model.policy).state_dict()
    assert not torch.equal(before["head.0.weight"], after["head.0.weight"])
    assert count_parameters(policy_to_network(model.policy)) == PAPER_PARAMETERS["S"]

    # SB3's own checkpoint format round-trips too.
    obs, _ = env.reset(seed=1)
    model.save(tmp_path / "ppo.zip")
    loaded = PPO.load(tmp_path / "ppo.zip", device="cpu")
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    env.close()


def test_policy_save_load(env_spaces, tmp_path) -> None:
    rng = np.random.default_rng(12)
    policy = _policy(
        env_spaces,
        "M",
        seed=13,
        scan_mean=rng.uniform(1, 5, N_BEAMS),
        scan_std=rng.uniform(1, 3, N_BEAMS),
        log_std_init=-0.5,
        net_arch={"vf": [32, 32]},
        share_features_extractor=False,
    )
    path = tmp_path / "policy.pt"
    policy.save(str(path))
    # Plain-data checkpoint: loadable without unpickling any code.
    raw = torch.load(path, weights_only=True)
    assert isinstance(raw["data"]["scan_mean"], list)
    loaded = TinyLidarNetPolicy.load(str(path), device="cpu")
    assert loaded.encoder.variant == "M"
    assert loaded.net_arch == {"pi": [100, 50, 10], "vf": [32, 32]}
    assert not loaded.share_features_extractor
    assert torch.equal(loaded.log_std.data, policy.log_std.data)
    ref = policy.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items())
    obs = _scans(4, seed=14).numpy()
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], policy.predict(obs, deterministic=True)[0]
    )
    # Constructor data holds plain lists, so SB3-style cls(**data) reconstruction also works.
    data = policy._get_constructor_parameters()
    assert isinstance(data["scan_std"], list) and len(data["scan_std"]) == N_BEAMS
    rebuilt = TinyLidarNetPolicy(**data)
    assert torch.equal(rebuilt.encoder.scan_std, policy.encoder.scan_std)
