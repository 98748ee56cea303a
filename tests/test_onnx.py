"""ONNX export and the ONNX Runtime backend: the same pictures as PyTorch, the recipe carried, clear refusals."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from torch import nn

import ganforge
from ganforge import hookimpl
from ganforge.cli import main
from ganforge.core.errors import CheckpointError, UsageError
from ganforge.core.plugins import get_plugin_manager, reset_plugin_manager

from .helpers import checkpoint

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

UNET = {"name": "unet", "width": 8, "depth": 3}
ZHANG = {"name": "zhang", "backbone": {"name": "unet", "width": 8, "depth": 2}, "features": 16, "temperature": 0.5}
NOISE = {"name": "unet", "width": 8, "depth": 3, "noise": 4}


def exported(tmp_path, generator, *extra):
    model = checkpoint(tmp_path, generator)
    out = tmp_path / "model.onnx"
    assert main(["export", str(model), "-o", str(out), "--format", "onnx", *extra]) == 0
    return model, out


@pytest.mark.parametrize("generator", [UNET, ZHANG, NOISE], ids=["unet", "zhang-classification", "noise"])
def test_onnx_runtime_colorizes_like_pytorch_at_any_size(tmp_path, generator):
    model, out = exported(tmp_path, generator)
    torch_colorizer, onnx_colorizer = ganforge.load(model), ganforge.load(out)
    assert onnx_colorizer.backend == "onnxruntime" and torch_colorizer.backend == "torch"
    assert onnx_colorizer.recipe == torch_colorizer.recipe and onnx_colorizer.noise_dim == torch_colorizer.noise_dim
    rng = np.random.default_rng(0)
    for shape in ((37, 53), (64, 48)):  # dynamic height and width
        photo = rng.random(shape).astype(np.float32)
        assert np.abs(onnx_colorizer(photo) - torch_colorizer(photo)).max() < 1e-3
    batch = torch.rand(2, 1, 40, 40)  # and dynamic batch
    assert (onnx_colorizer(batch) - torch_colorizer(batch)).abs().max() < 1e-3
    if generator is NOISE:  # the same noise gives the same colors
        samples = zip(onnx_colorizer.sample(batch, 2, seed=5), torch_colorizer.sample(batch, 2, seed=5))
        assert all((a - b).abs().max() < 1e-3 for a, b in samples)


@pytest.mark.slow
def test_the_shipped_default_exports_to_a_graph_that_matches_at_sizes_not_multiples_of_32(tmp_path):
    out = tmp_path / "default.onnx"
    assert main(["export", "default", "-o", str(out)]) == 0
    torch_generator, onnx_generator = ganforge.load("default").generator, ganforge.load(out).generator
    generator = torch.Generator().manual_seed(0)
    for height, width in ((128, 213), (171, 128), (150, 150), (160, 240)):  # traced at the recipe's size
        gray = torch.rand(1, 1, height, width, generator=generator) * 2 - 1
        with torch.no_grad():
            expected, got = torch_generator(gray).target, onnx_generator(gray).target
        assert got.shape == expected.shape and (got - expected).abs().max() < 1e-4, (height, width)


def test_the_classification_decoding_is_fixed_at_export_and_confidence_needs_pytorch(tmp_path):
    model, out = exported(tmp_path, ZHANG, "--temperature", "0.3", "--vividness", "0.8")
    colorizer, reference = ganforge.load(out), ganforge.load(model)
    photo = np.random.default_rng(1).random((32, 32)).astype(np.float32)
    assert np.abs(colorizer(photo) - reference(photo, temperature=0.3, vividness=0.8)).max() < 1e-3
    assert np.abs(reference(photo, temperature=0.3) - reference(photo, temperature=0.3, vividness=0.8)).max() > 1e-2
    assert np.abs(colorizer(photo, temperature=0.3, vividness=0.8) - colorizer(photo)).max() == 0
    with pytest.raises(UsageError, match=r"decodes at the temperature it was exported with \(0.3\)"):
        colorizer(photo, temperature=0.6)
    with pytest.raises(UsageError, match=r"decodes at the vividness it was exported with \(0.8\)"):
        colorizer(photo, vividness=0.0)
    with pytest.raises(UsageError, match="only noise models give a confidence"):
        colorizer.confidence(photo)


def test_onnx_export_from_python_refuses_a_temperature_the_graph_would_divide_by(tmp_path):
    from ganforge.inference.export import export_onnx

    model = checkpoint(tmp_path, ZHANG)
    with pytest.raises(UsageError, match="^temperature must be positive, got 0$"):
        export_onnx(model, tmp_path / "cold.onnx", temperature=0)
    assert not (tmp_path / "cold.onnx").exists()


def test_a_static_size_export_takes_that_size_only(tmp_path):
    model, out = exported(tmp_path, UNET, "--static-size", "32")
    colorizer = ganforge.load(out)
    assert (
        colorizer(torch.rand(1, 1, 32, 32), size=32) - ganforge.load(model)(torch.rand(1, 1, 32, 32), size=32)
    ).shape == (1, 3, 32, 32)
    with pytest.raises(
        UsageError, match=r"was exported for 32x32 inputs, got 32x48; .* or export without --static-size"
    ):
        colorizer(torch.rand(1, 1, 32, 48), size=32)


def test_colorize_runs_on_onnx_runtime_from_the_command_line(tmp_path):
    from PIL import Image

    model = checkpoint(tmp_path, UNET)
    out = tmp_path / "model.onnx"
    assert main(["export", str(model), "-o", str(out)]) == 0  # the .onnx suffix implies --format onnx
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (30, 40), dtype=np.uint8), "L").save(tmp_path / "old.png")
    assert main(["colorize", str(out), str(tmp_path / "old.png"), "-o", str(tmp_path / "onnx.png")]) == 0
    assert main(["colorize", str(model), str(tmp_path / "old.png"), "-o", str(tmp_path / "torch.png")]) == 0
    onnx_pixels, torch_pixels = (
        np.asarray(Image.open(tmp_path / f"{name}.png"), dtype=int) for name in ("onnx", "torch")
    )
    assert np.abs(onnx_pixels - torch_pixels).max() <= 1


def test_mismatched_backends_and_foreign_onnx_files_are_refused_in_one_line(tmp_path, capsys):
    model, out = exported(tmp_path, UNET)
    with pytest.raises(
        UsageError, match=r"backend 'onnxruntime' cannot load '.*\.safetensors': ONNX Runtime runs \.onnx files"
    ):
        ganforge.load(model, backend="onnxruntime")
    with pytest.raises(UsageError, match=r"backend 'tensorrt' is not one of torch, onnxruntime"):
        ganforge.load(out, backend="tensorrt")
    foreign = tmp_path / "foreign.onnx"
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])], [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )  # fmt: skip
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), str(foreign))
    with pytest.raises(CheckpointError, match="is an ONNX model ganforge did not export"):
        ganforge.load(foreign)
    (tmp_path / "garbage.onnx").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="is not a readable ONNX model"):
        ganforge.load(tmp_path / "garbage.onnx")
    assert main(["export", str(model), "-o", str(tmp_path / "x.onnx"), "--format", "onnx", "--half"]) == 2
    assert (
        "--half, --confidence-temperature and --metrics-from apply to --format safetensors" in capsys.readouterr().err
    )
    assert not (tmp_path / "x.onnx").exists()


class SpectralGenerator(nn.Module):
    """Colors from the picture's spectrum: complex FFTs, which ONNX opset 17 cannot express."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.mix = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, gray: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.mix(torch.fft.ifft2(torch.fft.fft2(gray) * 0.5).real))


@pytest.fixture
def spectral_plugin():
    plugin = types.ModuleType("spectral_plugin")
    plugin.ganforge_register = hookimpl(lambda registries: registries.generators.add("spectral", SpectralGenerator))  # type: ignore[attr-defined]
    reset_plugin_manager()
    get_plugin_manager().add_plugin(plugin, name="spectral_plugin", distribution="tests")
    yield
    reset_plugin_manager()


def test_a_generator_that_cannot_be_traced_is_one_line_and_nothing_is_left_behind(tmp_path, spectral_plugin, capsys):
    model = checkpoint(tmp_path, {"name": "spectral"})
    assert main(["export", str(model), "-o", str(tmp_path / "spectral.onnx"), "--format", "onnx"]) != 0
    error = capsys.readouterr().err.strip()
    assert "cannot be exported to ONNX" in error and "use the PyTorch backend" in error and len(error.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_compare_takes_an_onnx_model_beside_its_checkpoint(tmp_path):
    import json

    from PIL import Image

    model, out = exported(tmp_path, UNET)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(photos / "a.png")
    report = tmp_path / "report"
    argv = [
        "compare",
        str(model),
        str(out),
        "--eval",
        f"imagefolder:{photos}",
        "--size",
        "32",
        "-o",
        str(report),
        "--metrics",
        "auc",
    ]
    assert main(argv) == 0
    metrics = json.loads((report / "metrics.json").read_text())["results"][f"imagefolder:{photos}"]["metrics"]
    torch_row, onnx_row = (values for row, values in metrics.items() if row not in ("gray (no color)", "mean color"))
    assert onnx_row["auc"] == pytest.approx(torch_row["auc"], abs=1e-3)  # the same network on both backends
