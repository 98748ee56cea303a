"""Every shipped recipe loads, builds and trains a couple of steps."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganforge
from ganforge.core.config import load_recipe
from ganforge.training.trainer import train_from_recipe_file

ROOT = Path(__file__).resolve().parents[1] / "recipes"
RECIPES = sorted(p for p in ROOT.glob("**/*.yaml") if p.name != "base.yaml" and p.parent.name != "shared")
SMALL = ["data.size=32", "data.batch_size=2", "data.num_workers=0", "data.val_images=1"]


def without_shared_files(recipe) -> list[str]:
    """Overrides for what a fresh machine lacks: photo folders (recipes/default.yaml trains on ../shared)
    and pretrained encoder weights (the test trains from random ones)."""
    overrides = [
        f"data.{key}=builtin:samples"
        for key in ("train", "val")
        if isinstance(getattr(recipe.data, key), list) or str(getattr(recipe.data, key)).startswith("imagefolder:")
    ]
    generator = recipe.generator if isinstance(recipe.generator, dict) else {}
    for key, spec in (
        ("generator", generator),
        ("generator.backbone", generator.get("backbone")),
    ):  # an encoder alone or under a head
        if isinstance(spec, dict) and spec.get("encoder_weights"):
            overrides.append(f"{key}.encoder_weights=null")
    return overrides


def test_the_documented_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {
        "quickstart",
        "l2_regression",
        "gan",
        "per_channel",
        "per_channel_rgb",
        "zhang_classification",
        "zhang_then_gan",
        "ebgan",
        "diverse",
        "unconditional_pretrain",
    } <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT).with_suffix("")))
def test_recipe_trains_a_few_steps_and_its_checkpoint_loads(path, tmp_path):
    recipe = load_recipe(path)
    steps = len(recipe.phases) + 1
    model = train_from_recipe_file(
        path, [*SMALL, *without_shared_files(recipe), f"train.out_dir={tmp_path}"], max_steps=steps
    )
    colorizer = ganforge.load(model)
    assert colorizer.recipe.name == path.stem
