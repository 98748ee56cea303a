"""Model cards: `ganforge export` writes a Hub-style README.md beside the weights, and a folder loads like a Hub id."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import ganforge
from ganforge.cli import main
from ganforge.core.config import recipe_from_dict
from ganforge.core.errors import UsageError

from .helpers import checkpoint


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card[4 : card.index("\n---", 4)])


@pytest.fixture
def trained(tmp_path):
    return checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}, name="mine")


def test_export_writes_a_hub_model_card_and_the_folder_loads_like_a_hub_id(trained, tmp_path, capsys):
    folder = tmp_path / "release"
    assert main(["export", str(trained), "-o", str(folder / "model.safetensors"), "--license", "cc-by-4.0"]) == 0
    assert "model card" in capsys.readouterr().out
    card = (folder / "README.md").read_text()
    meta = front_matter(card)
    assert (
        meta["library_name"] == "ganforge"
        and meta["license"] == "cc-by-4.0"
        and meta["pipeline_tag"] == "image-to-image"
    )
    assert "model-index" not in meta and "Not evaluated at export" in card
    recipe_yaml = card.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert recipe_from_dict(yaml.safe_load(recipe_yaml)) == ganforge.load(trained).recipe
    gray = np.random.default_rng(0).integers(0, 255, (24, 32), dtype=np.uint8)
    assert np.array_equal(ganforge.load(folder)(gray), ganforge.load(folder / "model.safetensors")(gray))


def test_the_card_carries_an_evaluations_numbers_in_its_text_and_model_index(trained, tmp_path):
    evaluation = tmp_path / "evaluation"
    assert (
        main(
            [
                "eval",
                str(trained),
                "--data",
                "builtin:samples",
                "--size",
                "32",
                "--metrics",
                "auc",
                "psnr",
                "-o",
                str(evaluation),
            ]
        )
        == 0
    )
    measured = json.loads((evaluation / "metrics.json").read_text())["metrics"]
    folder = tmp_path / "release"
    assert (
        main(
            [
                "export",
                str(trained),
                "-o",
                str(folder / "model.safetensors"),
                "--metrics-from",
                str(evaluation / "metrics.json"),
            ]
        )
        == 0
    )
    card = (folder / "README.md").read_text()
    [result] = front_matter(card)["model-index"][0]["results"]
    assert result["dataset"] == {"name": "builtin:samples", "type": "builtin"}
    assert {m["type"]: m["value"] for m in result["metrics"]} == pytest.approx(
        {k: round(v, 4) for k, v in measured["model"].items()}
    )
    assert f"| gray (no color) | {measured['gray (no color)']['auc']:.3f} |" in card


def test_a_readme_that_is_not_a_ganforge_card_is_kept_and_a_ganforge_card_is_replaced(trained, tmp_path):
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "README.md").write_text("# My notes\n")
    assert main(["export", str(trained), "-o", str(folder / "model.safetensors")]) == 0
    assert (folder / "README.md").read_text() == "# My notes\n" and (folder / "model.safetensors").is_file()
    (folder / "README.md").unlink()
    assert (
        main(["export", str(trained), "-o", str(folder / "model.safetensors"), "--license", "mit", "--overwrite"]) == 0
    )
    assert (
        main(
            ["export", str(trained), "-o", str(folder / "model.safetensors"), "--license", "apache-2.0", "--overwrite"]
        )
        == 0
    )
    assert front_matter((folder / "README.md").read_text())["license"] == "apache-2.0"
    other = tmp_path / "bare"
    assert main(["export", str(trained), "-o", str(other / "model.safetensors"), "--no-card"]) == 0
    assert not (other / "README.md").exists()


def test_a_bad_metrics_file_is_refused_before_anything_is_written(trained, tmp_path, capsys):
    not_metrics = tmp_path / "other.json"
    not_metrics.write_text('{"something": 1}')
    for path, message in (
        (tmp_path / "missing.json", "does not exist"),
        (not_metrics, "is not the metrics.json of a ganforge eval or compare"),
    ):
        assert (
            main(
                ["export", str(trained), "-o", str(tmp_path / "out" / "model.safetensors"), "--metrics-from", str(path)]
            )
            == 2
        )
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_a_folder_with_no_model_safetensors_and_several_checkpoints_is_refused_with_their_names(trained, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.safetensors").write_bytes(trained.read_bytes())
    with pytest.raises(
        UsageError,
        match=r"folder '.*many' holds no model.safetensors \(.safetensors files: a.safetensors, b.safetensors\)",
    ):
        ganforge.load(folder)
    (folder / "b.safetensors").unlink()
    assert ganforge.load(folder).recipe.name == "mine"  # one checkpoint: no doubt which
