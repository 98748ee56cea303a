from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.core.errors import UsageError
from ganforge.core.images import UnreadableImage, is_grayscale, open_image
from ganforge.core.plugins import get_registries
from ganforge.data.sources import ColorizationDataset, PositionSampler, collate, open_source, validation_batch
from ganforge_plugins.builtin_data import TRUE_BW_DIR

RED = (200, 30, 30)


def colorful(size=(40, 30)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize(
    ("make", "mode", "pixel"),
    [
        (lambda: Image.new("RGBA", (4, 4), (*RED, 0)), "RGB", (255, 255, 255)),  # transparent -> white
        (lambda: Image.new("RGBA", (4, 4), (*RED, 255)), "RGB", RED),
        (lambda: Image.new("LA", (4, 4), (10, 255)), "L", 10),
        (lambda: Image.new("RGB", (4, 4), RED).convert("P", palette=Image.Palette.ADAPTIVE), "RGB", RED),
        (lambda: Image.new("CMYK", (4, 4), (0, 255, 255, 0)), "RGB", (255, 0, 0)),
        (lambda: Image.fromarray(np.full((4, 4), 65535, np.uint16)), "L", 255),
        (lambda: Image.new("1", (4, 4), 1), "L", 255),
    ],
)
def test_odd_modes_decode_to_what_a_viewer_shows(tmp_path, make, mode, pixel):
    path = tmp_path / "image.png" if make().mode != "CMYK" else tmp_path / "image.jpg"
    make().save(path)
    image = open_image(path)
    assert image.mode == mode
    got = image.getpixel((1, 1))
    assert np.allclose(got, pixel, atol=3), (got, pixel)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), RED)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert open_image(tmp_path / "rotated.jpg").size == (20, 40)


def test_truncated_and_non_image_files_raise_unreadable(tmp_path):
    colorful((200, 200)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.jpg").write_text("not an image")
    for name in ("cut.jpg", "text.jpg"):
        with pytest.raises(UnreadableImage):
            open_image(tmp_path / name)


def test_grayscale_detection():
    assert is_grayscale(Image.new("L", (8, 8)))
    assert is_grayscale(colorful().convert("L").convert("RGB"))
    assert not is_grayscale(colorful())


def folder_with_bad_files(root: Path) -> Path:
    for i in range(3):
        colorful((64 + i, 48)).save(root / f"good{i}.png")
    colorful().convert("L").convert("RGB").save(root / "gray.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "notes.txt").write_text("ignored: not an image suffix")
    return root


def test_unreadable_and_grayscale_images_are_skipped_with_a_warning_and_counted(tmp_path, caplog):
    source = open_source(f"imagefolder:{folder_with_bad_files(tmp_path)}", "data.train")
    assert len(source) == 5
    dataset = ColorizationDataset(source, get_registries().color_spaces.create("lab"), 32, seed=0, train=False)
    with caplog.at_level(logging.WARNING, logger="ganforge.data.sources"):
        batch = collate([dataset[i] for i in range(len(dataset))])
    assert batch["skipped"] == 2
    assert batch["gray"].shape == (3, 1, 32, 32) and batch["target"].shape == (3, 2, 32, 32)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "skipping unreadable image" in messages and "broken.jpg" in messages
    assert "skipping grayscale image" in messages and "gray.png" in messages


def test_training_positions_are_deterministic_and_cover_every_image_each_epoch():
    source = get_registries().sources.create("shapes", count=6)
    space = get_registries().color_spaces.create("lab")
    dataset = ColorizationDataset(source, space, 32, seed=5, train=True)
    again = ColorizationDataset(source, space, 32, seed=5, train=True)
    torch.testing.assert_close(dataset[7]["target"], again[7]["target"])
    assert sorted(dataset._image_index(p) for p in range(6)) == list(range(6))
    assert sorted(dataset._image_index(p) for p in range(6, 12)) == list(range(6))
    other_seed = ColorizationDataset(source, space, 32, seed=6, train=True)
    assert not torch.equal(dataset[7]["target"], other_seed[7]["target"])


def test_sampler_gives_each_process_its_own_slice_and_resumes_at_a_micro_batch():
    def take(sampler, n):
        iterator = iter(sampler)
        return [next(iterator) for _ in range(n)]

    rank0 = take(PositionSampler(batch_size=2, rank=0, world=2), 4)
    rank1 = take(PositionSampler(batch_size=2, rank=1, world=2), 4)
    assert rank0 == [0, 1, 4, 5] and rank1 == [2, 3, 6, 7]
    assert take(PositionSampler(batch_size=2, start=1, rank=0, world=2), 2) == [4, 5]


def test_validation_batch_takes_the_first_readable_images(tmp_path):
    source = open_source(f"imagefolder:{folder_with_bad_files(tmp_path)}", "data.val")
    batch = validation_batch(source, get_registries().color_spaces.create("rgb"), size=16, count=2)
    assert batch["gray"].shape == (2, 1, 16, 16)


def test_validation_batch_of_several_sets_takes_from_each_in_turn():
    rgb = get_registries().color_spaces.create("rgb")
    first = {
        name: validation_batch(open_source(name, "data.val"), rgb, size=16, count=2)["target"]
        for name in ("builtin:samples", "builtin:shapes")
    }
    source = open_source(["builtin:samples", "builtin:true_bw", "builtin:shapes"], "data.val")
    batch = validation_batch(source, rgb, size=16, count=4)["target"]
    # the true black-and-white photos are skipped (gray), so samples and shapes alternate
    torch.testing.assert_close(
        batch,
        torch.stack(
            [
                first["builtin:samples"][0],
                first["builtin:shapes"][0],
                first["builtin:samples"][1],
                first["builtin:shapes"][1],
            ]
        ),
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("imagefolder:/no/such/folder", r"recipe key 'data.train': folder '/no/such/folder' does not exist"),
        (
            "photos/",
            r"recipe key 'data.train': 'photos/' is not a data source; use one of imagefolder:..., hub:..., builtin:...",
        ),
        ("builtin:shapez", r"recipe key 'data.train': unknown data source 'shapez': did you mean 'shapes'"),
    ],
)
def test_bad_sources_name_the_recipe_key(spec, message):
    with pytest.raises(UsageError, match=message):
        open_source(spec, "data.train")


def test_empty_folder_is_a_usage_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(UsageError, match=r"recipe key 'data.val': folder '.*' holds no images"):
        open_source(f"imagefolder:{tmp_path}", "data.val")


def test_hub_dataset_offline_and_uncached_says_what_to_do(tmp_path):
    # In a fresh process: huggingface_hub reads HF_HUB_OFFLINE once, at import.
    code = (
        "from ganforge.data.sources import open_source; open_source('hub:someone/no-such-dataset:train', 'data.train')"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(
        "ganforge.core.errors.UsageError: recipe key 'data.train': cannot load Hub dataset 'someone/no-such-dataset' (split 'train')"
    )
    assert "HF_HUB_OFFLINE is set" in message and "imagefolder:PATH" in message


def test_hub_dataset_loads_from_the_local_cache_when_offline(tmp_path, monkeypatch):
    """A dataset saved locally in Hub layout (a folder with parquet files) loads through the same path."""
    import datasets

    images = [colorful((24, 24)) for _ in range(3)]
    local = tmp_path / "local-dataset"
    datasets.Dataset.from_dict(
        {"picture": images}, features=datasets.Features({"picture": datasets.Image()})
    ).to_parquet(str(local / "data" / "train-00000-of-00001.parquet"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = open_source(f"hub:{local}:train", "data.train")
    assert len(source) == 3
    assert source.load(1).size == (24, 24)


def test_builtin_true_bw_photos_are_genuinely_gray_and_licensed():
    source = open_source("builtin:true_bw", "data.val")
    assert len(source) >= 2
    assert all(is_grayscale(source.load(i)) for i in range(len(source)))
    licences = (TRUE_BW_DIR / "LICENSES.md").read_text()
    assert all(Path(source.describe(i)).name in licences for i in range(len(source)))


def test_builtin_samples_are_color_photos_with_recorded_licences():
    source = open_source("builtin:samples", "data.train")
    licences = (Path(source.describe(0)).parent / "LICENSES.md").read_text()
    for i in range(len(source)):
        assert not is_grayscale(source.load(i))
        assert Path(source.describe(i)).name in licences
