"""Bring chroma predicted at a working resolution to full resolution, following the lightness's edges.

A plain bilinear resize lets colors spill across edges (a red coat bleeding
onto the wall behind it), the more so the larger the photograph. The guided
filter (He, Sun, Tang, ECCV 2010) models the chroma in every small window as
a linear function of the lightness, ``ab = A * L + b``; fitting A and b at the
working resolution and applying them to the full-resolution lightness (the
"fast guided filter", Wu et al., CVPR 2018) makes color edges land where the
lightness edges are, at the cost of a few box filters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.core.choices import UPSAMPLING
from ganforge.core.colormath import lightness_of_gray

GUIDED_RADIUS = 2  # window radius in working-resolution pixels
GUIDED_EPS = 1e-3  # lightness variance (L*/100 squared) below which a window counts as flat


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, counting only the pixels inside the picture."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_upsample(
    guide_low: torch.Tensor,
    target_low: torch.Tensor,
    guide_high: torch.Tensor,
    radius: int = GUIDED_RADIUS,
    eps: float = GUIDED_EPS,
) -> torch.Tensor:
    """Upsample ``target_low`` ``(B, C, h, w)`` to the size of ``guide_high`` ``(B, 1, H, W)``.

    ``guide_low`` is the guide at the target's resolution. Guides are on a
    [0, 1] scale; ``eps`` is the variance of the guide below which a window is
    treated as flat (smoothed) rather than as an edge (followed); ``radius`` is
    the window radius in low-resolution pixels.
    """
    if radius < 1 or eps <= 0:
        raise ValueError(f"radius must be at least 1 and eps positive, got radius={radius}, eps={eps}")
    radius = min(radius, (min(guide_low.shape[-2:]) - 1) // 2) or 1
    mean_guide = _box(guide_low, radius)
    mean_target = _box(target_low, radius)
    covariance = _box(guide_low * target_low, radius) - mean_guide * mean_target
    variance = _box(guide_low * guide_low, radius) - mean_guide * mean_guide
    slope = covariance / (variance + eps)
    offset = mean_target - slope * mean_guide
    size = guide_high.shape[-2:]
    slope = F.interpolate(_box(slope, radius), size=size, mode="bilinear", align_corners=False)
    offset = F.interpolate(_box(offset, radius), size=size, mode="bilinear", align_corners=False)
    return slope.mul_(guide_high).add_(offset)


def upsample_chroma(
    chroma_low: torch.Tensor,
    gray_low: torch.Tensor,
    gray_high: torch.Tensor,
    method: str = "guided",
    radius: int = GUIDED_RADIUS,
    eps: float = GUIDED_EPS,
) -> torch.Tensor:
    """a*b* ``(B, 2, h, w)`` predicted for gray sRGB ``gray_low`` -> a*b* at the size of ``gray_high``."""
    if method not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {', '.join(UPSAMPLING)}, got {method!r}")
    size = gray_high.shape[-2:]
    if method == "bilinear" or chroma_low.shape[-2:] == size:
        return F.interpolate(chroma_low, size=size, mode="bilinear", align_corners=False)
    guide_low = lightness_of_gray(gray_low) / 100.0
    guide_high = lightness_of_gray(gray_high) / 100.0
    return guided_upsample(guide_low, chroma_low.float(), guide_high, radius, eps)
