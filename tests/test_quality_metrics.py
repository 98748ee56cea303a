"""Metrics that catch what users see: a tint on whites, whether a classifier still recognises the photo, and how
far the colorizations' distribution (features, colorfulness) is from the originals'."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from safetensors.torch import save_file

from ganforge.cli import main
from ganforge.core.colormath import gray_with_chroma
from ganforge.core.components import EvalBatch
from ganforge.core.errors import RecipeError, UsageError
from ganforge.evaluation.evaluate import parse_metric_options, select_metrics
from ganforge.evaluation.metrics import colorfulness, neutral_cast
from ganforge_plugins.metrics import ColorfulnessDelta
from ganforge_plugins.mobilenet import MobileNetV2Classifier
from ganforge_plugins.semantic import FrechetDistanceMobileNet, SemanticAgreement, frechet_distance

from .helpers import checkpoint


def test_the_color_cast_is_the_tint_given_to_pixels_that_were_neutral():
    gray = torch.linspace(0.3, 0.9, 32).view(1, 1, 1, 32).expand(2, 1, 32, 32)
    truth = gray_with_chroma(gray, torch.zeros(2, 2, 32, 32))
    truth[:, :, :, :8] = torch.tensor([0.8, 0.1, 0.1]).view(1, 3, 1, 1)  # a red stripe: not neutral, not judged
    tint = torch.zeros(2, 2, 32, 32)
    tint[0, 1] = 12.0  # image 0: whites made yellow (b* +12); image 1 left neutral
    tint[:, 0, :, :8] = 60.0  # whatever happens on the red stripe does not count
    b_mean, chroma = neutral_cast(gray_with_chroma(gray, tint), truth)
    assert b_mean[0] == pytest.approx(12.0, abs=0.6) and chroma[0] == pytest.approx(12.0, abs=0.6)
    assert abs(float(b_mean[1])) < 0.5 and float(chroma[1]) < 0.5


def test_the_color_cast_is_undefined_without_neutral_pixels():
    red = torch.tensor([0.8, 0.1, 0.1]).view(1, 3, 1, 1).expand(1, 3, 16, 16)
    b_mean, chroma = neutral_cast(red, red)
    assert math.isnan(float(b_mean[0])) and math.isnan(float(chroma[0]))


@pytest.fixture
def classifier_weights(tmp_path):
    torch.manual_seed(3)
    path = tmp_path / "classifier.safetensors"
    save_file({k: v.contiguous() for k, v in MobileNetV2Classifier().state_dict().items()}, str(path))
    return path


def test_semantic_agreement_compares_top1_classes_of_colorization_and_original(classifier_weights):
    metric = SemanticAgreement(weights=str(classifier_weights), size=64)
    truth = torch.rand(6, 3, 48, 48)
    same = metric(EvalBatch(truth[:, :1], truth.clone(), truth))
    assert same.tolist() == [1.0] * 6
    other = metric(EvalBatch(truth[:, :1], truth.flip(0), truth))
    expected = (metric.top1(truth.flip(0)) == metric.top1(truth)).float()
    assert torch.equal(other, expected)
    assert metric.details()["weights_sha256"] and len(metric.details()["weights_sha256"]) == 64


def test_semantic_agreement_without_weights_applies_to_no_image():
    metric = SemanticAgreement()
    values = metric(EvalBatch(torch.rand(2, 1, 8, 8), torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)))
    assert values.isnan().all() and metric.details() == {}


def test_metric_options_are_parsed_checked_and_reach_the_metric(classifier_weights, tmp_path):
    options = parse_metric_options([f"semantic_agreement.weights={classifier_weights}", "semantic_agreement.size=96"])
    assert options == {"semantic_agreement": {"weights": str(classifier_weights), "size": 96}}
    metric = select_metrics(["semantic_agreement"], options)["semantic_agreement"]
    assert metric.size == 96 and metric.classifier is not None
    with pytest.raises(UsageError, match=r"--metric-option 'semantic_agreement' must look like METRIC.OPTION=VALUE"):
        parse_metric_options(["semantic_agreement"])
    with pytest.raises(UsageError, match=r"--metric-option names metric 'psnr', which is not evaluated"):
        select_metrics(["auc"], {"psnr": {"x": 1}})
    with pytest.raises(
        RecipeError,
        match=r"unknown recipe key '--metric-option semantic_agreement.wieghts' \(did you mean 'weights'\?\)",
    ):
        select_metrics(["semantic_agreement"], {"semantic_agreement": {"wieghts": "x"}})
    with pytest.raises(
        RecipeError, match=r"--metric-option semantic_agreement.weights: '.*missing.safetensors' does not exist"
    ):
        select_metrics(
            ["semantic_agreement"], {"semantic_agreement": {"weights": str(tmp_path / "missing.safetensors")}}
        )


def test_eval_reports_cast_and_agreement_beside_the_baselines_and_records_the_weights_hash(
    classifier_weights, tmp_path, capsys
):
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3})
    out = tmp_path / "evaluation"
    argv = ["eval", str(model), "--data", "builtin:samples", "--size", "64", "-o", str(out),
            "--metrics", "auc", "color_cast", "color_cast_b", "semantic_agreement",
            "--metric-option", f"semantic_agreement.weights={classifier_weights}", "--metric-option", "semantic_agreement.size=64"]  # fmt: skip
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "semantic_agreement" in table and "color_cast_b" in table
    result = json.loads((out / "metrics.json").read_text())
    assert set(result["metrics"]["gray (no color)"]) >= {"semantic_agreement", "color_cast"}
    assert result["metrics"]["gray (no color)"]["color_cast"] == pytest.approx(0.0, abs=0.5)
    assert len(result["metric_details"]["semantic_agreement"]["weights_sha256"]) == 64


def scipy_frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook computation (FID's reference code): the matrix square root of the covariance product."""
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


@pytest.mark.parametrize(
    "shape_a, shape_b", [((40, 6), (50, 6)), ((12, 20), (9, 20))], ids=["full-rank", "fewer-images-than-features"]
)
def test_the_frechet_distance_matches_the_scipy_computation(shape_a, shape_b):
    rng = np.random.default_rng(0)
    a = rng.normal(size=shape_a)
    b = rng.normal(size=shape_b) * 1.5 + 0.3
    expected = scipy_frechet_distance(a, b)
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(a)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="at least two feature vectors"):
        frechet_distance(torch.from_numpy(a[:1]), torch.from_numpy(b))


def test_fd_mobilenet_is_zero_for_the_originals_grows_with_the_damage_and_records_the_weights(classifier_weights):
    metric = FrechetDistanceMobileNet(weights=str(classifier_weights), size=64)
    truth = torch.rand(8, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    gray = truth.mean(1, keepdim=True)
    distances = [
        float(metric(EvalBatch(gray, prediction, truth)))
        for prediction in (truth, 0.7 * truth + 0.3 * gray, gray.expand(-1, 3, -1, -1))
    ]
    assert distances[0] == pytest.approx(0.0, abs=1e-6)
    assert distances[0] < distances[1] < distances[2]
    assert metric.per_image is False and not metric.higher_is_better
    assert len(metric.details()["weights_sha256"]) == 64
    assert math.isnan(float(FrechetDistanceMobileNet()(EvalBatch(gray, truth, truth))))  # no weights: not computed


def test_colorfulness_delta_is_the_gap_between_mean_colorfulness_of_colorizations_and_originals():
    truth = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    gray = truth.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    delta = ColorfulnessDelta()
    assert float(delta(EvalBatch(gray[:, :1], truth, truth))) == pytest.approx(0.0, abs=1e-5)
    expected = float((colorfulness(truth).mean() - colorfulness(gray).mean()).abs())
    assert float(delta(EvalBatch(gray[:, :1], gray, truth))) == pytest.approx(expected) and expected > 10


def test_eval_reports_set_level_metrics_as_one_number_without_per_image_values(classifier_weights, tmp_path):
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3})
    out = tmp_path / "evaluation"
    argv = ["eval", str(model), "--data", "builtin:samples", "--size", "64", "-o", str(out), "--metrics", "auc", "fd_mobilenet",
            "colorfulness_delta", "--metric-option", f"fd_mobilenet.weights={classifier_weights}", "--metric-option", "fd_mobilenet.size=64"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((out / "metrics.json").read_text())
    for row in ("model", "gray (no color)", "mean color"):
        assert result["metrics"][row]["fd_mobilenet"] > 0 and result["metrics"][row]["colorfulness_delta"] >= 0
    assert set(result["per_image"]) == {"auc"}
    assert len(result["metric_details"]["fd_mobilenet"]["weights_sha256"]) == 64
