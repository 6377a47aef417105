"""Scan augmentation applied to training batches: range noise, beam dropout, range clipping.

Pseudo-positions (scans re-cast from offset poses, labelled by the expert) are generated once
before training instead (:func:`tinylidar_gym.data.relabel.pseudo_positions`): they need the
simulator and the expert, not just the scan.
"""

from __future__ import annotations

import torch

from trainers.configs import AugmentConfig


def augment_scans(
    scans: torch.Tensor, cfg: AugmentConfig, max_range_m: float, generator: torch.Generator
) -> torch.Tensor:
    """A new (B, n_beams) batch of ranges in metres with ``cfg``'s perturbations applied.

    Order: clipping (a shorter-range sensor saturates at its limit), dropout (a beam with no
    return reads ``max_range_m``), then Gaussian range noise; the result stays in
    ``[0, max_range_m]``. The input is not modified.
    """
    out = scans.clone()
    b, n = out.shape
    if cfg.range_clip_prob > 0:
        limit = torch.full((b, 1), max_range_m, dtype=out.dtype)
        lo = min(cfg.range_clip_min_m, max_range_m)
        draw = lo + torch.rand((b, 1), generator=generator, dtype=out.dtype) * (max_range_m - lo)
        hit = torch.rand((b, 1), generator=generator) < cfg.range_clip_prob
        limit = torch.where(hit, draw, limit).to(out.device)
        out = torch.minimum(out, limit)
    if cfg.beam_dropout_prob > 0:
        drop = torch.rand((b, n), generator=generator) < cfg.beam_dropout_prob
        out = out.masked_fill(drop.to(out.device), max_range_m)
    if cfg.scan_noise_std_m > 0:
        noise = torch.randn((b, n), generator=generator, dtype=out.dtype) * cfg.scan_noise_std_m
        out = (out + noise.to(out.device)).clamp_(0.0, max_range_m)
    return out
