"""Metrics that catch what users see: a tint on whites, and whether a classifier still recognises the photo."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import save_file

from ganforge.cli import main
from ganforge.colormath import gray_with_chroma
from ganforge.components import EvalBatch
from ganforge.errors import RecipeError, UsageError
from ganforge.evaluate import parse_metric_options, select_metrics
from ganforge.metrics import neutral_cast
from ganforge_plugins.mobilenet import MobileNetV2Classifier
from ganforge_plugins.semantic import SemanticAgreement

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
    with pytest.raises(RecipeError, match=r"unknown recipe key '--metric-option semantic_agreement.wieghts' \(did you mean 'weights'\?\)"):
        select_metrics(["semantic_agreement"], {"semantic_agreement": {"wieghts": "x"}})
    with pytest.raises(RecipeError, match=r"--metric-option semantic_agreement.weights: '.*missing.safetensors' does not exist"):
        select_metrics(["semantic_agreement"], {"semantic_agreement": {"weights": str(tmp_path / "missing.safetensors")}})


def test_eval_reports_cast_and_agreement_beside_the_baselines_and_records_the_weights_hash(classifier_weights, tmp_path, capsys):
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
