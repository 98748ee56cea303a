"""Scoring colorizations made by any tool: matched to the originals by relative path, cropped alike, bad folders refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.core.errors import UsageError
from ganforge.core.images import to_tensor
from ganforge.data.crops import load_eval_images
from ganforge.data.sources import center_crop
from ganforge.evaluation.evaluate import MODEL, evaluate, score_prediction
from ganforge.evaluation.predictions import load_predictions
from ganforge.inference.colorizer import load

from .helpers import checkpoint


def originals(root, layout=("city/a", "city/b", "park/c"), size=(60, 40)):
    """Color photos under ``root`` (smooth gradients plus noise, so crops and resizes are visible)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    for i, name in enumerate(layout):
        path = root / f"{name}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.stack([xx * 4 + 20 * i, yy * 5, 255 - xx * 3], -1) + rng.integers(0, 20, (size[1], size[0], 3))
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=95)
    return root


def copies(originals_root, out, transform=lambda image: image, suffix=".png", flat=False):
    """A "tool" that writes ``transform(original)`` for every original, laid out like them (or flat)."""
    for path in sorted(originals_root.rglob("*.jpg")):
        relative = path.relative_to(originals_root)
        target = out / (relative.name if flat else relative)
        target = target.with_suffix(suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        transform(Image.open(path).convert("RGB")).save(target)
    return out


def test_predictions_are_matched_by_relative_path_and_cropped_like_their_originals(tmp_path):
    source = originals(tmp_path / "photos")
    images = load_eval_images(f"imagefolder:{source}", size=32)
    predicted = load_predictions(copies(source, tmp_path / "tool"), images)
    assert predicted.missing == [] and predicted.resized == 0 and predicted.unmatched == 0
    assert len(predicted.images) == 3 and predicted.images.names == images.names
    assert (predicted.rgb - images.truth).abs().max() < 0.05  # PNG copies of the JPEGs: the same crops, up to rounding


def test_a_flat_folder_works_and_a_prediction_of_another_size_is_resized_to_its_original_first(tmp_path):
    source = originals(tmp_path / "photos")
    half = lambda image: image.resize((image.width // 2, image.height // 2), Image.Resampling.BICUBIC)  # noqa: E731
    tool = copies(source, tmp_path / "tool", transform=half, flat=True)
    images = load_eval_images(f"imagefolder:{source}", size=32)
    predicted = load_predictions(tool, images)
    assert predicted.resized == 3 and "resized" in " ".join(predicted.notes())
    original = Image.open(source / "city" / "a.jpg").convert("RGB")
    expected = to_tensor(center_crop(half(original).resize(original.size, Image.Resampling.BICUBIC), 32))
    index = next(i for i, name in enumerate(predicted.images.names) if name.endswith("a.jpg"))
    assert torch.allclose(predicted.rgb[index], expected, atol=1 / 255 + 1e-6)


def test_originals_without_prediction_are_listed_and_left_out(tmp_path):
    source = originals(tmp_path / "photos")
    tool = copies(source, tmp_path / "tool")
    (tool / "park" / "c.png").unlink()
    (tool / "stray.png").write_bytes((tool / "city" / "a.png").read_bytes())
    predicted = load_predictions(tool, load_eval_images(f"imagefolder:{source}", size=32))
    assert len(predicted.images) == 2 and len(predicted.missing) == 1 and predicted.missing[0].endswith("c.jpg")
    assert predicted.unmatched == 1
    assert any("have no prediction" in note and "c.jpg" in note for note in predicted.notes())


def renamed_by_the_tool(tool):
    for path in tool.rglob("*.png"):
        path.rename(path.with_name(path.stem + "_colorized.png"))


def written_twice(tool):
    (tool / "city" / "a.webp").write_bytes((tool / "city" / "a.png").read_bytes())


def emptied(tool):
    for path in tool.rglob("*.png"):
        path.unlink()


@pytest.mark.parametrize(
    "arrange, message",
    [
        (
            renamed_by_the_tool,
            r"no image in '.*tool' matches an original of 'imagefolder:.*' by relative path \(e\.g\. .*a\.jpg needs .*a\.png\)",
        ),
        (written_twice, r"holds two images for 'city/a' \(a.png and a.webp\); keep one of them"),
        (emptied, r"predictions folder '.*tool' holds no images"),
    ],
    ids=["no-match", "two-files-one-name", "empty"],
)
def test_bad_prediction_folders_get_one_line_errors(tmp_path, arrange, message):
    source = originals(tmp_path / "photos")
    tool = copies(source, tmp_path / "tool")
    arrange(tool)
    with pytest.raises(UsageError, match=message):
        load_predictions(tool, load_eval_images(f"imagefolder:{source}", size=32))


def test_one_flat_prediction_cannot_stand_for_two_originals_of_the_same_name(tmp_path):
    source = originals(tmp_path / "photos", layout=("a/x", "b/x"))
    tool = copies(source, tmp_path / "tool", flat=True)  # a/x and b/x both become x.png: the second overwrote the first
    with pytest.raises(
        UsageError,
        match=r"prediction '.*x.png' matches two originals .*; lay the predictions out in the originals' subfolders",
    ):
        load_predictions(tool, load_eval_images(f"imagefolder:{source}", size=32))


def test_a_gray_only_source_has_nothing_to_score_predictions_against(tmp_path):
    gray = tmp_path / "bw"
    gray.mkdir()
    Image.fromarray(np.full((40, 40), 90, np.uint8), "L").save(gray / "old.png")
    with pytest.raises(UsageError, match="holds no color photos to score predictions against"):
        load_predictions(tmp_path, load_eval_images(f"imagefolder:{gray}", size=32))


def test_a_folder_of_a_models_colorizations_scores_as_the_model_does(tmp_path):
    """The same colorizations scored from the model and from files written by it agree: the two paths are one protocol."""
    source = originals(tmp_path / "photos", size=(32, 32))
    colorizer = load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}))
    images = load_eval_images(f"imagefolder:{source}", size=32)
    direct = evaluate(colorizer, images, metrics=["auc", "psnr"])
    tool = tmp_path / "tool"
    for name, picture in zip(images.names, direct.pictures[MODEL]):
        target = tool / (name.split("photos/")[1].rsplit(".", 1)[0] + ".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((picture.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(target)
    from_files = score_prediction(images, load_predictions(tool, images).rgb, metrics=["auc", "psnr"])
    for row in direct.table:
        for metric in ("auc", "psnr"):
            assert from_files.table[row][metric] == pytest.approx(
                direct.table[row][metric], abs=0.02 if metric == "psnr" else 1e-3
            )


def test_eval_predictions_writes_metrics_and_grid_and_refuses_mixed_up_arguments(tmp_path, capsys):
    source = originals(tmp_path / "photos")
    tool = copies(source, tmp_path / "tool", transform=lambda image: image.convert("L"))  # a "tool" that adds no color
    out = tmp_path / "evaluation"
    argv = [
        "eval",
        "--predictions",
        str(tool),
        "--data",
        f"imagefolder:{source}",
        "--size",
        "32",
        "-o",
        str(out),
        "--metrics",
        "auc",
        "colorfulness",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "metrics.json").read_text())
    assert result["predictions"] == str(tool) and result["missing"] == [] and result["images"] == 3
    assert result["metrics"]["model"]["colorfulness"] == pytest.approx(
        result["metrics"]["gray (no color)"]["colorfulness"], abs=0.5
    )
    assert (out / "grid.png").is_file() and "| model |" in printed
    assert main(["eval", "x.safetensors", "--predictions", str(tool), "--data", f"imagefolder:{source}"]) == 2
    assert "give it without a checkpoint, --temperature or --vividness" in capsys.readouterr().err
    assert main(["eval", "--predictions", str(tool)]) == 2
    assert "--predictions needs --data SOURCE" in capsys.readouterr().err


def test_compare_puts_a_predictions_folder_beside_checkpoints_and_fails_only_its_row_when_incomplete(tmp_path):
    source = originals(tmp_path / "photos", size=(32, 32))
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}, name="mine")
    complete = copies(source, tmp_path / "complete")
    partial = copies(source, tmp_path / "partial")
    (partial / "park" / "c.png").unlink()
    out = tmp_path / "report"
    argv = ["compare", "default", str(model), str(complete), str(partial), "--eval", f"imagefolder:{source}", "--size", "32",
            "-o", str(out), "--metrics", "auc"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((out / "metrics.json").read_text())["results"][f"imagefolder:{source}"]
    assert set(result["metrics"]) >= {"default", "mine", "complete"}  # 'default': the shipped model
    assert (
        result["metrics"]["complete"]["auc"] > result["metrics"]["mine"]["auc"]
    )  # the originals themselves score best
    assert "1 of 3 originals have no prediction" in result["failed"]["partial"]
