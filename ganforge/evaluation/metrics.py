"""Colorization metrics, batched in torch: each returns one value per image.

Inputs are sRGB batches ``(B, 3, H, W)`` in [0, 1] unless said otherwise; ab
errors are in CIE L*a*b* units whatever color space the model works in.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from ganforge.core.colormath import rgb_to_lab

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

    With ``pixel_weights`` ``(B, H, W)`` (e.g. :func:`rarity_weights`) every pixel
    counts in proportion to its weight, so rare saturated colors matter as much as
    common ones (the rebalanced AuC of Zhang et al.). Memory is linear in the pixels:
    each error is bucketed to its first threshold, then the buckets are summed up.
    """
    error = ab_error(prediction, truth).flatten(1)
    weights = torch.ones_like(error) if pixel_weights is None else pixel_weights.flatten(1).float()
    thresholds = AUC_THRESHOLDS.to(error.device)
    first_within = torch.bucketize(error, thresholds)  # index of the smallest threshold >= error (151: none)
    mass = torch.zeros(error.shape[0], len(thresholds) + 1, device=error.device).scatter_add_(1, first_within, weights)
    cumulative = mass[:, :-1].cumsum(1) / weights.sum(1, keepdim=True)
    return cumulative.mean(1)


def rarity_weights(truth: torch.Tensor, grid: float = 10.0) -> torch.Tensor:
    """Per-pixel weights ``(B, H, W)`` inversely proportional to how common each pixel's true color is.

    Colors are binned on a ``grid``-unit ab lattice (Zhang et al.'s bins) and their
    frequency is counted over the whole batch, so pass every evaluation image at once.
    """
    cells = torch.floor(rgb_to_lab(truth.float())[:, 1:] / grid).long() + 20  # ab in [-128, 128) -> 0..39
    index = cells[:, 0] * 64 + cells[:, 1]
    counts = torch.bincount(index.flatten(), minlength=64 * 64).float()
    weights = 1.0 / counts[index]
    return weights / weights.mean()


NEUTRAL_CHROMA = 6.0  # ab units: a pixel this close to gray in the original counts as near-neutral


def neutral_cast(
    prediction: torch.Tensor, truth: torch.Tensor, threshold: float = NEUTRAL_CHROMA
) -> tuple[torch.Tensor, torch.Tensor]:
    """Color cast on whites, grays and blacks: the mean b* and the mean chroma of the colorization,
    over the pixels that are near-neutral (chroma < ``threshold``) in the original, per image.

    A model that tints whites cream shows a positive b*; NaN for an image with
    fewer than 1 % near-neutral pixels (nothing to judge).
    """
    ab_true = rgb_to_lab(truth.float())[:, 1:]
    ab_pred = rgb_to_lab(prediction.float())[:, 1:]
    neutral = (ab_true.pow(2).sum(1).sqrt() < threshold).flatten(1).float()
    count = neutral.sum(1)
    b_mean = (ab_pred[:, 1].flatten(1) * neutral).sum(1) / count.clamp_min(1)
    chroma_mean = (ab_pred.pow(2).sum(1).sqrt().flatten(1) * neutral).sum(1) / count.clamp_min(1)
    enough = count >= 0.01 * neutral.shape[1]
    nan = torch.full_like(b_mean, float("nan"))
    return torch.where(enough, b_mean, nan), torch.where(enough, chroma_mean, nan)


def ssim(prediction: torch.Tensor, truth: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), Gaussian window, data range 1, averaged over channels.

    The constants and window follow the paper (K1 = 0.01, K2 = 0.03), with
    population (not sample) statistics and only fully covered windows counted.
    """
    x, y = prediction.float(), truth.float()
    channels = x.shape[1]
    coords = torch.arange(window, dtype=torch.float32, device=x.device) - (window - 1) / 2
    kernel_1d = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel_1d = kernel_1d / kernel_1d.sum()
    kernel = (kernel_1d[:, None] * kernel_1d[None, :]).expand(channels, 1, window, window)

    def blur(image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(image, kernel, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return index.flatten(1).mean(1)


def diversity(samples: torch.Tensor) -> torch.Tensor:
    """Mean pairwise ab distance between N colorizations of each image: ``(N, B, 3, H, W)`` -> ``(B,)``."""
    if samples.shape[0] < 2:
        raise ValueError("diversity needs at least two samples per image")
    ab = torch.stack([rgb_to_lab(s.float())[:, 1:] for s in samples])
    pairs = [
        (ab[i] - ab[j]).pow(2).sum(1).sqrt().flatten(1).mean(1) for i, j in itertools.combinations(range(len(ab)), 2)
    ]
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


def warp_error(chroma: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Per-pixel chroma change along known motion, ``(T, H, W)`` (0 in frame 0).

    ``chroma`` ``(T, C, H, W)``; ``flow`` ``(T, 2, H, W)``: pixel ``p`` of frame ``t`` was at
    ``p + flow[t](p)`` in frame ``t - 1`` (as :class:`ganforge.video.clips.Clip` carries it). The mean
    absolute channel difference between each pixel and the previous frame's chroma there
    (bilinear): flicker where things move, which :func:`flicker` cannot see. Average it over
    the pixels where the flow holds.
    """
    frames, _, height, width = chroma.shape
    y, x = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    points = torch.stack([x + flow[1:, 0], y + flow[1:, 1]], dim=-1)
    grid = points / torch.tensor([max(width - 1, 1), max(height - 1, 1)]) * 2 - 1
    previous = F.grid_sample(chroma[:-1].float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    error = (chroma[1:].float() - previous).abs().mean(1)
    return torch.cat([torch.zeros(1, height, width), error])
