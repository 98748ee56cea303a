"""Resuming reads tensors only: planted pickles run nothing, a changed recipe is named, old states migrate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganforge.core.errors import UsageError
from ganforge.core.plugins import reset_plugin_manager
from ganforge.training.resume import EMA_STATE, LEGACY_EMA_STATE
from ganforge.training.trainer import train_from_recipe_file


@pytest.fixture(autouse=True)
def _fresh_plugins():
    reset_plugin_manager()
    yield
    reset_plugin_manager()


class Planted:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny run trained to step 8 (states at 4 and 8), reused read-only by copying."""
    from .conftest import TINY_RECIPE

    root = tmp_path_factory.mktemp("trained")
    recipe = root / "tiny.yaml"
    recipe.write_text(TINY_RECIPE.format(out_dir=root / "run"))
    train_from_recipe_file(recipe)
    reset_plugin_manager()
    return recipe, root / "run"


def _copy_run(trained_run, tmp_path: Path) -> tuple[Path, Path]:
    import shutil

    recipe, run = trained_run
    shutil.copytree(run, tmp_path / "run")
    return recipe, tmp_path / "run"


def _last_state(run: Path) -> Path:
    return sorted((run / "state").iterdir())[-1]


def test_a_state_holds_no_pickled_objects_and_the_average_as_safetensors(trained_run):
    state = _last_state(trained_run[1])
    assert not (state / LEGACY_EMA_STATE).exists()
    average = load_file(str(state / EMA_STATE))
    assert int(average["updates"]) == 8  # one update per generator step
    generator = load_file(str(state / "model.safetensors"))
    assert {f"module.{key}" for key in generator} | {"updates"} == set(average)


@pytest.mark.parametrize("planted", ["optimizer.bin", "optimizer_1.bin", "random_states_0.pkl", LEGACY_EMA_STATE])
def test_a_pickle_planted_in_a_state_file_runs_nothing_and_is_named(trained_run, tmp_path, planted):
    recipe, run = _copy_run(trained_run, tmp_path)
    state = _last_state(run)
    marker = tmp_path / "pwned"
    torch.save(Planted(marker), state / planted)
    with pytest.raises(UsageError) as info:
        train_from_recipe_file(recipe, [f"train.out_dir={run}"], resume=True)
    message = str(info.value)
    assert not marker.exists()
    assert "\n" not in message
    assert message.startswith(
        f"cannot resume from '{state}': {planted} is not a tensors-only file as ganforge writes them"
    )
    assert "delete that state folder" in message


def test_a_changed_network_on_resume_is_named_by_its_first_differing_tensor(trained_run, tmp_path):
    recipe, run = _copy_run(trained_run, tmp_path)
    with pytest.raises(UsageError) as info:
        train_from_recipe_file(recipe, [f"train.out_dir={run}", "generator.width=12"], resume=True)
    message = str(info.value)
    assert "\n" not in message
    assert "the recipe builds a different generator than the run saved" in message
    assert "saved (8," in message and "recipe (12," in message
    assert message.endswith(f"resume with the recipe the run was trained with ({run / 'recipe.yaml'})")


def test_an_earlier_versions_pickled_average_is_read_as_tensors_and_migrated(trained_run, tmp_path):
    recipe, run = _copy_run(trained_run, tmp_path)
    state = _last_state(run)
    average = load_file(str(state / EMA_STATE))
    torch.save(average, state / LEGACY_EMA_STATE)  # what earlier versions wrote through Accelerate
    (state / EMA_STATE).unlink()
    train_from_recipe_file(recipe, [f"train.out_dir={run}", "phases.1.steps=6"], resume=True)
    assert not (state / LEGACY_EMA_STATE).exists()
    migrated = load_file(str(state / EMA_STATE))
    assert migrated.keys() == average.keys()
    assert all(torch.equal(migrated[k], average[k]) for k in average)
    assert (_last_state(run) / EMA_STATE).is_file() and _last_state(run).name == "step-00000010"


@pytest.mark.parametrize(
    ("damaged", "message"),
    [
        ("model.safetensors", "model.safetensors is not readable ("),
        (EMA_STATE, f"{EMA_STATE} is not this run's moving average ("),
    ],
)
def test_a_damaged_safetensors_state_file_is_one_line_naming_it(trained_run, tmp_path, damaged, message):
    recipe, run = _copy_run(trained_run, tmp_path)
    state = _last_state(run)
    (state / damaged).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(UsageError) as info:
        train_from_recipe_file(recipe, [f"train.out_dir={run}"], resume=True)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"cannot resume from '{state}': {message}")
    assert text.endswith("delete that state folder to resume from the one before")
