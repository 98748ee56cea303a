"""The model shipped inside the package: found by name, colorizes out of the box, and is in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.core.colormath import rgb_to_lab
from ganforge.core.images import to_tensor
from ganforge.inference.colorizer import DEFAULT_MODEL
from ganforge_plugins.builtin_data import TRUE_BW_DIR


def test_the_default_model_is_small_enough_to_ship():
    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size <= 10 * 2**20
    assert (DEFAULT_MODEL.parent / "README.md").is_file()  # provenance and licence


def test_the_default_model_colorizes_a_true_black_and_white_photo():
    colorizer = ganforge.load()  # same as ganforge.load("default")
    photo = Image.open(TRUE_BW_DIR / "coins.png")
    colored = colorizer(photo)
    assert colored.size == photo.size and colored.mode == "RGB"
    chroma = rgb_to_lab(to_tensor(colored)[None])[0, 1:].norm(dim=0)
    assert chroma.mean() > 4.0  # clearly colored: a gray picture has chroma < 1
    assert torch.equal(to_tensor(colored), to_tensor(ganforge.load("default")(photo)))


@pytest.mark.parametrize("model", sorted(DEFAULT_MODEL.parent.glob("*.safetensors")), ids=lambda path: path.stem)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])  # the dtypes README shows
def test_every_shipped_model_runs_in_every_dtype_readme_shows(model, dtype):
    colorizer = ganforge.load(model).to("cpu", dtype)
    photo = Image.open(TRUE_BW_DIR / "coins.png").resize((96, 80))
    reference = to_tensor(ganforge.load(model)(photo))
    colored = to_tensor(colorizer(photo))
    assert colored.shape == reference.shape and (colored - reference).abs().mean() < 0.02  # the same colors, rounded
    confidence = colorizer.confidence(photo)
    assert confidence.size == photo.size
    assert colorizer(photo, desaturate_below=0.5).size == photo.size


def test_colorize_without_a_checkpoint_uses_the_default_model(tmp_path, capsys):
    out = tmp_path / "camera_color.png"
    assert main(["colorize", str(TRUE_BW_DIR / "camera.png"), "-o", str(out)]) == 0
    assert Image.open(out).size == Image.open(TRUE_BW_DIR / "camera.png").size
    assert "wrote 1 file" in capsys.readouterr().out


@pytest.mark.slow
def test_the_wheel_contains_the_default_model_and_its_provenance(tmp_path):
    root = DEFAULT_MODEL.parents[2]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    names = zipfile.ZipFile(next(tmp_path.glob("ganforge-*.whl"))).namelist()
    assert "ganforge/models/default.safetensors" in names and "ganforge/models/README.md" in names
