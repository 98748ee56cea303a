"""`ganforge compare`: same budget for every recipe, failed rows, the report, and the report in a real browser."""

from __future__ import annotations

import json
import os
import re

import pytest

from ganforge.core.choices import GRAY_CONVERSIONS
from ganforge.evaluation.browser import find_browser, rendered_dom, screenshot
from ganforge.evaluation.compare import CompareOptions, compare
from ganforge.evaluation.evaluate import metric_directions
from ganforge.evaluation.report import Table
from ganforge.training.tracking import read_metrics

from .conftest import TINY_RECIPE

SMALL = ["data.num_workers=0", "train.checkpoint_every=1000", "train.sample_every=1000"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One comparison of two tiny recipes and a broken one, shared by the tests below."""
    root = tmp_path_factory.mktemp("compare")
    (root / "per_channel.yaml").write_text(TINY_RECIPE.format(out_dir=root / "unused"))
    (root / "l1_only.yaml").write_text(
        TINY_RECIPE.format(out_dir=root / "unused").split("adversaries:")[0]
        + "phases:\n  - {name: pretrain, steps: 3, losses: {l1: 1.0}}\n"
        + "color_space: {name: lab, gray: rec601}\n"
    )
    (root / "broken.yaml").write_text(TINY_RECIPE.format(out_dir=root / "unused").replace("name: unet", "name: unetz"))
    options = CompareOptions(
        steps=6, eval_sources=["builtin:shapes", "builtin:true_bw"], size=32, images=4, overrides=SMALL
    )
    recipes = [
        root / "per_channel.yaml",
        root / "l1_only.yaml",
        root / "broken.yaml",
        f"{root / 'per_channel.yaml'}@temperature=0.5",
    ]
    html = compare(recipes, root / "report", options)
    return html.parent


def test_every_recipe_trains_the_same_budget(report):
    for name in ("per_channel", "l1_only"):
        steps = [record["step"] for record in read_metrics(report / "runs" / name / "metrics.jsonl")]
        assert max(steps) == 6  # 4+4 phases shrunk, 3 stretched: both to exactly 6


def test_a_failing_recipe_is_a_row_with_its_reason_and_the_others_complete(report):
    results = json.loads((report / "metrics.json").read_text())["results"]
    shapes = results["builtin:shapes"]
    assert set(shapes["metrics"]) == {"gray (no color)", "mean color", "per_channel", "l1_only"}
    assert "unknown generator 'unetz'" in shapes["failed"]["broken"]
    assert "classification models" in shapes["failed"]["per_channel@temperature=0.5"]  # a U-Net has no decoding
    assert sorted(p.name for p in (report / "runs").iterdir()) == ["l1_only", "per_channel"]  # per_channel trained once
    assert shapes["metrics"]["per_channel"]["auc"] > 0
    markdown = (report / "report.md").read_text()
    assert re.search(r"\| broken \| failed: .*unetz", markdown)


def test_true_black_and_white_images_are_reported_without_truth_metrics(report):
    results = json.loads((report / "metrics.json").read_text())["results"]["builtin:true_bw"]
    assert results["ground_truth"] is False
    assert set(results["metrics"]["per_channel"]) == {"colorfulness"}


def test_the_report_shows_each_models_gray_conversion_against_the_others(report):
    cross = json.loads((report / "metrics.json").read_text())["results"]["gray_conversion_auc"]
    assert set(cross) == {
        "per_channel (trained on lstar)",
        "l1_only (trained on rec601)",
    }  # the failed decoding has no row
    assert set(cross["l1_only (trained on rec601)"]) == {f"input {c}" for c in GRAY_CONVERSIONS}
    context = json.loads((report / "metrics.json").read_text())["context"]
    assert context["seed"] == "0" and "6 steps" in context["budget"] and context["hardware"]


def test_one_model_decoded_several_ways_is_a_column_per_decoding(tmp_path):
    from .helpers import checkpoint

    model = checkpoint(
        tmp_path,
        {"name": "zhang", "backbone": {"name": "unet", "width": 8, "depth": 3}, "features": 8},
        name="classifier",
    )
    options = CompareOptions(eval_sources=["builtin:shapes"], size=32, images=4, metrics=["colorfulness"])
    html = compare(
        [model, f"{model}@vividness=2", f"{model}@vividness=-1,temperature=0.3"], tmp_path / "report", options
    )
    summary = json.loads((html.parent / "metrics.json").read_text())
    rows = summary["results"]["builtin:shapes"]["metrics"]
    plain, vivid, dull = (
        rows[label]["colorfulness"]
        for label in ("classifier", "classifier@vividness=2", "classifier@vividness=-1,temperature=0.3")
    )
    assert dull < plain < vivid
    assert (
        "classifier@vividness=2 (" in summary["context"]["models"] and ", vividness 2)" in summary["context"]["models"]
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("default@vivid=1", "'vivid' is not a decoding option; use temperature or vividness"),
        ("default@vividness=3", "vividness must be in [-1, 2], got 3"),
        ("default@temperature=0", "temperature must be a positive number"),
        ("default@vividness=much", "vividness must be a number, got 'much'"),
    ],
)
def test_a_bad_decoding_is_refused_in_one_line_before_anything_runs(tmp_path, capsys, given, message):
    from ganforge.cli import main

    assert main(["compare", given, "--eval", "builtin:shapes", "-o", str(tmp_path / "report")]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not (tmp_path / "report").exists()


def test_decoding_text_is_split_from_the_model_unless_the_whole_names_a_path(tmp_path):
    from ganforge.evaluation.compare import split_decoding

    assert split_decoding("default@vividness=0.5, temperature=0.3") == (
        "default",
        {"vividness": 0.5, "temperature": 0.3},
    )
    assert split_decoding("runs/a@b/model.safetensors") == ("runs/a@b/model.safetensors", {})
    odd = tmp_path / "model@vividness=1.safetensors"
    odd.touch()
    assert split_decoding(str(odd)) == (str(odd), {})


def test_table_bolds_the_best_model_by_the_metrics_direction():
    table = Table({"gray": {"auc": 0.9, "err": 1.0}, "a": {"auc": 0.5, "err": 3.0}, "b": {"auc": 0.7, "err": 2.0}},
                  higher_is_better={"err": False}, baselines=("gray",))  # fmt: skip
    assert table.best("auc") == "b" and table.best("err") == "b"
    assert "| b | **0.700** | **2.000** |" in table.markdown()


def test_a_metric_with_an_ideal_value_bolds_the_model_closest_to_it():
    rows = {
        "a": {"colorfulness_ratio": 1.30, "color_cast_b": -6.9},
        "b": {"colorfulness_ratio": 0.85, "color_cast_b": 2.0},
    }
    directions = metric_directions(["colorfulness_ratio", "color_cast_b"])
    assert directions["ideal"] == {"colorfulness_ratio": 1.0, "color_cast_b": 0.0}
    table = Table(rows, **directions)
    assert (
        table.best("colorfulness_ratio") == "b" and table.best("color_cast_b") == "b"
    )  # not the highest, not the lowest


needs_browser = pytest.mark.skipif(
    find_browser() is None and not os.environ.get("GANFORGE_REQUIRE_BROWSER"),
    reason="no Chromium here (CI installs it and sets GANFORGE_REQUIRE_BROWSER=1)",
)


@needs_browser
def test_the_report_renders_its_tables_and_images_in_chromium(report, tmp_path):
    dom = rendered_dom(report / "report.html")
    images = re.findall(r"<img [^>]*src=\"([^\"]+)\"", dom)
    assert len(images) >= 4  # two grids and two loss plots
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert loaded and int(loaded.group(1)) == len(images), "some picture did not load"
    assert 'class="missing"' not in dom.split("<body")[1]
    assert dom.count("<table>") == 3 and ">per_channel</th>" in dom and "failed: " in dom
    shot = screenshot(report / "report.html", tmp_path / "report.png", width=800, height=600)
    assert shot.stat().st_size > 10_000


@needs_browser
def test_a_report_moved_without_its_pictures_says_which_are_missing(report, tmp_path):
    moved = tmp_path / "report.html"
    moved.write_text((report / "report.html").read_text())
    dom = rendered_dom(moved)
    assert 'data-images-loaded="0"' in dom and "missing picture: grid_0.png" in dom


@pytest.mark.parametrize(
    "label", ["zhang_classification", "unconditional_pretrain", "original (blank: never in color)", "x" * 40]
)
def test_grid_labels_are_wrapped_to_their_column(label):
    from PIL import Image, ImageDraw

    from ganforge.training.plots import _wrap

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = _wrap(draw, label, 62)
    assert all(draw.textlength(line) <= 62 for line in lines)
    assert "".join(lines).replace(" ", "") == label.replace(" ", "")


def test_a_metric_that_applies_to_no_image_gets_no_column():
    table = Table(
        {"gray": {"auc": 0.9, "circle_chroma": float("nan")}, "a": {"auc": 0.5, "circle_chroma": float("nan")}}
    )
    assert table.columns == ["auc"] and "circle_chroma" not in table.markdown() + table.html()


def test_a_model_with_several_validation_sets_gets_a_table_for_each(tmp_path):
    from ganforge.core.config import DataConfig, Recipe
    from ganforge.core.plugins import get_registries
    from ganforge.inference.checkpoint import save_checkpoint

    spec = {"name": "unet", "width": 8, "depth": 2}
    network = get_registries().generators.create("unet", in_channels=1, out_channels=2, width=8, depth=2)
    recipe = Recipe(name="several", generator=spec, data=DataConfig(val=["builtin:samples", "builtin:shapes"]))
    model = save_checkpoint(tmp_path / "several.safetensors", recipe, network.state_dict())
    html = compare([str(model)], tmp_path / "report", CompareOptions(size=32, images=2, metrics=["colorfulness"]))
    results = json.loads((html.parent / "metrics.json").read_text())["results"]
    assert {"builtin:samples", "builtin:shapes"} <= set(results)
