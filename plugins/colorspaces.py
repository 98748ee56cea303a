"""The ``lab`` and ``rgb`` color spaces.

``lab``: the network sees L* and predicts a*, b* (Zhang et al. 2016 and most
colorization work): the output keeps the input's lightness exactly.
``rgb``: the network sees a gray image and predicts all of R, G, B.

Both take ``gray``: how a color training image is made gray (``lstar``, the
CIE lightness; ``rec601`` or ``rec709``, the luma sums most real black-and-white
images were made with). A model learns the inverse of that function, so it
matters on true black-and-white photographs.
"""

from __future__ import annotations

import torch

from ganforge import hookimpl
from ganforge.core.choices import GRAY_CONVERSIONS
from ganforge.core.colormath import gray_of_lightness, lab_to_rgb, lightness_of_gray, rgb_to_lab, to_gray
from ganforge.core.components import ColorSpace
from ganforge.core.registry import Registries

_AB_SCALE = 110.0  # a*, b* of sRGB colors lie within about +-110


def _check_gray_method(gray: str) -> str:
    if gray not in GRAY_CONVERSIONS:
        raise ValueError(f"gray must be one of {', '.join(GRAY_CONVERSIONS)}, got {gray!r}")
    return gray


class LabColorSpace(ColorSpace):
    """CIE L*a*b* (D65, sRGB companding): gray input L*, targets a and b."""

    name = "lab"
    channels = ("a", "b")

    def __init__(self, gray: str = "lstar") -> None:
        self.gray = _check_gray_method(gray)

    def encode_gray(self, gray: torch.Tensor) -> torch.Tensor:
        return (lightness_of_gray(gray) / 50.0 - 1.0).to(gray.dtype)

    def decode_gray(self, gray: torch.Tensor) -> torch.Tensor:
        return gray_of_lightness((gray + 1.0) * 50.0).to(gray.dtype)

    def split(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lab = rgb_to_lab(rgb)
        if self.gray == "lstar":
            gray = lab[:, :1] / 50.0 - 1.0
        else:
            gray = self.encode_gray(to_gray(rgb, self.gray))
        return gray, lab[:, 1:] / _AB_SCALE

    def merge(self, gray: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        lightness = (gray + 1.0) * 50.0
        return lab_to_rgb(torch.cat((lightness, target * _AB_SCALE), dim=1))


class RgbColorSpace(ColorSpace):
    """sRGB: gray input a gray image, targets r, g and b."""

    name = "rgb"
    channels = ("r", "g", "b")

    def __init__(self, gray: str = "rec601") -> None:
        self.gray = _check_gray_method(gray)

    def encode_gray(self, gray: torch.Tensor) -> torch.Tensor:
        return gray * 2.0 - 1.0

    def decode_gray(self, gray: torch.Tensor) -> torch.Tensor:
        return ((gray + 1.0) / 2.0).clamp(0.0, 1.0)

    def split(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_gray(to_gray(rgb, self.gray)), rgb * 2.0 - 1.0

    def merge(self, gray: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((target + 1.0) / 2.0).clamp(0.0, 1.0)


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.color_spaces.add("lab", LabColorSpace)
    registries.color_spaces.add("rgb", RgbColorSpace)
