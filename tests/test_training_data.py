"""Training data at scale: weighted mixtures of sources, crops, and simulated black-and-white inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.core.choices import GRAY_CONVERSIONS
from ganforge.core.colormath import to_gray
from ganforge.core.config import GrayAugmentConfig, load_recipe
from ganforge.core.errors import RecipeError, UsageError
from ganforge.core.plugins import get_registries
from ganforge.data.degrade import check_gray_augment, simulate_black_and_white
from ganforge.data.sources import ColorizationDataset, MixedSource, open_source
from ganforge.training.trainer import Trainer


def lab():
    return get_registries().color_spaces.create("lab")


def test_a_mixture_draws_each_source_in_proportion_to_its_weight():
    source = open_source(["builtin:samples", {"source": "builtin:shapes_val", "weight": 3}], "data.train")
    assert isinstance(source, MixedSource) and len(source) == 4 + 32
    dataset = ColorizationDataset(source, lab(), 32, seed=5, train=True)
    picks = np.array([dataset._image_index(position) for position in range(4000)])
    share_of_second = float((picks >= 4).mean())
    assert share_of_second == pytest.approx(0.75, abs=0.03)
    assert len(set(picks[picks < 4])) == 4  # every image of the small source is visited
    again = ColorizationDataset(source, lab(), 32, seed=5, train=True)
    assert [again._image_index(p) for p in range(50)] == list(picks[:50])  # a function of (seed, position): resumable


def test_a_mixture_loads_and_names_images_through_its_parts():
    source = open_source(["builtin:samples", "builtin:shapes_val"], "data.train")
    assert source.describe(0) == open_source("builtin:samples", "x").describe(0)
    assert np.array_equal(np.asarray(source.load(5)), np.asarray(open_source("builtin:shapes_val", "x").load(1)))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], r"recipe key 'data.train' is an empty list"),
        (
            [{"source": "builtin:samples", "weight": 0}],
            r"recipe key 'data.train.0.weight' must be a positive number, got 0",
        ),
        (
            [{"source": "builtin:samples", "wieght": 2}],
            r"recipe key 'data.train.0' must be a data source or \{source: SOURCE, weight: W\}",
        ),
        (["builtin:samples", "builtin:nothing"], r"recipe key 'data.train.1': unknown data source 'nothing'"),
        (3, r"recipe key 'data.train' must be a data source string or a list of them, got 3"),
    ],
)
def test_bad_mixtures_are_one_line_errors_naming_the_entry(value, message):
    with pytest.raises(UsageError, match=message):
        open_source(value, "data.train")


def test_training_crops_cover_the_configured_share_of_the_short_side():
    source = open_source("builtin:samples", "x")
    whole = ColorizationDataset(source, lab(), 48, seed=0, train=True, crop_scale=(1.0, 1.0))
    zoomed = ColorizationDataset(source, lab(), 48, seed=0, train=True, crop_scale=(0.2, 0.2))
    # a fifth of the picture, enlarged, is smoother than the whole picture at the same size
    detail = [float(ds[i]["gray"].diff(dim=-1).abs().mean()) for ds in (whole, zoomed) for i in range(4)]
    assert sum(detail[4:]) < sum(detail[:4])
    assert whole[0]["gray"].shape == (1, 48, 48)


def test_simulated_prints_are_deterministic_and_vary_with_the_draw():
    rgb = torch.rand(1, 3, 40, 40)
    config = GrayAugmentConfig(enabled=True)
    first = simulate_black_and_white(rgb, config, np.random.default_rng([0, 3, 7]))
    assert torch.equal(first, simulate_black_and_white(rgb, config, np.random.default_rng([0, 3, 7])))
    assert first.shape == (1, 1, 40, 40) and 0 <= first.min() and first.max() <= 1
    others = [simulate_black_and_white(rgb, config, np.random.default_rng([0, 3, i])) for i in range(8)]
    assert len({round(float(o.mean()), 4) for o in others}) > 4


def test_without_effects_a_print_is_exactly_the_drawn_conversion():
    rgb = torch.rand(1, 3, 16, 16)
    config = GrayAugmentConfig(enabled=True, conversions=["orthochromatic"], probability=0.0)
    out = simulate_black_and_white(rgb, config, np.random.default_rng(0))
    assert torch.allclose(out, to_gray(rgb, "orthochromatic"), atol=1e-6)


def test_orthochromatic_film_prints_red_dark_and_blue_light():
    red, blue = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1), torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
    assert float(to_gray(red, "orthochromatic")) < 0.2 < float(to_gray(red, "rec601"))
    assert float(to_gray(blue, "orthochromatic")) > 0.6 > float(to_gray(blue, "rec601"))
    assert {"orthochromatic", "panchromatic"} <= set(GRAY_CONVERSIONS)


def test_the_dataset_degrades_only_the_gray_input_and_only_for_training():
    source = open_source("builtin:samples", "x")
    config = GrayAugmentConfig(enabled=True)
    plain = ColorizationDataset(source, lab(), 32, seed=0, train=True)
    degraded = ColorizationDataset(source, lab(), 32, seed=0, train=True, gray_augment=config)
    assert torch.equal(plain[3]["target"], degraded[3]["target"])
    assert not torch.equal(plain[3]["gray"], degraded[3]["gray"])
    evaluation = ColorizationDataset(source, lab(), 32, seed=0, train=False, gray_augment=config)
    assert evaluation.gray_augment is None


def test_bad_gray_augment_options_name_the_key(tmp_path):
    assert check_gray_augment(GrayAugmentConfig()) == []
    problems = check_gray_augment(GrayAugmentConfig(conversions=["sepia"], jpeg=2.0, blur=-1))
    assert problems[0].startswith("data.gray_augment.conversions: unknown 'sepia'")
    assert any("jpeg must be in [0, 1]" in p for p in problems) and any("blur must be 0 or more" in p for p in problems)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "data: {gray_augment: {enabled: true, conversions: [sepia]}}\nphases: [{name: p, steps: 1, losses: {l1: 1}}]\n"
    )
    with pytest.raises(RecipeError, match=r"recipe key data\.gray_augment\.conversions: unknown 'sepia'"):
        Trainer(load_recipe(recipe, [f"train.out_dir={tmp_path / 'run'}"]))
    with pytest.raises(
        RecipeError, match=r"recipe key 'data\.crop_scale' must be \[low, high\] with 0 < low <= high <= 1"
    ):
        Trainer(
            load_recipe(
                recipe,
                ["data.gray_augment.enabled=false", "data.crop_scale=[0.9, 0.5]", f"train.out_dir={tmp_path / 'run'}"],
            )
        )
