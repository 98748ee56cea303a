"""Colorization metrics, batched in torch: each returns one value per image.

Inputs are sRGB batches ``(B, 3, H, W)`` in [0, 1] unless said otherwise; ab
errors are in CIE L*a*b* units whatever color space the model works in.
"""

from __future__ import annotations

import itertools

import torch

from .colormath import rgb_to_lab

AUC_THRESHOLDS = torch.arange(0, 151, dtype=torch.float32)  # Zhang et al. 2016: 0..150 in steps of 1


def psnr(prediction: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB (data range 1)."""
    mse = (prediction.float() - truth.float()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-12))


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) colorfulness, on the 0-255 scale they define it on."""
    r, g, b = (rgb.float() * 255.0).unbind(dim=1)
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    spread = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mean = torch.sqrt(rg.mean(1).pow(2) + yb.mean(1).pow(2))
    return spread + 0.3 * mean


def ab_error(prediction: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-pixel Euclidean distance in the ab plane, ``(B, H, W)``."""
    ab_pred, ab_true = rgb_to_lab(prediction.float())[:, 1:], rgb_to_lab(truth.float())[:, 1:]
    return (ab_pred - ab_true).pow(2).sum(1).sqrt()


def auc(prediction: torch.Tensor, truth: torch.Tensor, pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Area under the cumulative per-pixel ab-error curve over thresholds 0..150, normalised to [0, 1].

    With ``pixel_weights`` ``(B, H, W)`` (e.g. class-rebalancing weights of each
    pixel's true color) every pixel counts in proportion to its weight, so rare
    saturated colors matter as much as common ones (the rebalanced AuC of Zhang et al.).
    """
    error = ab_error(prediction, truth).flatten(1)
    weights = torch.ones_like(error) if pixel_weights is None else pixel_weights.flatten(1).float()
    thresholds = AUC_THRESHOLDS.to(error.device)
    within = (error[:, :, None] <= thresholds).float()  # (B, pixels, thresholds)
    cumulative = (within * weights[:, :, None]).sum(1) / weights.sum(1, keepdim=True)
    return cumulative.mean(1)


def diversity(samples: torch.Tensor) -> torch.Tensor:
    """Mean pairwise ab distance between N colorizations of each image: ``(N, B, 3, H, W)`` -> ``(B,)``."""
    if samples.shape[0] < 2:
        raise ValueError("diversity needs at least two samples per image")
    ab = torch.stack([rgb_to_lab(s.float())[:, 1:] for s in samples])
    pairs = [(ab[i] - ab[j]).pow(2).sum(1).sqrt().flatten(1).mean(1) for i, j in itertools.combinations(range(len(ab)), 2)]
    return torch.stack(pairs).mean(0)


def flicker(chroma: torch.Tensor, gray: torch.Tensor, still: float = 0.02) -> torch.Tensor:
    """Temporal flicker of a video: mean absolute change of the chroma channels between consecutive
    frames, over the pixels whose gray value barely changed (< ``still``), i.e. where color should not move.

    ``chroma`` ``(T, C, H, W)`` (e.g. a*b*), ``gray`` ``(T, 1, H, W)`` in [0, 1].
    """
    change = (chroma[1:].float() - chroma[:-1].float()).abs().mean(1)
    steady = (gray[1:].float() - gray[:-1].float()).abs()[:, 0] < still
    if not steady.any():
        raise ValueError("no pixel stays still between frames: flicker is undefined for this clip")
    return change[steady].mean()
