"""Steering a classification model: its suggestions at a point, and a reference photo's palette."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.core.colormath import lightness_of_gray, rgb_to_lab
from ganforge.core.errors import UsageError
from ganforge.inference.steering import DISTINCT, palette, palette_bias, probabilities_at

from .helpers import checkpoint

ZHANG = {"name": "zhang", "backbone": {"name": "unet", "width": 8, "depth": 2}, "features": 16, "temperature": 0.5}


@pytest.fixture
def classifier(tmp_path):
    torch.manual_seed(0)
    return ganforge.load(checkpoint(tmp_path, ZHANG))


def photo(width: int = 48, height: int = 40) -> Image.Image:
    ramp = np.linspace(30, 220, width, dtype=np.float32)[None, :].repeat(height, 0)
    return Image.fromarray(ramp.astype(np.uint8), "L")


def test_suggestions_are_distinct_ordered_and_at_the_pixels_lightness(classifier):
    picture = photo()
    suggested = classifier.suggest(picture, (40, 10), k=5)
    assert len(suggested) == 5
    probabilities = [s.probability for s in suggested]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1
    colors = torch.tensor([s.color for s in suggested], dtype=torch.float32)[:, :, None, None] / 255
    lab = rgb_to_lab(colors)[:, :, 0, 0]
    expected = float(lightness_of_gray(torch.tensor(np.asarray(picture)[10, 40] / 255.0)))
    assert (lab[:, 0] - expected).abs().max() < 3  # in gamut, the lightness is the pixel's
    ab = lab[:, 1:]
    gaps = torch.cdist(ab, ab) + torch.eye(5) * 1e3
    assert float(gaps.min()) > DISTINCT - 2  # distinct shades as shown (8-bit rounding moves them a little)


def test_probabilities_are_read_where_the_point_is():
    probabilities = torch.zeros(1, 3, 4, 8)
    probabilities[0, 0, :, :4] = 1  # bin 0 on the left half, bin 2 on the right
    probabilities[0, 2, :, 4:] = 1
    assert probabilities_at(probabilities, (5, 20), (64, 32)).argmax() == 0
    assert probabilities_at(probabilities, (60, 20), (64, 32)).argmax() == 2
    with pytest.raises(UsageError, match=r"point \(64, 3\) is outside the 64 x 32 photo"):
        probabilities_at(probabilities, (64, 3), (64, 32))


def test_suggestions_need_a_classification_model_and_sensible_arguments(classifier, tmp_path):
    unet = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 2}, name="unet"))
    with pytest.raises(UsageError, match="suggestions need a classification model"):
        unet.suggest(photo(), (1, 1))
    with pytest.raises(UsageError, match="must be at least 1"):
        classifier.suggest(photo(), (1, 1), k=0)
    with pytest.raises(UsageError, match="a reference photo need a classification model"):
        unet(photo(), reference=Image.new("RGB", (8, 8), (200, 30, 30)))


def mean_ab(picture: Image.Image) -> torch.Tensor:
    rgb = torch.from_numpy(np.asarray(picture).astype(np.float32) / 255).permute(2, 0, 1)[None]
    return rgb_to_lab(rgb)[0, 1:].mean((1, 2))


def test_a_reference_leans_the_colors_toward_its_palette(classifier):
    picture = photo()
    plain = mean_ab(classifier(picture))
    for color in ((20, 60, 220), (230, 200, 20)):  # blue (b* < 0), yellow (b* > 0)
        reference = Image.new("RGB", (32, 32), color)
        target = mean_ab(reference)
        leaned = mean_ab(classifier(picture, reference=reference))
        assert (leaned - target).norm() < (plain - target).norm() - 5  # nearer the reference's colors
        assert torch.allclose(mean_ab(classifier(picture, reference=reference, reference_strength=0)), plain, atol=0.5)
    assert classifier.generator.palette_bias is None  # only for the call


def test_a_palette_is_a_distribution_and_a_gray_reference_has_none(classifier):
    centers = classifier.generator.bin_centers
    share = palette(torch.rand(1, 3, 20, 30), centers)
    assert share.shape == (len(centers),) and float(share.sum()) == pytest.approx(1, abs=1e-4)
    with pytest.raises(UsageError, match="the reference photo is gray"):
        palette(torch.full((1, 3, 8, 8), 0.5), centers)
    with pytest.raises(UsageError, match="reference strength must be 0 or more"):
        palette_bias(share, share, -1)
    assert palette_bias(share, share, 1.0).abs().max() < 1e-6  # what the model expected anyway: no lean
    with pytest.raises(UsageError, match="the reference is a gray picture"):
        classifier(photo(), reference=photo())


def test_colorize_takes_a_reference_from_the_command_line(tmp_path):
    model = checkpoint(tmp_path, ZHANG)
    photo().save(tmp_path / "in.png")
    Image.new("RGB", (32, 32), (20, 60, 220)).save(tmp_path / "blue.png")
    assert main(["colorize", str(model), str(tmp_path / "in.png"), "-o", str(tmp_path / "plain.png")]) == 0
    assert (
        main(
            [
                "colorize",
                str(model),
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / "blue_out.png"),
                "--reference",
                str(tmp_path / "blue.png"),
            ]
        )
        == 0
    )
    plain, blue = (mean_ab(Image.open(tmp_path / name).convert("RGB")) for name in ("plain.png", "blue_out.png"))
    assert blue[1] < plain[1] - 5  # bluer: lower b*
