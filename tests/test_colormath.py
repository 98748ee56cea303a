"""Accuracy against scikit-image (an independent implementation), and properties of the conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import color as skcolor

from ganforge.core.colormath import gray_of_lightness, lab_to_rgb, lightness_of_gray, rgb_to_lab, to_gray


def rgb_cube(step: int) -> torch.Tensor:
    """Every step-th 8-bit sRGB color, as a (3, 1, N) image, always including 0 and 255."""
    levels = torch.tensor(sorted({*range(0, 256, step), 255}), dtype=torch.float64) / 255
    r, g, b = torch.meshgrid(levels, levels, levels, indexing="ij")
    return torch.stack((r.flatten(), g.flatten(), b.flatten())).unsqueeze(1)


def to_hwc(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).double().numpy()


def test_rgb_to_lab_matches_scikit_image_over_the_8bit_cube():
    rgb = rgb_cube(step=3).float()  # 86^3 = 636,056 colors
    ours = to_hwc(rgb_to_lab(rgb))
    reference = skcolor.rgb2lab(to_hwc(rgb))
    assert np.abs(ours - reference).max() <= 2e-3


def test_lab_to_rgb_matches_scikit_image_on_in_gamut_colors():
    reference_lab = skcolor.rgb2lab(to_hwc(rgb_cube(step=5)))
    lab = torch.from_numpy(reference_lab).permute(2, 0, 1).float()
    ours = to_hwc(lab_to_rgb(lab))
    assert np.abs(ours - skcolor.lab2rgb(reference_lab)).max() <= 2e-3 / 100  # 2e-3 L units ~ 2e-5 in [0, 1]


def test_lab_to_rgb_matches_scikit_image_out_of_gamut_including_negative_z():
    rng = np.random.default_rng(0)
    lab = np.stack([rng.uniform(0, 100, 5000), rng.uniform(-128, 127, 5000), rng.uniform(-128, 127, 5000)], -1)[None]
    with pytest.warns(UserWarning):  # scikit-image warns about the negative-z colors we clip silently
        reference = skcolor.lab2rgb(lab)
    ours = to_hwc(lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1).float()))
    assert np.abs(ours - reference).max() <= 1e-4


def test_round_trip_over_the_whole_8bit_cube_is_within_half_a_level():
    rgb = rgb_cube(step=1).float()  # all 16.7 M colors
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert (back - rgb).abs().max().item() <= 0.5 / 255


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_batched_shapes_are_independent_per_pixel(batch, height, width, seed):
    rgb = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape
    # each image converts the same alone as in the batch, and as a flat list of pixels
    flat = rgb_to_lab(rgb.permute(1, 0, 2, 3).reshape(3, 1, -1)).reshape(3, batch, height, width).permute(1, 0, 2, 3)
    torch.testing.assert_close(lab, flat)
    torch.testing.assert_close(lab_to_rgb(lab), rgb, atol=1e-4, rtol=0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_bfloat16_is_computed_accurately_and_returned_as_bfloat16(seed):
    rgb = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(seed)).bfloat16()
    lab = rgb_to_lab(rgb)
    assert lab.dtype == torch.bfloat16
    exact = rgb_to_lab(rgb.float())
    # bfloat16 keeps 8 bits of mantissa: the only error is the final rounding
    torch.testing.assert_close(lab.float(), exact, atol=0.5, rtol=1 / 128)
    assert lab_to_rgb(lab).dtype == torch.bfloat16


def test_gradients_are_finite_at_black_white_and_branch_points():
    rgb = torch.tensor([0.0, 1.0, 0.04045, 0.0031308, 0.5]).reshape(1, 1, 5).repeat(3, 1, 1).requires_grad_()
    lab = rgb_to_lab(rgb)
    lab.sum().backward()
    assert torch.isfinite(rgb.grad).all()
    lab_in = torch.tensor([[0.0, 50.0, 100.0], [0.0, 90.0, -90.0], [0.0, -90.0, 200.0]]).unsqueeze(1).requires_grad_()
    lab_to_rgb(lab_in, clip=False).sum().backward()
    assert torch.isfinite(lab_in.grad).all()


def test_gray_conversions():
    rgb = torch.rand(2, 3, 5, 5)
    lightness = rgb_to_lab(rgb)[:, :1]
    torch.testing.assert_close(lightness_of_gray(to_gray(rgb, "lstar")), lightness, atol=1e-3, rtol=0)
    torch.testing.assert_close(gray_of_lightness(lightness_of_gray(rgb[:, :1])), rgb[:, :1], atol=1e-5, rtol=0)
    expected_601 = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    torch.testing.assert_close(to_gray(rgb, "rec601")[:, 0], expected_601)
    with pytest.raises(ValueError, match="unknown gray conversion 'hsv'"):
        to_gray(rgb, "hsv")


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(ValueError, match=r"rgb_to_lab expects a \(\.\.\., 3, H, W\) tensor, got shape \(1, 4, 2, 2\)"):
        rgb_to_lab(torch.rand(1, 4, 2, 2))
