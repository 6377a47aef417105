"""Tiny Lidar Net (Zarrar et al. 2024): one raw LiDAR scan in, the env action out.

The network::

    scan (B, n_beams) float32, metres
      -> sanitise (NaN -> max_range, clamp to [0, max_range])
      -> normalise per beam ((x - mean) / std, buffers inside the model)
      -> decimate (L: every beam, M: every 2nd, S: every 4th)
      -> Conv1D(24, k10, s4) -> Conv1D(36, k8, s4) -> Conv1D(48, k4, s2)
      -> Conv1D(64, k3, s1) -> Conv1D(64, k3, s1)          (ReLU after each)
      -> Flatten -> Dense 100 -> 50 -> 10 (ReLU) -> Dense 2 -> tanh
    action (B, 2) in [-1, 1] = [steering, speed]  (see tinylidar_gym.envs.action)

Every variant takes the env's *full* scan and decimates internally, so an "M" or "S" model drives
the same env as an "L" model. With 1081 beams the parameter counts are the published ones
(:data:`PAPER_PARAMETERS`). Plain torch: the stable-baselines3 policy built from the same layers
is in :mod:`trainers.sb3_policy`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

Variant = Literal["L", "M", "S"]

VARIANT_STRIDE: dict[str, int] = {"L": 1, "M": 2, "S": 4}
"""Beam decimation per variant: the model reads ``scan[:, ::stride]``."""

CONV_LAYERS: tuple[tuple[int, int, int], ...] = (
    (24, 10, 4),
    (36, 8, 4),
    (48, 4, 2),
    (64, 3, 1),
    (64, 3, 1),
)
"""The published conv stack as (filters, kernel, stride); ReLU after each, no padding."""

HEAD_UNITS: tuple[int, ...] = (100, 50, 10)
"""Hidden dense layers (ReLU) between the flattened conv features and the 2-unit tanh output."""

N_ACTIONS = 2
"""[steering, speed], both in [-1, 1]."""

PAPER_PARAMETERS: dict[str, int] = {"L": 220_686, "M": 111_886, "S": 54_286}
"""Trainable parameters reported by Zarrar et al. (2024) for 1081-beam scans."""

MIN_STD = 1e-3
"""Floor for the per-beam std (metres): a beam that is constant in the data must not blow up."""

DEFAULT_MAX_RANGE_M = 30.0
"""Default sensor range (LidarConfig.max_range_m): NaN readings and larger ranges map to this."""

ArrayLike = np.ndarray | torch.Tensor | Sequence[float] | float


# --------------------------------------------------------------------------- shapes


def _check_variant(variant: str) -> None:
    if variant not in VARIANT_STRIDE:
        raise ValueError(f"variant must be one of 'L', 'M', 'S', got {variant!r}.")


def decimated_beams(n_beams: int, variant: Variant = "L") -> int:
    """Number of beams the conv stack sees: ``len(range(0, n_beams, stride))``."""
    _check_variant(variant)
    if not isinstance(n_beams, int | np.integer) or isinstance(n_beams, bool) or n_beams < 1:
        raise ValueError(f"n_beams must be a positive integer, got {n_beams!r}.")
    return math.ceil(int(n_beams) / VARIANT_STRIDE[variant])


def conv_output_lengths(n_beams: int, variant: Variant = "L") -> list[int]:
    """Sequence length after each conv layer (no padding: ``(L - kernel) // stride + 1``).

    Raises ``ValueError`` when the (decimated) scan is too short for the conv stack.
    """
    length = decimated_beams(n_beams, variant)
    lengths = []
    for i, (_, kernel, stride) in enumerate(CONV_LAYERS):
        if length < kernel:
            raise ValueError(
                f"n_beams={n_beams} is too small for TinyLidarNet variant {variant!r}: conv layer "
                f"{i + 1} (kernel {kernel}) gets a sequence of length {length}. Variant "
                f"{variant!r} needs n_beams >= {min_beams(variant)}."
            )
        length = (length - kernel) // stride + 1
        lengths.append(length)
    return lengths


def min_beams(variant: Variant = "L") -> int:
    """Smallest scan length (full, before decimation) that the conv stack accepts."""
    _check_variant(variant)
    # Walk the stack backwards: a layer needs (out - 1) * stride + kernel inputs for out outputs.
    length = 1
    for _, kernel, stride in reversed(CONV_LAYERS):
        length = (length - 1) * stride + kernel
    return (length - 1) * VARIANT_STRIDE[variant] + 1


def flattened_features(n_beams: int, variant: Variant = "L") -> int:
    """Size of the flattened conv output = input size of the first dense layer."""
    return CONV_LAYERS[-1][0] * conv_output_lengths(n_beams, variant)[-1]


def expected_parameters(n_beams: int = 1081, variant: Variant = "L") -> int:
    """Trainable parameter count computed from the layer shapes (weights + biases)."""
    total = 0
    in_channels = 1
    for filters, kernel, _ in CONV_LAYERS:
        total += in_channels * kernel * filters + filters
        in_channels = filters
    fan_in = flattened_features(n_beams, variant)
    for units in (*HEAD_UNITS, N_ACTIONS):
        total += fan_in * units + units
        fan_in = units
    return total


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module`` (buffers such as the normalisation excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- network


def _per_beam(value: ArrayLike | None, n_beams: int, default: float, name: str) -> torch.Tensor:
    """``value`` as a float32 (n_beams,) tensor; a scalar is broadcast, None gives ``default``."""
    if value is None:
        return torch.full((n_beams,), default, dtype=torch.float32)
    if isinstance(value, torch.Tensor):
        t = value.detach().to(device="cpu", dtype=torch.float32).clone()
    else:
        t = torch.as_tensor(np.asarray(value, dtype=np.float32).copy())
    if t.ndim == 0:
        t = t.expand(n_beams).clone()
    if tuple(t.shape) != (n_beams,):
        raise ValueError(
            f"{name} must be a scalar or have shape ({n_beams},) (one value per beam), "
            f"got shape {tuple(t.shape)}."
        )
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite.")
    return t


class LidarEncoder(nn.Module):
    """Sanitise + normalise + decimate + conv stack + flatten: the feature part of the network.

    Input: raw scan (B, n_beams) in metres (any float dtype; computed in float32).
    Output: features (B, features_dim), ``features_dim = 64 * final conv length``.

    Buffers (saved with the weights): ``scan_mean``, ``scan_std`` of shape (n_beams,), metres.
    """

    def __init__(
        self,
        n_beams: int = 1081,
        variant: Variant = "L",
        scan_mean: ArrayLike | None = None,
        scan_std: ArrayLike | None = None,
        max_range_m: float = DEFAULT_MAX_RANGE_M,
    ) -> None:
        super().__init__()
        _check_variant(variant)
        if not (
            isinstance(max_range_m, numbers.Real) and math.isfinite(max_range_m) and max_range_m > 0
        ):
            raise ValueError(f"max_range_m must be a finite number > 0, got {max_range_m!r}.")
        self.features_dim = flattened_features(n_beams, variant)  # validates n_beams
        self.n_beams = int(n_beams)
        self.variant: Variant = variant
        self.stride = VARIANT_STRIDE[variant]
        self.max_range_m = float(max_range_m)
        self.register_buffer("scan_mean", _per_beam(scan_mean, self.n_beams, 0.0, "scan_mean"))
        std = _per_beam(scan_std, self.n_beams, 1.0, "scan_std")
        self.register_buffer("scan_std", std.clamp_min(MIN_STD))
        layers: list[nn.Module] = []
        in_channels = 1
        for filters, kernel, stride in CONV_LAYERS:
            layers += [nn.Conv1d(in_channels, filters, kernel, stride), nn.ReLU()]
            in_channels = filters
        self.conv = nn.Sequential(*layers)

    def extra_repr(self) -> str:
        return f"n_beams={self.n_beams}, variant={self.variant!r}, max_range_m={self.max_range_m}"

    def normalise(self, scan: torch.Tensor) -> torch.Tensor:
        """Sanitised, normalised, decimated scan: (B, n_beams) metres -> (B, ceil(n/stride))."""
        if not torch.jit.is_tracing():  # shape checks would be baked into an ONNX trace
            if scan.ndim != 2 or scan.shape[1] != self.n_beams:
                raise ValueError(
                    f"TinyLidarNet expects scans of shape (batch, {self.n_beams}), "
                    f"got {tuple(scan.shape)}."
                )
        mean, std = self.scan_mean, self.scan_std
        if self.stride > 1:
            # Every step below is per beam, so decimating first gives exactly the same result as
            # normalising the full scan, with less work.
            scan = scan[:, :: self.stride]
            mean, std = mean[:: self.stride], std[:: self.stride]
        x = scan.to(mean.dtype)
        # A NaN reading (dropout) means "nothing seen"; +inf/-inf and out-of-range values are
        # clamped so one bad beam cannot push activations far outside the training distribution.
        x = torch.where(torch.isnan(x), torch.full_like(x, self.max_range_m), x)
        x = x.clamp(0.0, self.max_range_m)
        # The floor is re-applied here because loaded buffers bypass the constructor.
        return (x - mean) / std.clamp_min(MIN_STD)

    def forward(self, scan: torch.Tensor) -> torch.Tensor:
        """(B, n_beams) metres -> (B, features_dim)."""
        x = self.normalise(scan).unsqueeze(1)  # (B, 1, L): one input channel
        return self.conv(x).flatten(1)


def _make_head(features_dim: int) -> nn.Sequential:
    """Dense 100 -> 50 -> 10 (ReLU) -> Dense 2 -> tanh."""
    layers: list[nn.Module] = []
    fan_in = features_dim
    for units in HEAD_UNITS:
        layers += [nn.Linear(fan_in, units), nn.ReLU()]
        fan_in = units
    layers += [nn.Linear(fan_in, N_ACTIONS), nn.Tanh()]
    return nn.Sequential(*layers)


class TinyLidarNet(nn.Module):
    """Tiny Lidar Net: raw scan (B, n_beams) metres -> action (B, 2) in [-1, 1].

    Args:
        n_beams: length of the env's scan (the model input), before decimation.
        variant: "L" (all beams), "M" (every 2nd beam) or "S" (every 4th beam).
        scan_mean: per-beam mean in metres, scalar or (n_beams,); default 0.
        scan_std: per-beam std in metres, scalar or (n_beams,); default 1; floored at 1e-3.
        max_range_m: NaN readings become this; inputs are clamped to [0, max_range_m].

    Submodules: ``features`` (:class:`LidarEncoder`) and ``head`` (dense layers, indices
    0, 2, 4, 6 are the Linear layers, 7 is the tanh).
    """

    def __init__(
        self,
        n_beams: int = 1081,
        variant: Variant = "L",
        scan_mean: ArrayLike | None = None,
        scan_std: ArrayLike | None = None,
        max_range_m: float = DEFAULT_MAX_RANGE_M,
    ) -> None:
        super().__init__()
        self.features = LidarEncoder(n_beams, variant, scan_mean, scan_std, max_range_m)
        self.head = _make_head(self.features.features_dim)

    @property
    def n_beams(self) -> int:
        """Input scan length."""
        return self.features.n_beams

    @property
    def variant(self) -> Variant:
        """ "L", "M" or "S"."""
        return self.features.variant

    @property
    def max_range_m(self) -> float:
        """Clamp / NaN replacement range in metres."""
        return self.features.max_range_m

    def forward(self, scan: torch.Tensor) -> torch.Tensor:
        """(B, n_beams) float metres -> (B, 2) float32 in [-1, 1] = [steering, speed]."""
        return self.head(self.features(scan))
