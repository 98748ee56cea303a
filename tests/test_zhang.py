from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from ganforge.cli import main
from ganforge.core.colormath import rgb_to_lab
from ganforge.core.components import GeneratorContext, Prediction
from ganforge.core.errors import RecipeError
from ganforge.core.plugins import get_registries
from ganforge_plugins.zhang import (
    ECCV16,
    REBALANCE_DIR,
    VIVIDNESS_REFERENCE,
    ABBins,
    ColorClassifier,
    ZhangClassificationLoss,
    empirical_prior,
    in_gamut_bins,
    load_rebalancing,
    rebalancing_weights,
)


@pytest.fixture(scope="module")
def bins() -> ABBins:
    return ABBins()


def random_ab(count: int, seed: int = 0) -> torch.Tensor:
    """ab of random sRGB colors, as a (1, 2, 1, count) image."""
    rgb = torch.rand(3, 1, count, generator=torch.Generator().manual_seed(seed))
    return rgb_to_lab(rgb)[1:].unsqueeze(0)


def test_in_gamut_bins_cover_srgb_on_a_grid_of_ten():
    centers = in_gamut_bins()
    assert len(centers) == 261  # the paper's 313 includes cells no 8-bit sRGB color reaches (see module docstring)
    assert torch.all(centers % 10 == 0)
    assert centers[:, 0].min() == -90 and centers[:, 0].max() == 100
    assert centers[:, 1].min() == -110 and centers[:, 1].max() == 90


def test_every_srgb_color_lies_within_its_nearest_cell(bins):
    ab = random_ab(20000)
    nearest = bins.centers[bins.nearest(ab)[0, 0]]  # (count, 2)
    assert (nearest - ab[0, :, 0].T).abs().max() <= 5.0 + 1e-3


def test_soft_encoding_matches_a_brute_force_search_over_all_bins(bins):
    ab = random_ab(3000, seed=1)
    index, weights = bins.soft_encode(ab)
    points = ab[0, :, 0].T  # (count, 2)
    distance = torch.cdist(points, bins.centers).pow(2)
    brute_distance, brute_index = distance.topk(5, dim=1, largest=False)
    assert torch.equal(index[0, :, 0].T, brute_index)
    expected = torch.softmax(-brute_distance / (2 * 5.0**2), dim=1)
    torch.testing.assert_close(weights[0, :, 0].T, expected, atol=1e-4, rtol=0)


def test_annealed_mean_interpolates_between_mean_and_mode(bins):
    logits = torch.randn(1, len(bins), 1, 1, generator=torch.Generator().manual_seed(0)) * 3
    probabilities = torch.softmax(logits[0, :, 0, 0], 0)
    mean = bins.annealed_mean(logits, 1.0)[0, :, 0, 0]
    torch.testing.assert_close(mean, probabilities @ bins.centers)
    mode = bins.annealed_mean(logits, 1e-3)[0, :, 0, 0]
    torch.testing.assert_close(mode, bins.centers[probabilities.argmax()])
    # lowering T moves the estimate from the mean towards the mode
    middle = bins.annealed_mean(logits, 0.38)[0, :, 0, 0]
    assert (middle - mode).norm() < (mean - mode).norm()


def test_vividness_weighs_each_bin_by_its_rarity_before_decoding():
    head = ColorClassifier(1, 2, backbone={"name": "unet", "width": 8, "depth": 2}, features=8, temperature=0.5)
    logits = torch.randn(2, len(head.bins), 3, 3, generator=torch.Generator().manual_seed(0))
    as_trained = head.decode(logits)
    torch.testing.assert_close(as_trained, head.bins.annealed_mean(logits, 0.5))
    rarity = load_rebalancing(VIVIDNESS_REFERENCE, len(head.bins)).log()
    chroma = {}
    for vividness in (-0.5, 0.0, 0.5, 1.0):
        head.vividness = vividness
        decoded = head.decode(logits)
        torch.testing.assert_close(decoded, head.bins.annealed_mean(logits + vividness * rarity[:, None, None], 0.5))
        chroma[vividness] = decoded.norm(dim=1).mean().item()
    # the rare bins are the saturated ones: more vividness, more chroma; less, less
    assert chroma[-0.5] < chroma[0.0] < chroma[0.5] < chroma[1.0]
    for bad in (2.5, -1.5, float("nan")):
        with pytest.raises(ValueError, match=r"vividness must be in \[-1, 2\]"):
            head.vividness = bad
    assert head.vividness == 1.0  # a refused value leaves the last one
    with pytest.raises(ValueError, match="vividness"):
        ColorClassifier(1, 2, backbone={"name": "unet", "width": 8, "depth": 2}, features=8, vividness=3.0)


def test_the_temperatures_are_refused_at_zero_or_below_when_built_and_when_set():
    head = ColorClassifier(1, 2, backbone={"name": "unet", "width": 8, "depth": 2}, features=8)
    for name in ("temperature", "confidence_temperature"):
        for bad in (0.0, -0.5, float("nan")):
            with pytest.raises(ValueError, match=f"^{name} must be positive, got {bad}$"):
                setattr(head, name, bad)
        with pytest.raises(ValueError, match=f"{name} must be positive"):
            ColorClassifier(1, 2, backbone={"name": "unet", "width": 8, "depth": 2}, features=8, **{name: 0.0})
    assert (head.temperature, head.confidence_temperature) == (0.38, 1.0)  # a refused value leaves the last one


def test_rebalancing_weights_have_expectation_one_and_favour_rare_colors(bins):
    prior = torch.rand(len(bins), generator=torch.Generator().manual_seed(0)) ** 4
    prior = prior / prior.sum()
    weights = rebalancing_weights(prior, bins.centers, sigma=5.0, mix=0.5)
    kernel = torch.exp(-torch.cdist(bins.centers, bins.centers).pow(2) / 50)
    smoothed = kernel @ prior / (kernel @ prior).sum()
    assert float((smoothed * weights).sum()) == pytest.approx(1.0, abs=1e-5)
    assert weights[smoothed.argmin()] > weights[smoothed.argmax()]
    uniform = torch.full((len(bins),), 1 / len(bins))
    assert rebalancing_weights(uniform, bins.centers).std() < 0.2  # near-uniform prior -> near-uniform weights


def test_the_shipped_weights_are_what_the_command_computes():
    shipped = json.loads((REBALANCE_DIR / "samples.json").read_text())
    prior, used = empirical_prior("builtin:samples", shipped["images"], shipped["size"])
    assert used == shipped["images"] == 4
    torch.testing.assert_close(prior, torch.tensor(shipped["prior"]), atol=1e-6, rtol=0)


def test_rebalance_command_writes_weights_a_loss_can_use(tmp_path):
    out = tmp_path / "w.json"
    result = subprocess.run(
        [sys.executable, "-m", "ganforge", "rebalance", "builtin:shapes", "-o", str(out), "--images", "6", "--size", "32"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ganforge: 6 images" in result.stdout
    loss = ZhangClassificationLoss(rebalance=str(out))
    assert loss.weights.shape == (261,)
    with pytest.raises(
        ValueError,
        match=r"rebalancing file 'nowhere.json' not found \(shipped: builtin:bsds500, builtin:everyday, builtin:samples, builtin:shapes",
    ):
        ZhangClassificationLoss(rebalance="nowhere.json")


def test_rebalance_counts_a_recipes_training_mix_by_its_weights(tmp_path):
    recipe = tmp_path / "mix.yaml"
    recipe.write_text(
        "data:\n  train:\n    - {source: builtin:shapes, weight: 3}\n    - {source: builtin:samples, weight: 1}\n"
    )
    out = tmp_path / "w.json"
    assert main(["rebalance", str(recipe), "-o", str(out), "--images", "8", "--size", "16"]) == 0
    record = json.loads(out.read_text())
    assert record["images"] == 8 and record["data"][0] == {"source": "builtin:shapes", "weight": 3.0}
    shapes, _ = empirical_prior("builtin:shapes", 8, 16)
    samples, _ = empirical_prior("builtin:samples", 4, 16)
    prior = torch.tensor(record["prior"])
    # between the two sources' own histograms, nearer the one drawn three times as often
    assert (prior - shapes).abs().sum() < (prior - samples).abs().sum()


def classifier(**options) -> ColorClassifier:
    return get_registries().generators.create(
        "zhang",
        in_channels=1,
        out_channels=2,
        backbone={"name": "unet", "width": 8, "depth": 3},
        features=16,
        **options,
    )


def test_classifier_predicts_bin_logits_and_bounded_ab():
    model = classifier(downsample=2)
    prediction = model(torch.rand(2, 1, 32, 32) * 2 - 1)
    assert isinstance(prediction, Prediction)
    assert prediction.logits.shape == (2, 261, 16, 16)
    assert prediction.target.shape == (2, 2, 32, 32) and prediction.target.abs().max() <= 1.0
    with pytest.raises(ValueError, match="use color_space: lab"):
        get_registries().generators.create("zhang", in_channels=1, out_channels=3)


def test_loss_prefers_the_right_bin_and_needs_logits(bins):
    target_ab = torch.tensor([40.0, 20.0]).view(1, 2, 1, 1)
    right = bins.nearest(target_ab)[0, 0, 0]
    loss = ZhangClassificationLoss()

    def value(logits):
        prediction = Prediction(torch.zeros(1, 2, 1, 1), logits=logits)
        return loss(GeneratorContext(torch.zeros(1, 1, 1, 1), target_ab / 110, prediction, None, torch.nn.Identity()))

    confident = torch.zeros(1, len(bins), 1, 1)
    confident[0, right] = 10.0
    assert value(confident) < value(torch.zeros(1, len(bins), 1, 1))
    with pytest.raises(RecipeError, match="loss 'zhang' needs a classification generator"):
        loss(GeneratorContext(torch.zeros(1, 1, 1, 1), target_ab, Prediction(target_ab), None, torch.nn.Identity()))


def test_eccv16_has_the_papers_size_and_handles_any_input_size():
    paper = ECCV16(1, 313, width=64)
    parameters = sum(p.numel() for p in paper.parameters())
    assert 30e6 < parameters < 34e6  # "about 32 M parameters"
    narrow = ECCV16(1, 2, width=4)
    assert narrow(torch.rand(1, 1, 37, 50)).shape == (1, 2, 37, 50)


def test_distillation_is_zero_for_the_teacher_itself_and_teaches_a_student(tmp_path):
    import ganforge
    from ganforge_plugins.zhang import DistillationLoss

    from .helpers import checkpoint

    spec = {"name": "zhang", "backbone": {"name": "unet", "width": 8, "depth": 2}, "features": 8}
    teacher_file = checkpoint(tmp_path, spec, name="teacher")
    teacher = ganforge.load(teacher_file).generator
    loss = DistillationLoss(teacher=str(teacher_file))
    gray = torch.rand(2, 1, 24, 24) * 2 - 1
    target = torch.zeros(2, 2, 24, 24)

    def context(generator):
        return GeneratorContext(gray, target, Prediction.wrap(generator(gray)), None, generator)

    with torch.no_grad():
        assert float(loss(context(teacher))) < 1e-5  # the teacher matches itself
    torch.manual_seed(1)
    student = classifier()
    optimizer = torch.optim.Adam(student.parameters(), lr=3e-3)
    first = float(loss(context(student)).detach())
    for _ in range(30):
        optimizer.zero_grad()
        value = loss(context(student))
        value.backward()
        optimizer.step()
    assert first > 0.01 and float(value.detach()) < 0.5 * first  # the student moves toward the teacher's distribution
    with pytest.raises(RecipeError, match="is not a classification model in lab"):
        DistillationLoss(teacher=str(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 2}, name="unet")))(
            context(student)
        )
