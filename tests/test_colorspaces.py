from __future__ import annotations

import pytest
import torch

from ganforge.core.colormath import rgb_to_lab
from ganforge.core.errors import UsageError
from ganforge.core.plugins import get_registries


def color_space(name: str, **kwargs):
    return get_registries().color_spaces.create(name, **kwargs)


@pytest.mark.parametrize("name", ["lab", "rgb"])
def test_split_then_merge_reconstructs_the_image(name):
    rgb = torch.rand(3, 3, 16, 16)
    space = color_space(name)
    gray, target = space.split(rgb)
    assert gray.shape == (3, 1, 16, 16)
    assert target.shape == (3, len(space.channels), 16, 16)
    assert gray.abs().max() <= 1.0 + 1e-5 and target.abs().max() <= 1.0 + 1e-5
    torch.testing.assert_close(space.merge(gray, target), rgb, atol=1e-4, rtol=0)


def test_lab_channels_and_normalisation():
    space = color_space("lab")
    assert space.channels == ("a", "b")
    rgb = torch.rand(2, 3, 4, 4)
    gray, target = space.split(rgb)
    lab = rgb_to_lab(rgb)
    torch.testing.assert_close((gray + 1) * 50, lab[:, :1])
    torch.testing.assert_close(target * 110, lab[:, 1:])


def test_lab_gray_input_of_a_gray_image_equals_split_of_the_same_gray_color():
    gray_values = torch.rand(2, 1, 4, 4)
    space = color_space("lab")
    gray_from_split, chroma = space.split(gray_values.expand(-1, 3, -1, -1))
    torch.testing.assert_close(space.encode_gray(gray_values), gray_from_split, atol=1e-4, rtol=0)
    assert chroma.abs().max() < 1e-3  # neutral colors have no chroma


@pytest.mark.parametrize("method", ["rec601", "rec709"])
def test_luma_gray_conversion_changes_the_input_but_not_the_target(method):
    rgb = torch.rand(2, 3, 4, 4)
    base_gray, base_target = color_space("lab").split(rgb)
    gray, target = color_space("lab", gray=method).split(rgb)
    torch.testing.assert_close(target, base_target)
    assert not torch.allclose(gray, base_gray)


def test_merge_is_differentiable():
    space = color_space("lab")
    gray, _ = space.split(torch.rand(1, 3, 4, 4))
    target = torch.zeros(1, 2, 4, 4, requires_grad=True)
    space.merge(gray, target).mean().backward()
    assert torch.isfinite(target.grad).all() and target.grad.abs().sum() > 0


def test_channel_indices_and_unknown_channel_error():
    assert color_space("rgb").channel_indices(["b", "r"]) == [2, 0]
    with pytest.raises(
        UsageError, match=r"adversaries\.x\.channels: unknown channel\(s\) 'r'; color space 'lab' has channels a, b"
    ):
        color_space("lab").channel_indices(["r"], key="adversaries.x.channels")


def test_unknown_gray_method_is_rejected():
    with pytest.raises(ValueError, match="gray must be one of lstar, rec601, rec709"):
        color_space("rgb", gray="average")
