"""Point hints: the generators' hint input, the hint map, and hints from Python and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.core.config import Recipe
from ganforge.core.errors import UsageError
from ganforge.core.plugins import get_registries
from ganforge.inference.checkpoint import save_checkpoint
from ganforge.inference.steering import Hint, hint_map, hints_from_json

from .helpers import checkpoint

HINTED = {"name": "unet", "width": 8, "depth": 2, "hints": 3}
CLASSIFIER = {"name": "zhang", "backbone": HINTED, "features": 8}
MOBILENET = {"name": "mobilenet_unet", "width": 8, "output_stride": 4, "resize_output": False, "hints": 3}


def build(spec: dict) -> torch.nn.Module:
    options = {k: v for k, v in spec.items() if k != "name"}
    return get_registries().generators.create(spec["name"], in_channels=1, out_channels=2, **options).eval()


def trained_hint_model(tmp_path) -> ganforge.Colorizer:
    """A hint model whose hint input has learned something (random weights in place of the zeros it starts with)."""
    torch.manual_seed(0)
    network = build(HINTED)
    torch.nn.init.normal_(network.hint_input.conv.weight, std=2.0)
    return ganforge.load(
        save_checkpoint(tmp_path / "hinted.safetensors", Recipe(generator=HINTED), network.state_dict())
    )


def photo(width: int = 64, height: int = 48) -> Image.Image:
    return Image.fromarray(
        np.linspace(40, 200, width * height, dtype=np.float32).reshape(height, width).astype(np.uint8), "L"
    )


@pytest.mark.parametrize(
    "spec", [CLASSIFIER, {"name": "zhang", "backbone": MOBILENET, "features": 8}], ids=["unet", "mobilenet_unet"]
)
def test_a_new_hint_input_starts_at_zero_so_the_model_is_what_it_was(spec):
    torch.manual_seed(0)
    network = build(spec)
    gray = torch.rand(2, 1, 40, 56) * 2 - 1
    hints = torch.zeros(2, 3, 40, 56)
    hints[:, :, 10:14, 20:24] = torch.tensor([0.6, -0.4, 1.0])[:, None, None]
    with torch.no_grad():
        assert torch.equal(network(gray).target, network(gray, hints=hints).target)
    plain = build(
        {k: v for k, v in spec.items()} | {"backbone": {k: v for k, v in spec["backbone"].items() if k != "hints"}}
    )
    assert set(network.state_dict()) - set(plain.state_dict()) == {
        f"backbone.hint_input.conv.{p}" for p in ("weight", "bias")
    }  # only the hint input is new: a model without hints loads into it but for that


def test_the_hint_map_marks_each_point_at_the_working_size():
    targets = torch.tensor([[0.5, -0.25], [0.1, 0.2]])
    hints = [Hint(10, 5, (255, 0, 0)), Hint(60, 40, (0, 0, 255), radius=8)]
    mapped = hint_map(hints, (64, 48), (24, 32), targets)  # half the photo's size
    assert mapped.shape == (1, 3, 24, 32)
    assert mapped[0, 2, 2, 5] == 1 and mapped[0, :2, 2, 5].tolist() == [0.5, -0.25]
    assert int(mapped[0, 2].sum()) == 1 + 6 * 8  # one pixel, then a square of radius 4 working pixels cut by the edges
    assert mapped[0, :2, 20, 30].tolist() == pytest.approx([0.1, 0.2])
    with pytest.raises(UsageError, match=r"hint 0 at \(64, 5\) is outside the 64 x 48 photo"):
        hint_map([Hint(64, 5, (0, 0, 0))], (64, 48), (24, 32), targets[:1])


def test_hints_change_the_colors_where_they_are_and_not_far_away(tmp_path):
    colorizer = trained_hint_model(tmp_path)
    picture = photo()
    plain = np.asarray(colorizer(picture)).astype(float)
    hinted = np.asarray(colorizer(picture, hints=[(12, 10, (30, 80, 220))])).astype(float)
    change = np.abs(hinted - plain).sum(2)
    assert change[6:15, 8:17].mean() > 5 * change[30:, 40:].mean() + 1
    batch = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255)[None, None].repeat(2, 1, 1, 1)
    out = colorizer(batch, hints=[[Hint(12, 10, (30, 80, 220))], []])  # a list per picture; the second has none
    assert torch.allclose(out[1], colorizer(batch[1:])[0]) and not torch.allclose(out[0], out[1])
    with pytest.raises(UsageError, match=r"1 list\(s\) of hints for 2 picture\(s\)"):
        colorizer(batch, hints=[(1, 1, (0, 0, 0))])
    with pytest.raises(UsageError, match="hint 0: color must be three integers 0-255"):
        colorizer(picture, hints=[(1, 1, (0, 0, 300))])


def test_a_model_without_a_hint_input_says_which_models_take_hints(tmp_path):
    colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 2}))
    with pytest.raises(UsageError, match="this model takes no hints: hints need a model trained with them .*hints: 3"):
        colorizer(photo(), hints=[(1, 1, (200, 0, 0))])


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"x": 1}, r"must hold a list of hints"),
        (
            [{"x": 1, "y": 2, "color": "#ff0000"}, {"x": 1, "color": "#ff0000"}],
            r"hint 1 must be an object with x, y, color",
        ),
        ([{"x": 1, "y": 2, "color": "red"}], r"hint 0: color must be written #rrggbb, got 'red'"),
        ([{"x": 1, "y": 2, "color": "#ff0000", "size": 3}], r"hint 0 must be an object"),
        ([{"x": "1", "y": 2, "color": "#ff0000"}], r"hint 0: x, y and radius must be numbers"),
        ([{"x": 1, "y": 2, "color": "#ff0000", "radius": -1}], r"hint 0: radius must be 0 or more"),
    ],
    ids=["not-a-list", "missing-key", "not-a-color", "unknown-key", "text-x", "negative-radius"],
)
def test_a_hints_file_that_is_not_the_format_says_which_entry(entries, message):
    with pytest.raises(UsageError, match=message):
        hints_from_json(entries, "hints file 'h.json'")


def test_colorize_takes_hints_from_a_json_file(tmp_path):
    model = trained_hint_model(tmp_path)
    photo().save(tmp_path / "in.png")
    (tmp_path / "hints.json").write_text(json.dumps([{"x": 12, "y": 10, "color": "#1e50dc"}]))
    checkpoint_path = str(tmp_path / "hinted.safetensors")
    assert main(["colorize", checkpoint_path, str(tmp_path / "in.png"), "-o", str(tmp_path / "plain.png")]) == 0
    assert (
        main(
            [
                "colorize",
                checkpoint_path,
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / "hinted.png"),
                "--hints",
                str(tmp_path / "hints.json"),
            ]
        )
        == 0
    )
    plain, hinted = (np.asarray(Image.open(tmp_path / name)).astype(float) for name in ("plain.png", "hinted.png"))
    assert np.abs(hinted - plain).sum(2)[6:15, 8:17].mean() > 1
    expected = np.asarray(model(Image.open(tmp_path / "in.png"), hints=[(12, 10, (0x1E, 0x50, 0xDC))])).astype(float)
    assert np.abs(hinted - expected).max() <= 1


# --------------------------------------------------------------------------- training with simulated users


def test_simulated_users_give_many_images_no_point_and_the_others_true_colors():
    from ganforge.core.config import HintsConfig
    from ganforge.data.hints import simulate_hints

    target = torch.rand(2, 32, 32) * 2 - 1
    config = HintsConfig(enabled=True, no_hints=0.5, mean_points=4, max_points=6, patch=[1, 5])
    maps = [simulate_hints(target, config, np.random.default_rng(seed)) for seed in range(200)]
    empty = sum(int(m[2].sum() == 0) for m in maps)
    assert 70 < empty < 130  # about half: the model must stay a good automatic colorizer
    for hints in maps:
        mask = hints[2] > 0
        assert torch.all(hints[:2, ~mask] == 0)
        assert torch.all(hints[:2, mask].abs() <= 1)  # means of true values, inside the target's range
    torch.testing.assert_close(simulate_hints(target, config, np.random.default_rng(3)), maps[3])  # seeded
    one = simulate_hints(
        torch.full((2, 8, 8), 0.25), HintsConfig(enabled=True, no_hints=0, patch=[3, 3]), np.random.default_rng(0)
    )
    assert torch.all(one[:2][:, one[2] > 0] == 0.25)  # a point is the mean true color of its square


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.hints.no_hints=1.5", r"'data.hints.no_hints' must be in \[0, 1\]"),
        ("data.hints.patch=[5,3]", r"'data.hints.patch' must be two sizes"),
        (
            "generator.hints=0",
            r"'data.hints' gives the generator points of color, but it has no hint input of 3 channels",
        ),
    ],
)
def test_bad_hint_training_options_are_one_line(override, message, tmp_path):
    from ganforge.core.config import load_recipe
    from ganforge.core.errors import RecipeError
    from ganforge.training.trainer import Trainer

    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(
        "data: {train: builtin:shapes, val: builtin:shapes, size: 32, batch_size: 2, num_workers: 0, hints: {enabled: true}}\n"
        f"generator: {json.dumps(HINTED)}\nphases: [{{name: p, steps: 1, losses: {{l1: 1.0}}}}]\ntrain: {{out_dir: {tmp_path / 'run'}}}\n"
    )
    with pytest.raises(RecipeError, match=message):
        Trainer(load_recipe(recipe_file, [override]))


def test_fine_tuning_a_model_without_hints_into_a_hint_model_starts_where_it_was(tmp_path):
    from ganforge.core.config import load_recipe
    from ganforge.training.trainer import Trainer

    plain = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 2}, name="plain")
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(
        "data: {train: builtin:shapes, val: builtin:shapes, size: 32, batch_size: 2, num_workers: 0, hints: {enabled: true}}\n"
        f"generator: {json.dumps(HINTED)}\nphases: [{{name: p, steps: 2, losses: {{l1: 1.0}}}}]\n"
        f"train: {{out_dir: {tmp_path / 'run'}, init_from: {plain}}}\n"
    )
    trainer = Trainer(load_recipe(recipe_file))
    gray = torch.rand(1, 1, 32, 32) * 2 - 1
    hints = torch.zeros(1, 3, 32, 32)
    hints[:, :, 4:8, 4:8] = 0.5
    generator = trainer.accelerator.unwrap_model(trainer.generator).eval()
    with torch.no_grad():
        torch.testing.assert_close(generator(gray, hints=hints), ganforge.load(plain).generator(gray))
    trainer.fit()  # the simulated users' points reach the generator
    assert (tmp_path / "run" / "model.safetensors").is_file()
