"""Tiny Lidar Net and its stable-baselines3 policy, under one name.

The network (plain torch) is in :mod:`trainers.network`, the SB3 policy and the weight copies
between the two in :mod:`trainers.sb3_policy`; this module gathers both so that
``from trainers.models import TinyLidarNet, TinyLidarNetPolicy`` keeps working. Code that needs
only the network (export, driving a saved model) imports :mod:`trainers.network` and never loads
stable-baselines3.
"""

from __future__ import annotations

from trainers.network import (
    CONV_LAYERS,
    DEFAULT_MAX_RANGE_M,
    HEAD_UNITS,
    MIN_STD,
    N_ACTIONS,
    PAPER_PARAMETERS,
    VARIANT_STRIDE,
    ArrayLike,
    LidarEncoder,
    TinyLidarNet,
    Variant,
    conv_output_lengths,
    count_parameters,
    decimated_beams,
    expected_parameters,
    flattened_features,
    min_beams,
)
from trainers.sb3_policy import (
    TinyLidarNetFeatures,
    TinyLidarNetPolicy,
    network_into_policy,
    policy_to_network,
)

__all__ = [
    "CONV_LAYERS",
    "DEFAULT_MAX_RANGE_M",
    "HEAD_UNITS",
    "MIN_STD",
    "N_ACTIONS",
    "PAPER_PARAMETERS",
    "VARIANT_STRIDE",
    "ArrayLike",
    "LidarEncoder",
    "TinyLidarNet",
    "TinyLidarNetFeatures",
    "TinyLidarNetPolicy",
    "Variant",
    "conv_output_lengths",
    "count_parameters",
    "decimated_beams",
    "expected_parameters",
    "flattened_features",
    "min_beams",
    "network_into_policy",
    "policy_to_network",
]
