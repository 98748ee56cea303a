"""Every shipped recipe loads, builds and trains a couple of steps."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganforge
from ganforge.config import load_recipe
from ganforge.train import train_from_recipe_file

ROOT = Path(__file__).resolve().parents[1] / "recipes"
RECIPES = sorted(p for p in ROOT.glob("**/*.yaml") if p.name != "base.yaml" and p.parent.name != "shared")
SMALL = ["data.size=32", "data.batch_size=2", "data.num_workers=0", "data.val_images=1"]


def test_the_documented_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {
        "quickstart", "l2_regression", "gan", "per_channel", "per_channel_rgb", "zhang_classification",
        "zhang_then_gan", "ebgan", "diverse", "unconditional_pretrain",
    } <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT).with_suffix("")))
def test_recipe_trains_a_few_steps_and_its_checkpoint_loads(path, tmp_path):
    recipe = load_recipe(path)
    steps = len(recipe.phases) + 1
    # photo folders outside the package (recipes/default.yaml's BSDS500) are not on every machine
    local = [f"data.{key}=builtin:samples" for key in ("train", "val") if str(getattr(recipe.data, key)).startswith("imagefolder:")]
    model = train_from_recipe_file(path, [*SMALL, *local, f"train.out_dir={tmp_path}"], max_steps=steps)
    colorizer = ganforge.load(model)
    assert colorizer.recipe.name == path.stem
