"""Vectorised, differentiable sRGB <-> CIE L*a*b* conversion in torch.

Channel-first tensors (``(..., 3, H, W)``, channels on dim -3), values as in
scikit-image: sRGB in [0, 1], L in [0, 100], a/b roughly in [-128, 127],
D65 white point, 2-degree observer. The constants are scikit-image's so that
both agree to float precision. Low-precision inputs (bfloat16, float16) are
computed in float32 and returned in their own dtype.

Every branch is written with ``torch.where`` over *clamped* arguments, so that
gradients stay finite at the branch points (``cbrt`` and ``pow`` have infinite
slope at 0).
"""

from __future__ import annotations

import torch

from ganforge.core.choices import GRAY_CONVERSIONS

# sRGB primaries -> XYZ (scikit-image's xyz_from_rgb), and its inverse.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)
_EPSILON = 0.008856  # CIE (6/29)^3, as rounded by scikit-image
_KAPPA = 7.787
_DELTA = 16.0 / 116.0


def _matrices(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # Computed in float64 so the inverse matches numpy.linalg.inv to the last bit that matters.
    xyz_from_rgb = torch.tensor(_XYZ_FROM_RGB, dtype=torch.float64)
    white = torch.tensor(_D65_WHITE, dtype=torch.float64)
    # Fold the white point into the matrices: lab needs xyz / white, rgb needs xyz * white.
    to_normalised_xyz = xyz_from_rgb / white[:, None]
    from_normalised_xyz = torch.linalg.inv(xyz_from_rgb) * white[None, :]
    return to_normalised_xyz.float().to(device), from_normalised_xyz.float().to(device)


_MATRIX_CACHE: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def _cached_matrices(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    if device not in _MATRIX_CACHE:
        _MATRIX_CACHE[device] = _matrices(device)
    return _MATRIX_CACHE[device]


def _mix_channels(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 matrix over the channel dim (-3) of a ``(..., 3, H, W)`` tensor.

    Nine scaled adds on whole planes beat einsum/conv here: the planes are large
    and the matrix tiny, so this is bound by memory traffic, not arithmetic.
    """
    c0, c1, c2 = image.unbind(dim=-3)
    rows = [(c0 * m[0]).add_(c1, alpha=m[1]).add_(c2, alpha=m[2]) for m in matrix.tolist()]
    return torch.stack(rows, dim=-3)


def _check_channels(image: torch.Tensor, name: str) -> None:
    if image.ndim < 3 or image.shape[-3] != 3:
        raise ValueError(f"{name} expects a (..., 3, H, W) tensor, got shape {tuple(image.shape)}")


def _compute_dtype(image: torch.Tensor) -> torch.dtype:
    return torch.float64 if image.dtype == torch.float64 else torch.float32


def _power(base: torch.Tensor, exponent: float) -> torch.Tensor:
    # exp(log) runs about twice as fast as pow with a fractional exponent on CPU; bases here are positive.
    # In-place steps reuse one temporary (autograd-safe: log keeps its input, exp_ its own output).
    return torch.log(base).mul_(exponent).exp_()


def _piecewise(x: torch.Tensor, threshold: float, above, below) -> torch.Tensor:
    """``above(x)`` where ``x > threshold``, else ``below(x)``, for curves that meet at the threshold.

    Written as ``above(max(x, t)) + below(min(x, t)) - above(t)``: two clamps
    instead of ``torch.where``, which is several times slower on CPU, and the
    gradient flows only through the branch in use.
    """
    meeting_value = above(torch.tensor(threshold, dtype=torch.float64)).item()
    return below(x.clamp_max(threshold)).sub_(meeting_value).add_(above(x.clamp_min(threshold)))


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve (companding)."""
    return _piecewise(rgb, 0.04045, lambda c: _power((c + 0.055).div_(1.055), 2.4), lambda c: c / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve."""
    return _piecewise(linear, 0.0031308, lambda c: 1.055 * _power(c, 1 / 2.4) - 0.055, lambda c: c * 12.92)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    return _piecewise(t, _EPSILON, lambda v: _power(v, 1 / 3), lambda v: (_KAPPA * v).add_(_DELTA))


def _lab_f_inverse(t: torch.Tensor) -> torch.Tensor:
    return _piecewise(t, 0.2068966, lambda v: v * v * v, lambda v: (v - _DELTA).div_(_KAPPA))


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> L*a*b* (L in [0, 100]), channels on dim -3."""
    _check_channels(rgb, "rgb_to_lab")
    out_dtype = rgb.dtype
    rgb = rgb.to(_compute_dtype(rgb))
    to_xyz, _ = _cached_matrices(rgb.device)
    f = _lab_f(_mix_channels(to_xyz.to(rgb.dtype), srgb_to_linear(rgb)))
    fx, fy, fz = f.unbind(dim=-3)
    lab = torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-3)
    return lab.to(out_dtype)


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """L*a*b* -> sRGB in [0, 1] (clipped unless ``clip=False``), channels on dim -3.

    Like scikit-image, a colour whose z falls below zero (outside the visible
    gamut) is moved to z = 0 rather than producing NaN.
    """
    _check_channels(lab, "lab_to_rgb")
    out_dtype = lab.dtype
    lab = lab.to(_compute_dtype(lab))
    _, from_xyz = _cached_matrices(lab.device)
    lightness, a, b = lab.unbind(dim=-3)
    fy = (lightness + 16.0) / 116.0
    f = torch.stack((a / 500.0 + fy, fy, (fy - b / 200.0).clamp_min(0.0)), dim=-3)
    rgb = linear_to_srgb(_mix_channels(from_xyz.to(lab.dtype), _lab_f_inverse(f)))
    if clip:
        rgb = rgb.clamp(0.0, 1.0)
    return rgb.to(out_dtype)


def lightness_of_gray(gray: torch.Tensor) -> torch.Tensor:
    """L* of the neutral sRGB colour (g, g, g), for any shape: L depends on Y only."""
    return 116.0 * _lab_f(srgb_to_linear(gray.float())) - 16.0


def gray_with_chroma(gray: torch.Tensor, chroma: torch.Tensor, rows: int = 512) -> torch.Tensor:
    """sRGB ``(B, 3, H, W)`` with the lightness of ``gray`` and the a*b* of ``chroma`` ``(B, 2, H, W)``.

    Converted a strip of ``rows`` rows at a time, so a 24-megapixel picture never holds
    more than one strip of float intermediates.
    """
    out = torch.empty(gray.shape[0], 3, *gray.shape[-2:], dtype=torch.float32, device=gray.device)
    for top in range(0, gray.shape[-2], rows):
        strip = slice(top, top + rows)
        lab = torch.cat([lightness_of_gray(gray[..., strip, :]), chroma[..., strip, :].float()], dim=1)
        out[..., strip, :] = lab_to_rgb(lab)
    return out


def gray_of_lightness(lightness: torch.Tensor) -> torch.Tensor:
    """The sRGB gray value g whose neutral colour (g, g, g) has L* = ``lightness``."""
    y = _lab_f_inverse((lightness.float() + 16.0) / 116.0)
    return linear_to_srgb(y).clamp(0.0, 1.0)


# Luma weights on gamma-encoded R'G'B' (not luminance): what film scanners and
# video pipelines use to make "black and white" pictures.
LUMA_WEIGHTS = {"rec601": (0.299, 0.587, 0.114), "rec709": (0.2126, 0.7152, 0.0722)}
# Approximate spectral sensitivities of black-and-white emulsions, as weights on *linear* R, G, B:
# orthochromatic film (about 1880-1930) is blind to red and heavy in blue, so red lips and
# flags print dark and blue skies pale; early panchromatic film still over-weights blue.
FILM_RESPONSES = {"orthochromatic": (0.02, 0.48, 0.50), "panchromatic": (0.26, 0.50, 0.24)}


def to_gray(rgb: torch.Tensor, method: str = "lstar") -> torch.Tensor:
    """Gray sRGB value in [0, 1], ``(..., 1, H, W)``, by ``method`` (one of :data:`GRAY_CONVERSIONS`).

    ``lstar`` keeps the CIE lightness exactly (the neutral gray of the same L*);
    ``rec601``/``rec709`` are the luma sums that most scanned and digital grayscale images
    were made with; ``orthochromatic``/``panchromatic`` mimic film emulsions (in linear light).
    """
    _check_channels(rgb, "to_gray")
    if method == "lstar":
        return gray_of_lightness(rgb_to_lab(rgb.float())[..., :1, :, :]).to(rgb.dtype)
    if method in FILM_RESPONSES:
        weights = torch.tensor(FILM_RESPONSES[method], dtype=torch.float32, device=rgb.device)
        linear = torch.einsum("c,...chw->...hw", weights, srgb_to_linear(rgb.float())).unsqueeze(-3)
        return linear_to_srgb(linear.clamp(0.0, 1.0)).to(rgb.dtype)
    if method not in LUMA_WEIGHTS:
        raise ValueError(f"unknown gray conversion {method!r}; choose one of {', '.join(GRAY_CONVERSIONS)}")
    weights = torch.tensor(LUMA_WEIGHTS[method], dtype=rgb.dtype, device=rgb.device)
    return torch.einsum("c,...chw->...hw", weights, rgb).unsqueeze(-3)
