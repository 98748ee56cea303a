"""The pretrained-encoder generator: torchvision's module tree, weights read once, frozen statistics, phases."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import ganforge
from ganforge.core.config import load_recipe
from ganforge.core.errors import RecipeError
from ganforge.core.plugins import reset_plugin_manager
from ganforge.inference.checkpoint import read_checkpoint
from ganforge.training.trainer import Trainer, train_from_recipe_file
from ganforge_plugins.mobilenet import MobileNetUNet, MobileNetV2Classifier


@pytest.fixture(autouse=True)
def _fresh_plugins():
    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def imagenet_like_weights(tmp_path: Path) -> Path:
    """A MobileNetV2 weights file with torchvision's key names (random values, like any ImageNet file's layout)."""
    torch.manual_seed(1)
    classifier = MobileNetV2Classifier()
    path = tmp_path / "mobilenet_v2.safetensors"
    save_file({k: v.contiguous() for k, v in classifier.state_dict().items()}, str(path))
    return path


def test_the_module_tree_is_torchvisions_mobilenet_v2():
    state = MobileNetV2Classifier().state_dict()
    # torchvision.models.mobilenet_v2(): 3,504,872 parameters, 314 state tensors
    assert sum(p.numel() for p in MobileNetV2Classifier().parameters()) == 3_504_872
    assert len(state) == 314
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["features.1.conv.1.weight"].shape == (16, 32, 1, 1)  # expansion 1: no expand conv
    assert state["features.2.conv.0.0.weight"].shape == (96, 16, 1, 1)
    assert state["features.18.0.weight"].shape == (1280, 320, 1, 1)
    assert state["classifier.1.weight"].shape == (1000, 1280)


@pytest.mark.parametrize(
    ("stride", "resize", "expected"),
    [(1, True, (70, 50)), (2, False, (35, 25)), (4, False, (18, 13)), (4, True, (70, 50))],
)
def test_output_size_follows_output_stride_for_any_input_size(stride, resize, expected):
    model = MobileNetUNet(1, 2, width=4, output_stride=stride, resize_output=resize).eval()
    out = model(torch.rand(2, 1, 70, 50) * 2 - 1)
    assert out.shape == (2, 2, *expected) and out.abs().max() <= 1


def test_noise_changes_the_output_and_no_noise_is_the_zero_sample():
    model = MobileNetUNet(1, 2, width=4, noise=3).eval()
    gray = torch.rand(1, 1, 64, 64)
    z = torch.randn(1, 3, requires_grad=True)
    model(gray, z).sum().backward()
    assert z.grad is not None and z.grad.abs().min() > 0  # every noise component reaches the output
    assert torch.equal(model(gray), model(gray, torch.zeros(1, 3)))


def test_the_encoders_batch_norm_statistics_never_change_in_training():
    model = MobileNetUNet(1, 2, width=4).train()
    before = {k: v.clone() for k, v in model.encoder.state_dict().items() if "running" in k}
    model(torch.rand(4, 1, 64, 64) * 2 - 1)
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.bottleneck[1].training  # the decoder's own batch norms do learn statistics


def test_init_pretrained_copies_the_files_features_and_reports_its_hash(imagenet_like_weights):
    model = MobileNetUNet(1, 2, width=4, encoder_weights=str(imagenet_like_weights))
    report = model.init_pretrained()
    reference = MobileNetV2Classifier()
    reference.load_state_dict(dict(load_file(str(imagenet_like_weights))))
    assert torch.equal(model.encoder.features[5].conv[1][0].weight, reference.features[5].conv[1][0].weight)
    assert len(report["encoder_weights_sha256"]) == 64


def test_encoder_weights_errors_name_the_key_the_file_and_what_was_expected(tmp_path, imagenet_like_weights):
    missing = MobileNetUNet(1, 2, width=4, encoder_weights=str(tmp_path / "nowhere.safetensors"))
    with pytest.raises(RecipeError, match=r"recipe key 'encoder_weights': '.*nowhere.safetensors' does not exist"):
        missing.init_pretrained()
    tensors = load_file(str(imagenet_like_weights))
    tensors["features.3.conv.1.0.weight"] = torch.zeros(7, 1, 3, 3)
    save_file(tensors, str(tmp_path / "wrong.safetensors"))
    wrong = MobileNetUNet(1, 2, width=4, encoder_weights=str(tmp_path / "wrong.safetensors"))
    with pytest.raises(
        RecipeError, match=r"features\.3\.conv\.1\.0\.weight has shape \(7, 1, 3, 3\), expected \(144, 1, 3, 3\)"
    ):
        wrong.init_pretrained()
    save_file({"features.0.0.weight": tensors["features.0.0.weight"]}, str(tmp_path / "partial.safetensors"))
    partial = MobileNetUNet(1, 2, width=4, encoder_weights=str(tmp_path / "partial.safetensors"))
    with pytest.raises(
        RecipeError, match=r"lacks 311 of the 312 MobileNetV2 tensors needed .*torchvision's mobilenet_v2 key names"
    ):
        partial.init_pretrained()
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    junk = MobileNetUNet(1, 2, width=4, encoder_weights=str(tmp_path / "junk.safetensors"))
    with pytest.raises(RecipeError, match="is not a readable safetensors file"):
        junk.init_pretrained()


RECIPE = """
color_space: lab
data: {{train: "builtin:samples", val: "builtin:samples", size: 64, batch_size: 2, num_workers: 0, val_images: 1}}
generator:
  name: zhang
  backbone: {{name: mobilenet_unet, width: 4, output_stride: 4, resize_output: false, encoder_weights: "{weights}"}}
  features: 8
  downsample: 1
phases:
  - {{name: decoder, steps: 2, lr_scale: {{backbone.encoder: 0}}, losses: {{zhang: 1.0}}}}
  - {{name: finetune, steps: 2, lr_scale: {{backbone.encoder: 0.1, backbone.encoder.features.0: 0}}, losses: {{zhang: 1.0}}}}
train: {{out_dir: "{out_dir}", checkpoint_every: 2, sample_every: 100, log_every: 1, ema: 0}}
"""


def _encoder(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        k.removeprefix("backbone.encoder."): v for k, v in state.items() if k.startswith("backbone.encoder.features.")
    }


@pytest.mark.slow
def test_a_phase_freezes_the_encoder_and_the_next_fine_tunes_it_at_its_own_rate(tmp_path, imagenet_like_weights):
    recipe = tmp_path / "mobilenet.yaml"
    recipe.write_text(RECIPE.format(weights=imagenet_like_weights, out_dir=tmp_path / "run"))
    pretrained = load_file(str(imagenet_like_weights))
    trainer = Trainer(load_recipe(recipe))
    groups = {g["prefix"]: g for g in trainer.optimizers["generator"].param_groups}
    assert set(groups) == {"backbone.encoder.features.0", "backbone.encoder", ""}
    model = trainer.fit()
    after_frozen = _encoder(load_file(str(tmp_path / "run" / "state" / "step-00000002" / "model.safetensors")))
    tuned = _encoder(read_checkpoint(model).weights["generator"])
    assert after_frozen and all(torch.equal(v, pretrained[k]) for k, v in after_frozen.items())
    assert all(torch.equal(v, pretrained[k]) for k, v in tuned.items() if k.startswith("features.0."))
    assert any(not torch.equal(v, pretrained[k]) for k, v in tuned.items() if k.startswith("features.5."))
    assert groups["backbone.encoder"]["lr"] == pytest.approx(0.1 * trainer.recipe.train.lr_generator)
    assert groups["backbone.encoder.features.0"]["lr"] == 0 and groups[""]["lr"] == trainer.recipe.train.lr_generator


@pytest.mark.slow
def test_a_trained_model_loads_without_the_encoder_weights_file(tmp_path, imagenet_like_weights):
    recipe = tmp_path / "mobilenet.yaml"
    recipe.write_text(RECIPE.format(weights=imagenet_like_weights, out_dir=tmp_path / "run"))
    model = train_from_recipe_file(recipe, max_steps=2)
    imagenet_like_weights.unlink()
    colorizer = ganforge.load(model)
    assert colorizer(torch.rand(1, 1, 40, 56)).shape == (1, 3, 40, 56)
    resumed = Trainer(load_recipe(recipe, ["train.max_steps=3"]), resume=True)  # resuming never reads the file either
    assert resumed.step == 2


def test_an_lr_scale_prefix_that_names_no_parameter_is_a_recipe_error(tmp_path, imagenet_like_weights):
    recipe = tmp_path / "mobilenet.yaml"
    recipe.write_text(RECIPE.format(weights=imagenet_like_weights, out_dir=tmp_path / "run"))
    with pytest.raises(
        RecipeError,
        match=r"phases\.1\.lr_scale\.backbone\.encodr': no generator parameter is under .*top-level modules: backbone, classify",
    ):
        Trainer(load_recipe(recipe, ["phases.1.lr_scale={backbone.encodr: 0.1}"]))
    with pytest.raises(
        RecipeError, match=r"phases\.0\.lr_scale\.backbone\.encoder' must be 0 \(frozen\) or more, got -1"
    ):
        Trainer(load_recipe(recipe, ["phases.0.lr_scale={backbone.encoder: -1}"]))
