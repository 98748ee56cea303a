from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import ganforge
from ganforge.core.config import Recipe
from ganforge.core.errors import CheckpointError
from ganforge.inference.checkpoint import read_checkpoint, save_checkpoint

from .conftest import TinyGenerator


@pytest.fixture
def recipe() -> Recipe:
    return Recipe(name="tiny", generator={"name": "tiny", "width": 3})


@pytest.fixture
def saved(tmp_path: Path, recipe: Recipe, tiny_plugin) -> tuple[Path, TinyGenerator, TinyGenerator]:
    generator, ema = TinyGenerator(1, 2, width=3), TinyGenerator(1, 2, width=3)
    path = save_checkpoint(tmp_path / "model.safetensors", recipe, generator.state_dict(), ema.state_dict())
    return path, generator, ema


def test_checkpoint_round_trip_rebuilds_the_model_from_the_file_alone(saved, recipe):
    path, generator, ema = saved
    checkpoint = read_checkpoint(path)
    assert checkpoint.recipe == recipe
    assert checkpoint.metadata["format"] == "ganforge" and checkpoint.metadata["format_version"] == "1"
    assert checkpoint.metadata["ganforge_version"] == ganforge.__version__
    assert json.loads(checkpoint.metadata["color_space"]) == "lab"
    colorizer = ganforge.load(path)
    for name, tensor in colorizer.generator.state_dict().items():
        torch.testing.assert_close(tensor, ema.state_dict()[name])  # EMA weights are preferred
    gray = torch.rand(2, 1, 8, 8)
    out = colorizer(gray)
    assert out.shape == (2, 3, 8, 8) and 0 <= out.min() and out.max() <= 1


def test_colorizer_output_keeps_the_input_lightness(saved):
    colorizer = ganforge.load(saved[0])
    with torch.no_grad():  # a mild constant chroma, so no predicted color leaves the sRGB gamut
        colorizer.generator.body[2].weight.zero_()
        colorizer.generator.body[2].bias.fill_(0.05)
    rgb = torch.rand(1, 3, 8, 8) * 0.6 + 0.2
    out = colorizer(rgb)
    gray_in, gray_out = (colorizer.color_space.split(x)[0] for x in (rgb, out))
    torch.testing.assert_close(gray_out, gray_in, atol=1e-4, rtol=0)
    assert colorizer.color_space.split(out)[1].abs().min() > 0.04


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"^checkpoint '.*nothing.safetensors' does not exist$"):
        read_checkpoint(tmp_path / "nothing.safetensors")


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "photo.safetensors"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"is not a safetensors file"):
        read_checkpoint(path)


def test_a_folder_and_a_huge_garbage_header_get_short_clear_errors(tmp_path):
    with pytest.raises(
        CheckpointError, match=r"is a folder; name the .safetensors file in it \(e.g. '.*model.safetensors'\)"
    ):
        read_checkpoint(tmp_path)
    garbage = json.dumps({"tensor": "x" * 2_000_000}).encode()  # the parser quotes the whole bad value
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(len(garbage).to_bytes(8, "little") + garbage)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert len(str(info.value)) < 400 and "\n" not in str(info.value)


def test_truncated_file(saved):
    path = saved[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"is truncated"):
        read_checkpoint(path)


def test_safetensors_file_from_elsewhere(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="is a safetensors file but not a ganforge checkpoint"):
        read_checkpoint(path)


def test_newer_format_version_asks_to_upgrade(tmp_path, recipe, monkeypatch):
    monkeypatch.setattr("ganforge.inference.checkpoint.FORMAT_VERSION", 7)  # written by a future ganforge
    path = save_checkpoint(tmp_path / "m.safetensors", recipe, {"w": torch.zeros(1)})
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="format version '7', newer than this ganforge"):
        read_checkpoint(path)


def test_tensors_that_do_not_fit_the_recipe_name_the_tensor(tmp_path, tiny_plugin):
    wide = TinyGenerator(1, 2, width=5)
    path = save_checkpoint(
        tmp_path / "m.safetensors", Recipe(generator={"name": "tiny", "width": 3}), wide.state_dict()
    )
    with pytest.raises(
        CheckpointError,
        match=r"tensor 'body.0.weight' has shape \(5, 1, 3, 3\) but the recipe's model expects \(3, 1, 3, 3\)",
    ):
        ganforge.load(path)
    state = TinyGenerator(1, 2, width=3).state_dict()
    del state["body.2.bias"]
    path = save_checkpoint(tmp_path / "m2.safetensors", Recipe(generator={"name": "tiny", "width": 3}), state)
    with pytest.raises(
        CheckpointError, match=r"does not fit its recipe's model: missing 1 tensor\(s\), e.g. 'body.2.bias'"
    ):
        ganforge.load(path)


def test_a_stored_recipe_asking_for_a_huge_network_is_refused_before_any_memory_is_allocated(tmp_path):
    # width 200000: about 2.9 TB of weights, an allocation that fails outright if it were attempted
    recipe = Recipe(generator={"name": "unet", "width": 200000, "depth": 3})
    path = save_checkpoint(tmp_path / "m.safetensors", recipe, _unet_state())
    with pytest.raises(
        CheckpointError, match=r"has shape \(8, 1, 3, 3\) but the recipe's model expects \(200000, 1, 3, 3\)"
    ):
        ganforge.load(path)


def _unet_state() -> dict[str, torch.Tensor]:
    from ganforge_plugins.unet import UNet

    torch.manual_seed(0)
    return UNet(1, 2, width=8, depth=3).state_dict()


def test_a_failed_save_leaves_the_previous_checkpoint_intact(saved, recipe, monkeypatch):
    path = saved[0]
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("ganforge.inference.checkpoint.save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, recipe, {"w": torch.ones(3)})
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_checkpoints_get_the_usual_file_mode_even_when_the_writer_makes_them_private(tmp_path, recipe, monkeypatch):
    import os
    import stat

    from ganforge.inference import checkpoint as module

    real_save = module.save_file

    def private_save(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        os.chmod(filename, 0o600)

    monkeypatch.setattr(module, "save_file", private_save)
    old_mask = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "m.safetensors", recipe, {"w": torch.ones(3)})
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_export_keeps_only_the_inference_weights_and_gives_the_same_colors(saved, tmp_path, capsys):
    from ganforge.cli import main

    path, _, _ = saved
    out = tmp_path / "shipped.safetensors"
    assert main(["export", str(path), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    exported = read_checkpoint(out)
    assert not exported.weights["ema"] and exported.metadata["weights"] == "ema"
    assert exported.metadata["exported_from"] == "model.safetensors" and exported.recipe == read_checkpoint(path).recipe
    assert out.stat().st_size < path.stat().st_size
    gray = torch.rand(1, 1, 8, 8)
    torch.testing.assert_close(ganforge.load(out)(gray), ganforge.load(path)(gray))


def test_export_can_set_a_classification_models_temperature_and_vividness(tmp_path):
    from ganforge.inference.export import export_for_inference

    from .helpers import checkpoint

    zhang = checkpoint(
        tmp_path,
        {"name": "zhang", "backbone": {"name": "unet", "width": 8, "depth": 3}, "features": 8, "temperature": 0.38},
    )
    out = export_for_inference(zhang, tmp_path / "warm.safetensors", temperature=0.6, vividness=0.5)
    generator = ganforge.load(out).generator
    assert (generator.temperature, generator.vividness) == (0.6, 0.5)
    assert read_checkpoint(out).metadata["trained_temperature"] == "0.38"
    with pytest.raises(CheckpointError, match=r"vividness must be in \[-1, 2\], got 4"):
        export_for_inference(zhang, tmp_path / "loud.safetensors", vividness=4)
    for name in ("temperature", "confidence_temperature"):
        with pytest.raises(CheckpointError, match=f"^{name} must be positive, got -1$"):
            export_for_inference(zhang, tmp_path / "cold.safetensors", **{name: -1})
    unet = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}, name="plain")
    with pytest.raises(CheckpointError, match="not a classification model"):
        export_for_inference(unet, tmp_path / "x.safetensors", temperature=0.6)


def test_export_refuses_to_replace_the_checkpoint_it_reads(saved):
    from ganforge.inference.export import export_for_inference

    before = saved[0].read_bytes()
    with pytest.raises(CheckpointError, match="onto itself would replace the training checkpoint; pass another -o"):
        export_for_inference(saved[0], saved[0].parent / "." / saved[0].name)
    assert saved[0].read_bytes() == before


def test_a_half_precision_export_is_half_the_size_and_loads_as_float32(tmp_path):
    from ganforge.inference.export import export_for_inference

    from .helpers import checkpoint

    model = checkpoint(tmp_path, {"name": "unet", "width": 16, "depth": 3})
    full = export_for_inference(model, tmp_path / "full.safetensors")
    half = export_for_inference(model, tmp_path / "half.safetensors", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert read_checkpoint(half).metadata["stored_dtype"] == "float16"
    assert all(
        t.dtype == torch.float16 for t in read_checkpoint(half).weights["generator"].values() if t.is_floating_point()
    )
    colorizer = ganforge.load(half)
    assert colorizer.dtype == torch.float32
    gray = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(colorizer(gray), ganforge.load(full)(gray), atol=2e-3, rtol=0)


@pytest.mark.parametrize(
    "stored",
    [
        {"name": "${oc.env:GANFORGE_TEST_SECRET}"},
        {"data": {"train": ["${oc.env:GANFORGE_TEST_SECRET}"]}},
        ["not", "a", "mapping"],
    ],
)
def test_a_stored_recipe_is_data_never_resolved(saved, tmp_path, monkeypatch, stored):
    from ganforge.inference.export import export_for_inference

    monkeypatch.setenv("GANFORGE_TEST_SECRET", "s3cret-token")
    original = read_checkpoint(saved[0])
    recipe = stored
    if isinstance(stored, dict):
        recipe = json.loads(original.metadata["recipe"])
        recipe["name"] = stored.get("name", recipe["name"])
        recipe["data"].update(stored.get("data", {}))
    crafted = tmp_path / "crafted.safetensors"
    save_file(
        {f"generator.{k}": v for k, v in original.weights["generator"].items()},
        str(crafted),
        {**original.metadata, "recipe": json.dumps(recipe)},
    )
    expected = "holds an interpolation" if isinstance(stored, dict) else "must be a mapping, got list"
    with pytest.raises(CheckpointError, match=expected) as info:
        ganforge.load(crafted)
    assert "s3cret-token" not in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match=expected):
        export_for_inference(crafted, tmp_path / "shared.safetensors")
    assert not (tmp_path / "shared.safetensors").exists()


def test_caller_metadata_cannot_overwrite_the_stored_recipe_or_format(tmp_path, recipe):
    with pytest.raises(
        ValueError, match=r"metadata keys \['format', 'recipe'\] are ganforge's own; name yours otherwise"
    ):
        save_checkpoint(
            tmp_path / "m.safetensors",
            recipe,
            {"w": torch.zeros(1)},
            metadata={"recipe": "{}", "format": "x", "step": "3"},
        )
    assert not (tmp_path / "m.safetensors").exists()
    path = save_checkpoint(tmp_path / "m.safetensors", recipe, {"w": torch.zeros(1)}, metadata={"step": "3"})
    assert read_checkpoint(path).metadata["step"] == "3"
