"""`ganforge eval`: metrics beside the gray and mean-color baselines, true black-and-white sources, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

import ganforge
from ganforge import hookimpl
from ganforge.cli import main
from ganforge.core.colormath import lab_to_rgb, rgb_to_lab
from ganforge.core.components import EvalBatch, Metric
from ganforge.core.plugins import get_plugin_manager, reset_plugin_manager
from ganforge.data.crops import load_eval_images
from ganforge.evaluation import metrics
from ganforge.evaluation.evaluate import GRAY, MEAN_COLOR, MODEL, constant_chroma, evaluate

from .helpers import checkpoint


def colored_folder(root, count=5, size=(40, 36)):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def gray_folder(root, count=3):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((40, 40), 60 * i + 30, np.uint8), "L").save(root / f"bw{i}.png")
    return root


# --------------------------------------------------------------------------- metric math


def test_ssim_matches_scikit_image():
    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(2, 3, 40, 36, generator=generator)
    prediction = (truth + 0.1 * torch.randn(2, 3, 40, 36, generator=generator)).clamp(0, 1)
    hwc = lambda image: image.permute(1, 2, 0).double().numpy()  # noqa: E731
    expected = [
        structural_similarity(
            hwc(p),
            hwc(t),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=-1,
        )
        for p, t in zip(prediction, truth)
    ]
    np.testing.assert_allclose(metrics.ssim(prediction, truth).numpy(), expected, rtol=1e-4)
    assert torch.allclose(metrics.ssim(truth, truth), torch.ones(2))


def test_rarity_weights_are_inverse_color_frequencies():
    lab = torch.zeros(1, 3, 10, 10)
    lab[:, 0] = 50
    lab[0, 1, 0, :2] = 60  # 2 of 100 pixels red, the rest gray
    weights = metrics.rarity_weights(lab_to_rgb(lab))
    red, gray = weights[0, 0, 0], weights[0, 5, 5]
    assert red / gray == pytest.approx(98 / 2, rel=1e-3)
    assert weights.mean() == pytest.approx(1.0)


def test_the_rebalanced_auc_punishes_missing_rare_colors_more():
    lab = torch.zeros(1, 3, 10, 10)
    lab[:, 0] = 50
    lab[0, 1, 0, :5] = 70  # a few saturated pixels
    truth = lab_to_rgb(lab)
    gray = lab_to_rgb(torch.cat([lab[:, :1], torch.zeros(1, 2, 10, 10)], 1))
    plain = metrics.auc(gray, truth)
    rebalanced = metrics.auc(gray, truth, metrics.rarity_weights(truth))
    assert rebalanced < plain - 0.2


# --------------------------------------------------------------------------- evaluate


def test_eval_reports_the_model_beside_both_baselines(tmp_path):
    colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}))
    images = load_eval_images(f"imagefolder:{colored_folder(tmp_path / 'val')}", size=32)
    result = evaluate(colorizer, images, mean_chroma=(20.0, -10.0))
    assert set(result.table) == {MODEL, GRAY, MEAN_COLOR}
    assert {"auc", "auc_rebalanced", "psnr", "ssim", "colorfulness", "colorfulness_ratio"} <= set(result.table[MODEL])
    assert "diversity" not in result.table[MODEL]  # no noise input
    assert result.table[GRAY]["colorfulness"] < 0.1
    baseline_ab = rgb_to_lab(result.pictures[MEAN_COLOR])[:, 1:].mean((0, 2, 3))
    torch.testing.assert_close(baseline_ab, torch.tensor([20.0, -10.0]), atol=1.5, rtol=0)
    assert len(result.per_image["auc"]) == 5
    # every number is the mean of the per-image values
    assert result.table[MODEL]["auc"] == pytest.approx(np.mean(result.per_image["auc"]))


def test_noise_models_get_diversity(tmp_path):
    colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3, "noise": 4}))
    images = load_eval_images(f"imagefolder:{colored_folder(tmp_path / 'val', count=2)}", size=32)
    result = evaluate(colorizer, images, samples=3)
    assert result.table[MODEL]["diversity"] > 0
    assert "sample 3" in result.pictures


def test_true_black_and_white_sources_get_only_truth_free_metrics(tmp_path):
    colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}))
    images = load_eval_images("builtin:true_bw", size=64)
    assert images.truth is None and len(images) >= 2
    result = evaluate(colorizer, images, mean_chroma=(5.0, 5.0))
    assert set(result.table[MODEL]) == {"colorfulness"}
    assert "ground truth" not in result.pictures and not result.has_truth


def test_gray_pictures_among_color_ones_are_skipped_and_counted(tmp_path):
    folder = colored_folder(tmp_path / "mixed", count=3)
    gray_folder(folder, count=2)
    images = load_eval_images(f"imagefolder:{folder}", size=32)
    assert len(images) == 3 and images.skipped["gray among color"] == 2


def test_a_plugin_metric_appears_in_the_evaluation(tmp_path):
    class MeanBlue(Metric):
        """Mean blue channel of the colorization."""

        needs_truth = False

        def __call__(self, batch: EvalBatch) -> torch.Tensor:
            return batch.prediction[:, 2].flatten(1).mean(1)

    plugin = type("Plugin", (), {})()
    plugin.ganforge_register = hookimpl(lambda registries: registries.metrics.add("mean_blue", MeanBlue))
    reset_plugin_manager()
    try:
        get_plugin_manager().add_plugin(plugin, name="blue", distribution="tests")
        colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}))
        images = load_eval_images("builtin:true_bw", size=32)
        result = evaluate(colorizer, images, metrics=["mean_blue", "colorfulness"])
        expected = float(result.pictures[MODEL][:, 2].mean())
        assert result.table[MODEL]["mean_blue"] == pytest.approx(expected, rel=1e-5)
    finally:
        reset_plugin_manager()


def test_cross_conversion_inputs_differ_from_the_models_own(tmp_path):
    colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}))
    images = load_eval_images(f"imagefolder:{colored_folder(tmp_path / 'val', count=2)}", size=32)
    own, other = evaluate(colorizer, images), evaluate(colorizer, images, gray_conversion="rec601")
    assert own.gray_conversion == "lstar" and other.gray_conversion == "rec601"
    assert not torch.allclose(own.pictures["gray input"], other.pictures["gray input"])


def test_constant_chroma_keeps_the_lightness():
    gray = torch.rand(2, 1, 8, 8)
    rgb = constant_chroma(gray, (0.0, 0.0))
    torch.testing.assert_close(rgb, gray.expand(-1, 3, -1, -1), atol=2e-3, rtol=0)


# --------------------------------------------------------------------------- the command


def error_lines(stderr: str) -> list[str]:
    """The error messages among stderr's progress bars."""
    return [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("ganforge: error")]


def test_cli_eval_writes_metrics_json_and_a_best_median_worst_grid(tmp_path, capsys):
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3})
    data = colored_folder(tmp_path / "val", count=5)
    out = tmp_path / "eval"
    assert main(["eval", str(model), "--data", f"imagefolder:{data}", "--size", "32", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| gray (no color) |" in printed and "| mean color |" in printed and "auc" in printed
    result = json.loads((out / "metrics.json").read_text())
    assert result["images"] == 5 and result["ground_truth"] is True
    assert not math.isnan(result["metrics"]["model"]["auc"])
    grid = Image.open(out / "grid.png")
    assert grid.height > 3 * 32 and grid.height < 4 * 32 + 40  # best, median, worst rows
    columns = 5  # gray input, model, gray, mean color, ground truth
    margin = grid.width - columns * (32 + 2) - 2
    assert margin > 30  # the row labels: "best / auc 0.912", ...
    gray = np.asarray(grid.convert("L"))
    label_top = grid.height - 3 * 34 - 2
    for row in range(3):
        band = gray[label_top + row * 34 : label_top + (row + 1) * 34, :margin]
        assert (band < 100).sum() > 20  # text in every row's label


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda tmp, model: [str(model), "--data", f"imagefolder:{(tmp / 'empty').mkdir() or tmp / 'empty'}"], "empty"),
        (lambda tmp, model: [str(model), "--data", f"imagefolder:{colored_folder(tmp / 'small', 2, (20, 24))}", "--size", "32"],
         "smaller than the evaluation size 32 px; pass --size 20"),
        (lambda tmp, model: [str(tmp / "nope.safetensors"), "--data", "builtin:true_bw"], "nope.safetensors"),
    ],
)  # fmt: skip
def test_cli_eval_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make_args, message):
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3})
    code = main(["eval", *make_args(tmp_path, model), "-o", str(tmp_path / "out")])
    errors = error_lines(capsys.readouterr().err)
    assert code == 2 and len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_checkpoint_in_a_color_space_no_plugin_provides_is_a_one_line_error(tmp_path, capsys):
    from ganforge.core.config import Recipe
    from ganforge.inference.checkpoint import save_checkpoint

    model = save_checkpoint(
        tmp_path / "hsv.safetensors", Recipe(name="hsv", color_space="hsv", generator="unet"), {"w": torch.zeros(1)}
    )
    code = main(["eval", str(model), "--data", "builtin:true_bw", "-o", str(tmp_path / "out")])
    errors = error_lines(capsys.readouterr().err)
    assert code == 2 and len(errors) == 1 and "color space 'hsv'" in errors[0] and "lab, rgb" in errors[0]


def test_eval_can_decode_a_classification_model_at_another_temperature(tmp_path):
    model = checkpoint(tmp_path, {"name": "zhang", "backbone": {"name": "unet", "width": 8, "depth": 3}, "features": 8})
    colorizer = ganforge.load(model)
    with torch.no_grad():
        colorizer.generator.classify.bias.copy_(torch.linspace(0, 3, 261))
    images = load_eval_images(f"imagefolder:{colored_folder(tmp_path / 'val', count=2)}", size=32)
    hot, cold = (evaluate(colorizer, images, metrics=["colorfulness"], temperature=t) for t in (1.0, 0.1))
    assert cold.table[MODEL]["colorfulness"] > hot.table[MODEL]["colorfulness"]
    assert colorizer.generator.temperature == 0.38  # restored


def test_upscale_evaluates_images_smaller_than_the_size_instead_of_refusing_them(tmp_path):
    from ganforge.data.crops import load_eval_images

    images = load_eval_images(f"imagefolder:{colored_folder(tmp_path / 'small', 2, (20, 24))}", size=32, upscale=True)
    assert images.truth is not None and images.truth.shape == (2, 3, 32, 32)


def test_a_model_evaluates_without_the_data_it_was_trained_on(tmp_path, capsys):
    """Exports carry the mean-color baseline; with no --data, eval falls back to the bundled photos and says so."""
    import dataclasses
    import shutil

    from ganforge.inference.checkpoint import read_checkpoint, save_checkpoint
    from ganforge.inference.export import export_for_inference

    train = colored_folder(tmp_path / "train", count=4, size=(64, 64))
    trained = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}))
    recipe = trained.recipe
    recipe = dataclasses.replace(
        recipe,
        data=dataclasses.replace(recipe.data, train=f"imagefolder:{train}", val=f"imagefolder:{tmp_path / 'gone'}"),
    )
    model = save_checkpoint(tmp_path / "trained.safetensors", recipe, trained.generator.state_dict())
    exported = export_for_inference(model, tmp_path / "export.safetensors")
    expected = rgb_to_lab(load_eval_images(f"imagefolder:{train}", size=64).truth)[:, 1:].mean((0, 2, 3)).tolist()
    assert read_checkpoint(exported).mean_chroma == pytest.approx(expected, abs=1e-3)
    assert ganforge.load(exported).mean_chroma == pytest.approx(expected, abs=1e-3)

    shutil.rmtree(train)
    out = tmp_path / "eval"
    assert main(["eval", str(exported), "--size", "128", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (
        "evaluated on the photographs bundled with ganforge (builtin:samples)" in printed
        and "pass --data SOURCE" in printed
    )
    assert "the model's own validation photos are not on this machine" in printed and "flatters" not in printed
    assert str(train) not in printed  # a path of the machine the model was trained on means nothing here
    result = json.loads((out / "metrics.json").read_text())
    assert result["data"] == "builtin:samples" and result["images"] == 4 and "mean color" in result["metrics"]


def test_grid_rows_rank_by_the_key_and_fall_back_to_numbers_without_it():
    from ganforge.evaluation.evaluate import Evaluation, grid_rows

    scored = Evaluation("x", 16, 5, "lstar", True, {}, {"auc": [0.1, 0.5, 0.3, 0.9, 0.2]}, {})
    assert grid_rows(scored) == [(3, "best\nauc 0.900"), (2, "median\nauc 0.300"), (0, "worst\nauc 0.100")]
    psnr_only = Evaluation("x", 16, 3, "lstar", True, {}, {"psnr": [1.0, 2.0, 3.0]}, {})  # eval --metrics psnr
    assert grid_rows(psnr_only) == [(0, "image 1"), (1, "image 2"), (2, "image 3")]


def test_an_unwritable_output_fails_before_the_model_is_even_loaded(tmp_path, monkeypatch):
    from ganforge.evaluation import evaluate as evaluate_module

    (tmp_path / "a_file").write_text("not a folder")
    loaded = []
    monkeypatch.setattr("ganforge.inference.colorizer.load", lambda *a, **k: loaded.append(a))
    with pytest.raises(OSError):
        evaluate_module.evaluate_checkpoint("default", "builtin:samples", tmp_path / "a_file" / "out")
    assert loaded == []
