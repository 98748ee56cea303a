from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

import ganforge
from ganforge import hookimpl
from ganforge.core.components import GeneratorLoss
from ganforge.core.config import load_recipe
from ganforge.core.errors import RecipeError, UsageError
from ganforge.core.plugins import get_plugin_manager, reset_plugin_manager
from ganforge.training.tracking import read_metrics
from ganforge.training.trainer import Trainer, TrainingDiverged, format_duration, train_from_recipe_file

from .conftest import write_distribution


@pytest.fixture(autouse=True)
def _fresh_plugins():
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def test_a_run_writes_the_documented_run_directory(tiny_recipe, tmp_path, capsys):
    model = train_from_recipe_file(tiny_recipe)
    printed = capsys.readouterr().out
    assert re.search(
        r"ganforge: about [\d.]+ s to go: 3 steps at [\d.]+ s/step on 1 x cpu\n", printed
    )  # after 5 of 8 steps
    assert re.search(r"ganforge: trained 'tiny' to step 8 in [\d.]+ s; weights: ", printed)
    run = tmp_path / "run"
    assert model == run / "model.safetensors"
    assert load_recipe(run / "recipe.yaml").phases == load_recipe(tiny_recipe).phases
    records = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, 9))
    assert records[0]["phase"] == "pretrain" and "loss/adversary_a" not in records[0]
    assert {"loss/adversary_a", "loss/adversary_b", "loss/nonsaturating", "loss/l1"} <= set(records[-1])
    assert sorted(p.name for p in (run / "state").iterdir()) == ["step-00000004", "step-00000008"]
    assert json.loads((run / "state" / "step-00000008" / "trainer.json").read_text())["step"] == 8
    grid = Image.open(run / "samples" / "step-00000008.png")
    assert grid.width > 3 * 32 and grid.height > 2 * 32
    assert Image.open(run / "loss_curves.png").size[0] > 100
    colorizer = ganforge.load(model)
    assert colorizer(torch.rand(1, 1, 32, 32)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.04, "0.0 s"), (42.4, "42 s"), (210, "3.5 min"), (4320, "1 h 12 min"), (3599.9, "60.0 min")]
)
def test_durations_read_at_a_planning_precision(seconds, text):
    assert format_duration(seconds) == text


def test_max_steps_shortens_every_phase_in_proportion(tiny_recipe):
    trainer = Trainer(load_recipe(tiny_recipe, ["train.max_steps=4"]))
    assert [(p.name, p.steps) for p in trainer.phases] == [("pretrain", 2), ("adversarial", 2)]


def test_lifecycle_hooks_fire_and_a_plugin_can_stop_the_run(tiny_recipe, tmp_path):
    seen: list[tuple] = []
    plugin = types.ModuleType("recorder")

    @hookimpl
    def ganforge_run_start(trainer):
        seen.append(("start", trainer.step))

    @hookimpl
    def ganforge_after_step(trainer, step, logs):
        seen.append(("step", step, "loss/l1" in logs))
        if step == 3:
            trainer.request_stop("enough")

    @hookimpl
    def ganforge_checkpoint_written(path, step):
        seen.append(("checkpoint", Path(path).name, step))

    @hookimpl
    def ganforge_run_end(status):
        seen.append(("end", status))

    for hook in (ganforge_run_start, ganforge_after_step, ganforge_checkpoint_written, ganforge_run_end):
        setattr(plugin, hook.__name__, hook)
    get_plugin_manager().add_plugin(plugin, name="recorder")
    train_from_recipe_file(tiny_recipe)
    assert seen == [
        ("start", 0),
        ("step", 1, True),
        ("step", 2, True),
        ("step", 3, True),
        ("checkpoint", "model.safetensors", 3),
        ("end", "stopped"),
    ]


def test_an_existing_run_is_never_overwritten_without_resume(tiny_recipe):
    train_from_recipe_file(tiny_recipe, max_steps=2)
    with pytest.raises(UsageError, match=r"already holds a run \(saved at step-00000002\); pass --resume") as refused:
        train_from_recipe_file(tiny_recipe, max_steps=2)
    # the refused trainer, still alive in the traceback, let go of the folder: resuming works at once
    assert refused.value.__traceback__ is not None
    assert train_from_recipe_file(tiny_recipe, max_steps=3, resume=True).is_file()


class ExplodingLoss(GeneratorLoss):
    """L1 that turns into NaN on its third call."""

    calls = 0

    def __call__(self, context):
        ExplodingLoss.calls += 1
        value = (context.prediction.target - context.target).abs().mean()
        return value * float("nan") if ExplodingLoss.calls >= 3 else value


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_recipe, tmp_path):
    plugin = types.ModuleType("exploding")

    @hookimpl
    def ganforge_register(registries):
        registries.losses.add("exploding", ExplodingLoss)

    plugin.ganforge_register = ganforge_register
    get_plugin_manager().add_plugin(plugin, name="exploding")
    ExplodingLoss.calls = 0
    overrides = ["phases.0.losses={exploding: 1.0}", "train.checkpoint_every=2"]
    with pytest.raises(TrainingDiverged) as info:
        train_from_recipe_file(tiny_recipe, overrides)
    assert str(info.value).startswith(
        "step 3 (phase 'pretrain'): the exploding loss is nan; the last good state (step-00000002) is intact"
    )
    model = ganforge.load(tmp_path / "run" / "model.safetensors")
    assert all(torch.isfinite(t).all() for t in model.generator.state_dict().values())


KILLER = """
import os, signal
from ganforge import hookimpl

@hookimpl
def ganforge_after_step(step):
    if str(step) == os.environ.get("GANFORGE_TEST_KILL_AT"):
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ganforge", *args], capture_output=True, text=True, env=env, check=False
    )


# Each kind of random draw a step makes: none beyond the data (plain), a noise vector per image
# with a loss that draws a second one (noise), a latent code for an unconditional phase (latent).
RESUMABLE_VARIANTS = {
    "plain": [],
    "noise": ["generator.noise=4", "phases.1.losses={l1: 10.0, nonsaturating: 1.0, mode_seeking: 1.0}"],
    "latent": [
        "generator.latent=8",
        "phases.0={name: unconditional, steps: 4, mode: unconditional, train: [generator, a, b], losses: {nonsaturating: 1.0}}",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(RESUMABLE_VARIANTS))
def test_a_killed_run_resumes_to_the_same_losses_as_an_uninterrupted_one(tiny_recipe, tmp_path, variant):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    write_distribution(plugins, "killer", "killer_plugin", KILLER, "killer")
    env = {**os.environ, "PYTHONPATH": str(plugins)}
    overrides = ["train.checkpoint_every=3", "data.num_workers=1", *RESUMABLE_VARIANTS[variant]]

    straight = _run(["train", str(tiny_recipe), *overrides, f"train.out_dir={tmp_path / 'straight'}"], env)
    assert straight.returncode == 0, straight.stderr

    killed = _run(
        ["train", str(tiny_recipe), *overrides, f"train.out_dir={tmp_path / 'killed'}"],
        {**env, "GANFORGE_TEST_KILL_AT": "5"},
    )
    assert killed.returncode == -9
    assert [r["step"] for r in read_metrics(tmp_path / "killed" / "metrics.jsonl")] == [1, 2, 3, 4, 5]

    resumed = _run(["train", str(tiny_recipe), *overrides, f"train.out_dir={tmp_path / 'killed'}", "--resume"], env)
    assert resumed.returncode == 0, resumed.stderr

    expected = read_metrics(tmp_path / "straight" / "metrics.jsonl")
    got = read_metrics(tmp_path / "killed" / "metrics.jsonl")
    assert [r["step"] for r in got] == [r["step"] for r in expected] == list(range(1, 9))
    for want, have in zip(expected, got):
        for key, value in want.items():
            if key.startswith("loss/"):
                assert have[key] == pytest.approx(value, rel=1e-5, abs=1e-7), (want["step"], key)


def test_gradient_accumulation_and_bf16_mixed_precision_train(tiny_recipe, tmp_path):
    trainer = Trainer(
        load_recipe(tiny_recipe, ["train.gradient_accumulation=2", "train.mixed_precision=bf16", "train.max_steps=2"])
    )
    positions = []
    original = trainer._micro_step

    def spy(phase, batch):
        positions.append(batch["gray"].shape[0])
        return original(phase, batch)

    trainer._micro_step = spy
    trainer.fit()
    assert trainer.step == 2 and len(positions) == 4  # two optimizer steps of two micro-batches each
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    assert all(torch.isfinite(torch.tensor(r["loss/l1"])) for r in records)


def test_a_loss_logged_once_is_still_drawn(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from ganforge.training.plots import plot_loss_curves

    records = [{"step": s, "loss/l1": 1.0 / s} for s in range(1, 6)] + [{"step": 6, "loss/final_only": 0.5}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    drawn = {}
    real_plot = Axes.plot

    def recording_plot(self, *args, **kwargs):
        drawn[kwargs["label"]] = (len(args[0]), kwargs.get("marker"))
        return real_plot(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", recording_plot)
    assert plot_loss_curves(tmp_path / "metrics.jsonl", tmp_path / "loss.png").is_file()
    assert drawn == {"l1": (5, None), "final_only": (1, "o")}


def test_non_finite_weights_are_never_saved_and_never_loaded(tiny_recipe, tmp_path):
    """Finite losses can hide a broken model (e.g. infinite batch-norm statistics after a huge learning rate)."""
    from ganforge.core.errors import CheckpointError
    from ganforge.inference.checkpoint import save_checkpoint

    trainer = Trainer(load_recipe(tiny_recipe))
    trainer.step = 2
    trainer.save()
    generator = trainer.accelerator.unwrap_model(trainer.generator)
    name, tensor = next(iter(generator.state_dict().items()))
    with torch.no_grad():
        tensor.view(-1)[0] = float("inf")
    trainer.step = 4
    with pytest.raises(
        TrainingDiverged,
        match=rf"step 4: the generator's '{name}' holds NaN or infinite values; the last good state \(step-00000002\) is intact",
    ):
        trainer.save()
    assert [p.name for p in (tmp_path / "run" / "state").iterdir()] == ["step-00000002"]

    with pytest.raises(CheckpointError, match=rf"refusing to write .*tensor '{name}' holds NaN or infinite values"):
        save_checkpoint(tmp_path / "broken.safetensors", trainer.recipe, generator.state_dict())
    assert not (tmp_path / "broken.safetensors").exists()
    good = save_checkpoint(
        tmp_path / "good.safetensors",
        trainer.recipe,
        {k: v.nan_to_num(posinf=0.0) for k, v in generator.state_dict().items()},
    )
    with safe_open(str(good), "pt") as handle:  # a file written past ganforge's checks, by another tool
        metadata, tensors = handle.metadata(), {key: handle.get_tensor(key) for key in handle.keys()}
    tensors[f"generator.{name}"] = tensor.clone()
    save_file(tensors, str(tmp_path / "broken.safetensors"), metadata=metadata)
    with pytest.raises(
        CheckpointError, match=rf"tensor '{name}' holds NaN or infinite values.*use an earlier checkpoint"
    ):
        ganforge.load(tmp_path / "broken.safetensors")


def test_resume_rewrites_a_model_file_older_than_the_last_state_and_clears_temporaries(tiny_recipe, tmp_path):
    """A kill between the final state's rename and the model file's leaves a stale model; resume mends it."""
    from ganforge.inference.checkpoint import read_checkpoint, save_checkpoint

    train_from_recipe_file(tiny_recipe)
    run = tmp_path / "run"
    good = read_checkpoint(run / "model.safetensors")
    stale = {name: torch.zeros_like(t) for name, t in good.weights["generator"].items()}
    save_checkpoint(run / "model.safetensors", good.recipe, stale, metadata={"step": "4"})
    (run / ".model.safetensors.tmp-99999").write_bytes(b"half written")
    (run / "state" / ".step-00000012.tmp").mkdir()

    train_from_recipe_file(tiny_recipe, resume=True)
    mended = read_checkpoint(run / "model.safetensors")
    assert mended.metadata["step"] == "8"
    for name, tensor in good.weights["generator"].items():
        assert torch.equal(mended.weights["generator"][name], tensor), name
    assert not list(run.glob(".*tmp*")) and not list((run / "state").glob(".*tmp*"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.lr_generator=-1",
            "recipe key 'train.lr_generator' must be a finite learning rate of 0 or more, got -1.0",
        ),
        (
            "train.lr_adversary=.inf",
            "recipe key 'train.lr_adversary' must be a finite learning rate of 0 or more, got inf",
        ),
        (
            "train.betas=[0.5]",
            "recipe key 'train.betas' must be two Adam coefficients in [0, 1), e.g. [0.5, 0.999]; got [0.5]",
        ),
        (
            "train.betas=[0.5,1.5]",
            "recipe key 'train.betas' must be two Adam coefficients in [0, 1), e.g. [0.5, 0.999]; got [0.5, 1.5]",
        ),
        (
            "train.mixed_precision=fp64",
            "recipe key 'train.mixed_precision' must be one of no, fp16, bf16, fp8 (or left unset), got 'fp64'",
        ),
        ("generator.depth=40", "generator 'unet' rejected its options: depth must be between 2 and 10"),
    ],
)
def test_optimiser_and_network_options_out_of_range_are_one_line_recipe_errors(tiny_recipe, override, message):
    with pytest.raises(RecipeError) as info:
        train_from_recipe_file(tiny_recipe, [override])
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tiny_recipe.parent / "run" / "state").exists()


def test_a_second_training_into_a_run_directory_in_use_is_refused(tiny_recipe, tmp_path):
    first = Trainer(load_recipe(tiny_recipe))
    with pytest.raises(UsageError) as info:
        Trainer(load_recipe(tiny_recipe))
    assert str(info.value) == (
        f"run directory '{tmp_path / 'run'}' is in use by another training; "
        "wait for it to end, or set train.out_dir to another folder"
    )
    first.fit()  # the first one is unaffected, and lets go of the folder when it ends
    assert Trainer(load_recipe(tiny_recipe, ["phases.1.steps=5"]), resume=True).fit().is_file()


def test_a_state_save_that_fails_midway_leaves_the_previous_state_and_no_partial_one(
    tiny_recipe, tmp_path, monkeypatch
):
    trainer = Trainer(load_recipe(tiny_recipe, ["phases.1.steps=1"]))
    trainer.fit()  # states at 4 and 5
    states = tmp_path / "run" / "state"
    before = sorted(p.name for p in states.iterdir())

    def disk_full(directory, **kwargs):
        Path(directory).mkdir(parents=True)
        (Path(directory) / "optimizer.bin").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(directory) / "optimizer.bin"))

    monkeypatch.setattr(trainer.accelerator, "save_state", disk_full)
    trainer.step += 1
    with pytest.raises(OSError, match="No space left on device"):
        trainer.save()
    assert sorted(p.name for p in states.iterdir()) == before


def test_init_from_starts_the_generator_from_a_checkpoint_with_fresh_optimizers(tiny_recipe, tmp_path):
    source = train_from_recipe_file(tiny_recipe)
    reset_plugin_manager()
    overrides = [f"train.init_from={source}", f"train.out_dir={tmp_path / 'tuned'}"]
    trainer = Trainer(load_recipe(tiny_recipe, overrides))
    expected = ganforge.load(source).generator.state_dict()  # the EMA weights, as inference uses them
    started = trainer._unwrapped_generator.state_dict()
    assert all(torch.equal(started[k], expected[k]) for k in expected)
    assert all(not optimizer.state for optimizer in trainer.optimizers.values())


def test_init_from_a_checkpoint_of_another_network_names_the_first_differing_tensor(tiny_recipe, tmp_path):
    source = train_from_recipe_file(tiny_recipe)
    reset_plugin_manager()
    overrides = [f"train.init_from={source}", "generator.width=12", f"train.out_dir={tmp_path / 'tuned'}"]
    with pytest.raises(RecipeError) as info:
        Trainer(load_recipe(tiny_recipe, overrides))
    message = str(info.value)
    assert message.startswith(f"recipe key 'train.init_from': checkpoint '{source}': tensor ")
    assert "has shape (8, " in message and "but the recipe's model expects (12, " in message


def test_the_finetune_recipe_starts_from_the_shipped_model_on_a_fresh_machine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ../shared here: the encoder weights file it names must not be read
    recipe = load_recipe(Path(ganforge.__file__).parents[1] / "recipes" / "finetune.yaml",
                         ["data.size=32", "data.batch_size=2", "train.max_steps=1", "train.log_every=1", "train.out_dir=run"])  # fmt: skip
    assert recipe.train.init_from == "default"
    model = Trainer(recipe).fit()
    assert ganforge.load(model).generator.state_dict().keys() == ganforge.load().generator.state_dict().keys()
