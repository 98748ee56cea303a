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


# --------------------------------------------------------------------------- point hints


class Hint(NamedTuple):
    """A user's point of color: ``x``, ``y`` in the photo's pixels, an 8-bit sRGB ``color``, and a ``radius``
    in the photo's pixels (0: the one working-resolution pixel under the point)."""

    x: float
    y: float
    color: tuple[int, int, int]
    radius: float = 0.0


def as_hint(item: object, where: str) -> Hint:
    """A :class:`Hint` from one, or from ``(x, y, (r, g, b)[, radius])``; a one-line error naming ``where``."""
    parts = tuple(item) if isinstance(item, (tuple, list)) else ()
    if len(parts) not in (3, 4):
        raise UsageError(f"{where} must be (x, y, (r, g, b)) or (x, y, (r, g, b), radius), got {item!r}")
    x, y, color, *radius = parts
    numbers = (x, y, *radius)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
        raise UsageError(f"{where}: x, y and radius must be numbers, got {item!r}")
    if radius and radius[0] < 0:
        raise UsageError(f"{where}: radius must be 0 or more, got {radius[0]}")
    channels = tuple(color) if isinstance(color, (tuple, list)) else ()
    if len(channels) != 3 or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in channels
    ):
        raise UsageError(f"{where}: color must be three integers 0-255 (r, g, b), got {color!r}")
    return Hint(float(x), float(y), (channels[0], channels[1], channels[2]), float(radius[0]) if radius else 0.0)


def hints_from_json(entries: object, source: str) -> list[Hint]:
    """Hints from the JSON the command line reads: a list of ``{"x": …, "y": …, "color": "#rrggbb"}``
    (and optionally ``"radius"``); every error names the entry."""
    if not isinstance(entries, list):
        raise UsageError(f'{source} must hold a list of hints like {{"x": 10, "y": 20, "color": "#c03020"}}')
    hints = []
    for index, entry in enumerate(entries):
        where = f"{source}: hint {index}"
        if (
            not isinstance(entry, dict)
            or not {"x", "y", "color"} <= set(entry)
            or set(entry) - {"x", "y", "color", "radius"}
        ):
            raise UsageError(
                f"{where} must be an object with x, y, color (and optionally radius), got {str(entry)[:80]}"
            )
        color = entry["color"]
        if not (
            isinstance(color, str)
            and len(color) == 7
            and color[0] == "#"
            and all(c in "0123456789abcdefABCDEF" for c in color[1:])
        ):
            raise UsageError(f"{where}: color must be written #rrggbb, got {color!r}")
        rgb = (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))
        hints.append(as_hint((entry["x"], entry["y"], rgb, entry.get("radius", 0.0)), where))
    return hints


def hint_map(
    hints: list[Hint], photo: tuple[int, int], working: tuple[int, int], targets: torch.Tensor
) -> torch.Tensor:
    """The hint input ``(1, C + 1, h, w)`` at the working size ``(h, w)`` for a ``photo`` of (width, height):
    the hinted colors' target values (``targets`` ``(N, C)``, one row per hint, as the color space normalises
    them) over each hint's square, then a mask channel of 1 there."""
    (width, height), (rows, cols) = photo, working
    channels = targets.shape[1]
    out = torch.zeros(1, channels + 1, rows, cols)
    for index, hint in enumerate(hints):
        if not (0 <= hint.x < width and 0 <= hint.y < height):
            raise UsageError(f"hint {index} at ({hint.x:g}, {hint.y:g}) is outside the {width} x {height} photo")
        col, row = (hint.x + 0.5) * cols / width - 0.5, (hint.y + 0.5) * rows / height - 0.5
        reach = hint.radius * cols / width
        top, bottom = max(0, math.floor(row - reach + 0.5)), min(rows - 1, math.floor(row + reach + 0.5))
        left, right = max(0, math.floor(col - reach + 0.5)), min(cols - 1, math.floor(col + reach + 0.5))
        out[0, :channels, top : bottom + 1, left : right + 1] = targets[index].float()[:, None, None]
        out[0, channels, top : bottom + 1, left : right + 1] = 1.0
    return out
