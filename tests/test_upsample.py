"""Edge-aware upsampling of chroma: colors stop where the lightness has an edge."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge.inference.upsample import guided_upsample, upsample_chroma

from .helpers import checkpoint


def step_edge(size: int, low: float, high: float) -> torch.Tensor:
    """A vertical edge at 40 % of the width (not on a pixel-grid line of any scale used here)."""
    picture = torch.full((1, 1, size, size), low)
    picture[..., int(size * 0.4) :] = high
    return picture


def test_colors_follow_a_lightness_edge_that_bilinear_blurs_across():
    gray_high, chroma_high = step_edge(96, 0.2, 0.8), step_edge(96, -30.0, 40.0).expand(1, 2, -1, -1)
    gray_low = F.interpolate(gray_high, size=(24, 24), mode="area")
    chroma_low = F.interpolate(chroma_high, size=(24, 24), mode="area")  # what a model at 1/4 resolution sees
    guided = upsample_chroma(chroma_low, gray_low, gray_high, "guided")
    bilinear = upsample_chroma(chroma_low, gray_low, gray_high, "bilinear")
    error_guided, error_bilinear = (guided - chroma_high).abs().mean(), (bilinear - chroma_high).abs().mean()
    assert error_guided < 0.5 * error_bilinear
    assert guided.shape == (1, 2, 96, 96)


def test_flat_chroma_stays_flat_and_equal_sizes_pass_through():
    gray_high = torch.rand(1, 1, 64, 48)
    gray_low = F.interpolate(gray_high, size=(16, 12), mode="area")
    flat = torch.full((1, 2, 16, 12), 7.0)
    assert torch.allclose(upsample_chroma(flat, gray_low, gray_high), torch.full((1, 2, 64, 48), 7.0), atol=1e-3)
    chroma = torch.randn(1, 2, 64, 48)
    assert torch.equal(upsample_chroma(chroma, gray_high, gray_high), chroma)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="upsampling must be one of guided, bilinear"):
        upsample_chroma(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 8, 8), "nearest")
    with pytest.raises(ValueError, match="radius must be at least 1"):
        guided_upsample(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 8, 8), radius=0)


def test_the_colorizer_upsamples_guided_by_default_and_bilinear_on_request(tmp_path):
    colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}))
    photo = torch.rand(1, 1, 40, 40).repeat_interleave(4, -1).repeat_interleave(4, -2)  # 160 px of 4x4 blocks
    guided, bilinear = colorizer(photo, size=32), colorizer(photo, size=32, upsample="bilinear")
    assert guided.shape == bilinear.shape == (1, 3, 160, 160)
    assert not torch.allclose(guided, bilinear)
    assert torch.equal(guided, colorizer(photo, size=32, upsample="guided"))
