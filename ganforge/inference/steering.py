"""Steering a classification model's colors: its own suggestions at a point, and a reference photo's palette.

A classification model predicts, per pixel, a distribution over ab bins. Where it is unsure, the
distribution has several peaks: :func:`suggestions` lists the strongest distinct ones at a point, as
the colors a user may pick from (Zhang et al. 2017's "suggested colors"). A color photo of the same
scene or era says which colors to expect: :func:`palette_bias` turns its ab-bin histogram, against what
the model guesses for the reference made gray, into a bias on the logits, so the annealed mean leans
toward the colors the reference has, with no training.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ganforge.core.colormath import lab_to_rgb, lightness_of_gray, rgb_to_lab
from ganforge.core.errors import UsageError

DISTINCT = 15.0  # ab units between two suggestions: about where a color reads as another shade
PALETTE_SIDE = 128  # the reference is counted at this short side: its palette, not its detail
PALETTE_SIGMA = 5.0  # Gaussian spread of each counted pixel over nearby bins, in ab units (as the rebalancing's)
PALETTE_FLOOR = 1e-3  # bins the reference lacks are dimmed by log(floor / share), never forbidden


class Suggestion(NamedTuple):
    """A color the model finds plausible at a pixel: 8-bit sRGB at the pixel's lightness, and its probability."""

    color: tuple[int, int, int]
    probability: float


def probabilities_at(probabilities: torch.Tensor, point: tuple[float, float], size: tuple[int, int]) -> torch.Tensor:
    """The bin probabilities ``(Q,)`` at ``point`` (x, y in pixels of a ``size`` = (width, height) picture),
    read bilinearly from a ``(1, Q, h, w)`` map that covers the whole picture."""
    (x, y), (width, height) = point, size
    if not (0 <= x < width and 0 <= y < height):
        raise UsageError(
            f"point ({x:g}, {y:g}) is outside the {width} x {height} photo; x counts from 0 to {width - 1}, y to {height - 1}"
        )
    grid = torch.tensor([[[[(x + 0.5) / width * 2 - 1, (y + 0.5) / height * 2 - 1]]]], dtype=probabilities.dtype)
    return F.grid_sample(probabilities, grid.to(probabilities.device), align_corners=False)[0, :, 0, 0]


def suggestions(probabilities: torch.Tensor, centers: torch.Tensor, gray: float, k: int) -> list[Suggestion]:
    """The ``k`` most probable bins whose colors, as shown at the lightness of ``gray`` (an sRGB gray value in
    [0, 1]), lie at least :data:`DISTINCT` apart."""
    if k < 1:
        raise UsageError(f"k (how many suggestions) must be at least 1, got {k}")
    lightness = float(lightness_of_gray(torch.tensor(gray)))
    rgb, ab = _in_gamut(lightness, centers.float().cpu())
    chosen: list[int] = []
    for index in probabilities.argsort(descending=True).tolist():
        if all(float((ab[index] - ab[other]).norm()) >= DISTINCT for other in chosen):
            chosen.append(index)
        if len(chosen) == k:
            break
    return [
        Suggestion(tuple(int(round(float(v) * 255)) for v in rgb[index]), float(probabilities[index]))  # type: ignore[arg-type]
        for index in chosen
    ]


def _in_gamut(lightness: float, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sRGB ``(N, 3)`` of each a*b* at ``lightness``, and the a*b* shown, its chroma reduced (hue and lightness
    kept) until it fits in sRGB: clipping the channels instead would change the lightness the user sees."""
    scales = torch.linspace(1, 0, 21)  # from the bin's own chroma down to gray, in 5 % steps
    lab = torch.cat([torch.full((len(ab), len(scales), 1), lightness), ab[:, None] * scales[None, :, None]], dim=2)
    rgb = lab_to_rgb(lab.permute(2, 0, 1)[None], clip=False)[0].permute(1, 2, 0)  # (N, scales, 3)
    fits = ((rgb >= -1e-4) & (rgb <= 1 + 1e-4)).all(-1)
    first = fits.float().argmax(1)  # the largest scale that fits (gray always does)
    return rgb[torch.arange(len(ab)), first].clamp(0, 1), ab * scales[first, None]


def palette(reference: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """The share of a color photo's pixels per ab bin ``(Q,)``, each pixel spread over nearby bins.

    ``reference``: sRGB ``(1, 3, H, W)`` in [0, 1]. A gray photo has no palette to give.
    """
    scale = PALETTE_SIDE / min(reference.shape[-2:])
    if scale < 1:
        reference = F.interpolate(reference, scale_factor=scale, mode="area")
    ab = rgb_to_lab(reference.float())[0, 1:].reshape(2, -1).T  # (N, 2)
    if float(ab.norm(dim=1).mean()) < 2.0:
        raise UsageError(
            "the reference photo is gray (or nearly): give a color photo whose colors the model should lean toward"
        )
    weights = torch.exp(-torch.cdist(ab, centers.float().to(ab.device)).pow(2) / (2 * PALETTE_SIGMA**2))
    weights = weights / weights.sum(1, keepdim=True).clamp_min(1e-12)
    return weights.mean(0)


def palette_bias(share: torch.Tensor, expected: torch.Tensor, strength: float) -> torch.Tensor:
    """Logit bias ``(Q,)``: ``strength`` x log(share / expected), floored.

    ``share`` is the reference's palette, ``expected`` what the model predicts for the reference made gray
    (its mean distribution over the pixels). Their ratio is what the reference's true colors hold that the
    model would not have guessed: the colors to lean toward. (The palette alone would mostly lean toward
    the near-neutral colors every photo is full of, and dull the result.) 0: no effect; 1: the
    distribution is weighted by the ratio itself.
    """
    if not (math.isfinite(strength) and strength >= 0):
        raise UsageError(f"reference strength must be 0 or more, got {strength}")
    return strength * (share.clamp_min(PALETTE_FLOOR).log() - expected.clamp_min(PALETTE_FLOOR).log())
