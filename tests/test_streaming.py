"""Streaming a Hub data set (data.streaming): each process its own share, exact resume, a run trained from it.

A local folder stands in for the Hub: ``datasets`` streams it through the same
``load_dataset(..., streaming=True)`` call, so nothing here needs a network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.core.colormath import rgb_to_lab
from ganforge.core.errors import UsageError
from ganforge.core.plugins import get_registries
from ganforge.data.sources import hub_stream, stream_head, training_loader
from ganforge.training.trainer import train_from_recipe_file

from .conftest import TINY_RECIPE

COLORS = 10


@pytest.fixture
def dataset(tmp_path):
    """Ten photos, each one solid color: a training pair's chroma says which photo it came from."""
    folder = tmp_path / "hub_dataset"
    folder.mkdir()
    for i in range(COLORS):
        rgb = np.array([25 * i, 255 - 20 * i, 60 + 15 * (i % 3)], np.uint8)
        Image.fromarray(np.broadcast_to(rgb, (24, 30, 3)).copy()).save(folder / f"{i:02d}.png")
    return f"hub:{folder}"


def loader(spec, start=0, rank=0, world=1, batch_size=5):
    lab = get_registries().color_spaces.create("lab")
    return iter(training_loader(hub_stream(spec, "data.train"), lab, size=16, batch_size=batch_size, seed=0, num_workers=0,
                                start=start, rank=rank, world=world, streaming=True))  # fmt: skip


def photo_ids(batch, reference):
    """Which of the solid-color photos each training pair was cut from (its mean chroma's nearest)."""
    chroma = batch["target"].mean((2, 3))
    return [int((reference - c).abs().sum(1).argmin()) for c in chroma]


@pytest.fixture
def reference():
    rgb = torch.tensor([[25 * i, 255 - 20 * i, 60 + 15 * (i % 3)] for i in range(COLORS)], dtype=torch.float32) / 255
    return rgb_to_lab(rgb.view(COLORS, 3, 1, 1))[:, 1:, 0, 0] / 110.0  # the lab color space's target scale


def test_two_processes_stream_disjoint_shares_that_cover_every_record_each_epoch(dataset, reference):
    shares = [photo_ids(next(loader(dataset, rank=rank, world=2)), reference) for rank in (0, 1)]
    assert len(set(shares[0])) == 5 and len(set(shares[1])) == 5
    assert set(shares[0]).isdisjoint(shares[1]) and set(shares[0]) | set(shares[1]) == set(range(COLORS))


def test_every_epoch_visits_each_record_once_in_a_new_order(dataset, reference):
    stream = loader(dataset)
    epochs = [photo_ids(next(stream), reference) + photo_ids(next(stream), reference) for _ in range(2)]
    assert all(sorted(epoch) == list(range(COLORS)) for epoch in epochs)
    assert epochs[0] != epochs[1]


def test_resuming_at_a_micro_batch_streams_exactly_what_an_uninterrupted_run_would(dataset):
    uninterrupted = loader(dataset, batch_size=3)
    expected = [next(uninterrupted)["target"] for _ in range(6)]
    resumed = loader(dataset, start=2, batch_size=3)
    assert all(torch.equal(next(resumed)["target"], batch) for batch in expected[2:])


def test_a_run_trains_from_a_stream_with_its_sample_grid_from_the_streams_first_records(dataset, tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE.format(out_dir=tmp_path / "run"))
    overrides = [
        f"data.train={dataset}",
        "data.val=null",
        "data.streaming=true",
        "phases.0.steps=2",
        "phases.1.steps=2",
    ]
    model = train_from_recipe_file(recipe, overrides)
    assert model.is_file() and (tmp_path / "run" / "samples" / "step-00000004.png").is_file()
    assert len(stream_head(dataset, "data.val", 2)) == 2


@pytest.mark.parametrize("spec", ["imagefolder:photos", "builtin:samples"])
def test_streaming_takes_one_hub_source(spec):
    with pytest.raises(UsageError, match=r"data.streaming reads one hub:NAME\[:split\] source, got '.*'"):
        hub_stream(spec, "data.train")


def test_a_stream_that_cannot_be_opened_is_one_line(tmp_path):
    with pytest.raises(UsageError, match=r"cannot stream Hub dataset '.*missing'"):
        hub_stream(f"hub:{tmp_path / 'missing'}", "data.train")
