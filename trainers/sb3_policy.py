"""Tiny Lidar Net as a stable-baselines3 policy, and weight copies between the two forms.

:class:`TinyLidarNetPolicy` is an SB3 ``ActorCriticPolicy`` whose deterministic action is exactly
:class:`~trainers.network.TinyLidarNet`, so the same weights train by BC/DAgger (imitation) and
PPO (SB3); :func:`policy_to_network` and :func:`network_into_policy` copy weights between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from trainers.network import (
    DEFAULT_MAX_RANGE_M,
    HEAD_UNITS,
    N_ACTIONS,
    ArrayLike,
    LidarEncoder,
    TinyLidarNet,
    Variant,
)

# --------------------------------------------------------------------------- SB3 policy


class TinyLidarNetFeatures(BaseFeaturesExtractor):
    """SB3 features extractor: the :class:`LidarEncoder` of Tiny Lidar Net.

    Observation: ``Box`` of shape (n_beams,), raw ranges in metres. Features: (B, features_dim).
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        variant: Variant = "L",
        scan_mean: ArrayLike | None = None,
        scan_std: ArrayLike | None = None,
        max_range_m: float = DEFAULT_MAX_RANGE_M,
    ) -> None:
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(
                "TinyLidarNet needs a 1-D Box observation space (one scan), "
                f"got {observation_space}."
            )
        encoder = LidarEncoder(
            observation_space.shape[0], variant, scan_mean, scan_std, max_range_m
        )
        super().__init__(observation_space, encoder.features_dim)
        self.encoder = encoder

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """(B, n_beams) metres -> (B, features_dim)."""
        return self.encoder(observations)


def _space_max_range(space: spaces.Space) -> float:
    """The observation space's common upper bound if finite, else the default 30 m."""
    high = getattr(space, "high", None)
    if high is not None and np.all(np.isfinite(high)) and np.all(high == high.flat[0]):
        return float(high.flat[0])
    return DEFAULT_MAX_RANGE_M


def _box_to_dict(space: spaces.Box) -> dict[str, Any]:
    return {
        "low": space.low.tolist(),
        "high": space.high.tolist(),
        "shape": list(space.shape),
        "dtype": str(space.dtype),
    }


def _box_from_dict(data: dict[str, Any]) -> spaces.Box:
    dtype = np.dtype(data["dtype"])
    return spaces.Box(
        np.asarray(data["low"], dtype=dtype).reshape(data["shape"]),
        np.asarray(data["high"], dtype=dtype).reshape(data["shape"]),
        dtype=dtype,
    )


def _constant_schedule(_progress_remaining: float) -> float:
    """Stand-in learning rate for a policy loaded on its own (its optimizer is not restored)."""
    return 0.0


class TinyLidarNetPolicy(ActorCriticPolicy):
    """Actor-critic policy whose deterministic action is exactly :class:`TinyLidarNet`.

    - features extractor: :class:`TinyLidarNetFeatures` (normalise + decimate + convs + flatten);
    - actor: MLP [100, 50, 10] (ReLU) then Linear(10, 2) + tanh = the Gaussian mean;
    - critic: MLP ``net_arch["vf"]`` (default [64, 64], ReLU) + Linear(., 1) (SB3's value head);
    - state-independent learnable ``log_std`` (SB3 default, ``log_std_init``).

    Use it directly for imitation's ``bc.BC(policy=...)``/DAgger, or as ``PPO(TinyLidarNetPolicy,
    env, policy_kwargs=dict(variant="S"))``. ``max_range_m=None`` takes the observation space's
    upper bound (the env's LidarConfig.max_range_m). ``save``/``load`` are pickle-free.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Callable[[float], float],
        variant: Variant = "L",
        scan_mean: ArrayLike | None = None,
        scan_std: ArrayLike | None = None,
        max_range_m: float | None = None,
        net_arch: dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        **kwargs: Any,
    ) -> None:
        for key in ("features_extractor_class", "features_extractor_kwargs"):
            if kwargs.pop(key, None) is not None:
                raise ValueError(
                    f"TinyLidarNetPolicy sets {key} itself; pass variant, scan_mean, scan_std "
                    "and max_range_m instead."
                )
        if kwargs.get("use_sde", False):
            raise ValueError(
                "TinyLidarNetPolicy supports only the diagonal Gaussian (use_sde=False)."
            )
        if activation_fn is not nn.ReLU:
            raise ValueError(f"Tiny Lidar Net uses ReLU, got activation_fn={activation_fn}.")
        if not (isinstance(action_space, spaces.Box) and action_space.shape == (N_ACTIONS,)):
            raise ValueError(f"action_space must be Box of shape (2,), got {action_space}.")
        arch = {"pi": list(HEAD_UNITS), "vf": [64, 64]}
        if net_arch is not None:
            if not isinstance(net_arch, dict) or set(net_arch) - {"pi", "vf"}:
                raise ValueError(f"net_arch must be dict(pi=..., vf=...), got {net_arch!r}.")
            if list(net_arch.get("pi", HEAD_UNITS)) != list(HEAD_UNITS):
                raise ValueError(
                    f"The actor of Tiny Lidar Net is fixed at {list(HEAD_UNITS)}, "
                    f"got net_arch['pi']={net_arch['pi']}; only net_arch['vf'] can change."
                )
            arch["vf"] = [int(u) for u in net_arch.get("vf", arch["vf"])]
        if max_range_m is None:
            max_range_m = _space_max_range(observation_space)
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=arch,
            activation_fn=nn.ReLU,
            features_extractor_class=TinyLidarNetFeatures,
            features_extractor_kwargs={
                "variant": variant,
                "scan_mean": scan_mean,
                "scan_std": scan_std,
                "max_range_m": float(max_range_m),
            },
            **kwargs,
        )

    def _build(self, lr_schedule: Callable[[float], float]) -> None:
        super()._build(lr_schedule)
        # Wrap the existing Linear(10, 2) rather than replacing it: the optimizer created in
        # super()._build already holds its parameters, and the ortho init (gain 0.01) is kept.
        self.action_net = nn.Sequential(self.action_net, nn.Tanh())

    @property
    def encoder(self) -> LidarEncoder:
        """The actor's :class:`LidarEncoder` (shared with the critic by default)."""
        return self.pi_features_extractor.encoder

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        del data["features_extractor_class"], data["features_extractor_kwargs"]
        enc = self.encoder
        # Read the live encoder (not the constructor arguments) so that weights loaded by
        # network_into_policy carry their normalisation into a saved policy; lists, not arrays,
        # so the data is plain Python.
        data.update(
            # SB3 2.2 leaves this out, so a non-shared critic would not survive save/load.
            share_features_extractor=self.share_features_extractor,
            variant=enc.variant,
            scan_mean=enc.scan_mean.cpu().tolist(),
            scan_std=enc.scan_std.cpu().tolist(),
            max_range_m=enc.max_range_m,
        )
        return data

    def save(self, path: str) -> None:
        """Write the weights and constructor arguments; :meth:`load` restores them.

        Same layout as SB3 (``{"state_dict", "data"}`` via ``torch.save``) but ``data`` holds only
        plain Python values (spaces as low/high lists, the optimizer by name), so ``load`` works
        with ``torch.load(weights_only=True)`` and never unpickles code.
        """
        data = self._get_constructor_parameters()
        data.pop("lr_schedule")
        data.pop("activation_fn")  # always ReLU
        data["observation_space"] = _box_to_dict(data["observation_space"])
        data["action_space"] = _box_to_dict(data["action_space"])
        opt = data.pop("optimizer_class")
        if getattr(torch.optim, opt.__name__, None) is not opt:
            raise ValueError(f"Only torch.optim optimizers can be saved, got {opt}.")
        data["optimizer_class"] = opt.__name__
        torch.save({"state_dict": self.state_dict(), "data": data}, path)

    @classmethod
    def load(cls, path: str, device: torch.device | str = "auto") -> TinyLidarNetPolicy:
        """Load a policy written by :meth:`save` (``torch.load(weights_only=True)``)."""
        from stable_baselines3.common.utils import get_device

        device = get_device(device)
        saved = torch.load(path, map_location=device, weights_only=True)
        data = dict(saved["data"])
        data["observation_space"] = _box_from_dict(data["observation_space"])
        data["action_space"] = _box_from_dict(data["action_space"])
        data["optimizer_class"] = getattr(torch.optim, data["optimizer_class"])
        model = cls(lr_schedule=_constant_schedule, **data)
        model.load_state_dict(saved["state_dict"])
        model.to(device)
        return model


# --------------------------------------------------------------------------- conversions


def _linears(seq: nn.Sequential) -> list[nn.Linear]:
    return [m for m in seq if isinstance(m, nn.Linear)]


def _copy_linear(dst: nn.Linear, src: nn.Linear) -> None:
    if dst.weight.shape != src.weight.shape:
        raise ValueError(f"Linear shape mismatch: {tuple(src.weight.shape)} -> {dst.weight.shape}.")
    dst.weight.copy_(src.weight)
    dst.bias.copy_(src.bias)


def _check_compatible(net: TinyLidarNet, enc: LidarEncoder) -> None:
    if (net.n_beams, net.variant) != (enc.n_beams, enc.variant):
        raise ValueError(
            f"TinyLidarNet(n_beams={net.n_beams}, variant={net.variant!r}) does not match the "
            f"policy (n_beams={enc.n_beams}, variant={enc.variant!r})."
        )


@torch.no_grad()
def policy_to_network(policy: TinyLidarNetPolicy) -> TinyLidarNet:
    """A CPU :class:`TinyLidarNet` (eval mode) computing ``policy``'s deterministic action.

    Copies the actor's features extractor (incl. normalisation), policy MLP and action head; the
    critic and ``log_std`` are not part of the network.
    """
    enc = policy.encoder
    net = TinyLidarNet(enc.n_beams, enc.variant, max_range_m=enc.max_range_m)
    net.features.load_state_dict({k: v.cpu() for k, v in enc.state_dict().items()})
    src = [*_linears(policy.mlp_extractor.policy_net), *_linears(policy.action_net)]
    dst = _linears(net.head)
    if len(src) != len(dst):
        raise ValueError(f"Policy has {len(src)} actor Linear layers, TinyLidarNet {len(dst)}.")
    for d, s in zip(dst, src, strict=True):
        _copy_linear(d, s)
    return net.eval()


@torch.no_grad()
def network_into_policy(net: TinyLidarNet, policy: TinyLidarNetPolicy) -> None:
    """Load ``net``'s weights and normalisation into ``policy``'s actor, in place.

    E.g. to start PPO from BC weights. The critic and ``log_std`` are left as they are; with a
    separate critic features extractor (``share_features_extractor=False``) its encoder is
    initialised from ``net`` too.
    """
    encoders = [policy.pi_features_extractor.encoder]
    if policy.vf_features_extractor is not policy.pi_features_extractor:
        encoders.append(policy.vf_features_extractor.encoder)
    for enc in encoders:  # check all before changing anything
        _check_compatible(net, enc)
    for enc in encoders:
        enc.load_state_dict(net.features.state_dict())
        enc.max_range_m = net.max_range_m
    src = _linears(net.head)
    dst = [*_linears(policy.mlp_extractor.policy_net), *_linears(policy.action_net)]
    for d, s in zip(dst, src, strict=True):
        _copy_linear(d, s)
