"""The trainer: one readable loop over phases, on Accelerate.

Read :meth:`Trainer._micro_step` for the whole optimisation: adversaries first
(on real target channels and detached predictions), then the generator against
its weighted losses and the frozen adversaries. Hooks fire at four named
points; everything else is plain PyTorch.

Run directory (``train.out_dir``, default ``runs/<recipe name>``)::

    recipe.yaml          the fully resolved recipe
    metrics.jsonl        one JSON line per logged step
    model.safetensors    latest generator (+ EMA) weights, loadable with ganforge.load
    state/step-NNNNNNNN/ full training state (optimizers, EMA, RNGs, step), last K kept
    samples/step-NNNNNNNN.png   gray input | prediction | ground truth
    loss_curves.png      written at the end
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from filelock import FileLock, Timeout
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from ganforge.core.atomic import write_text
from ganforge.core.build import build_color_space, build_generator, init_pretrained
from ganforge.core.components import HINT_INPUT, GeneratorContext, GeneratorLoss, Prediction
from ganforge.core.config import Recipe, load_recipe, recipe_to_yaml
from ganforge.core.errors import GanforgeError, RecipeError, UsageError, first_line
from ganforge.core.plugins import get_plugin_manager
from ganforge.data.degrade import check_gray_augment
from ganforge.data.hints import check_hints
from ganforge.data.sources import hub_stream, open_source, stream_head, training_loader, validation_batch
from ganforge.inference.checkpoint import first_non_finite, load_weights, read_checkpoint, save_checkpoint
from ganforge.inference.colorizer import resolve_checkpoint
from ganforge.training.ema import ExponentialMovingAverage
from ganforge.training.phases import (
    GENERATOR,
    Phase,
    apply_lr_scale,
    build_adversaries,
    generator_parameter_groups,
    plan_phases,
)
from ganforge.training.plots import plot_loss_curves, sample_grid, save_image
from ganforge.training.processes import distributed_without_accelerator
from ganforge.training.resume import (
    EMA_STATE,
    UNPICKLE_ERRORS,
    cannot_resume,
    check_saved_networks,
    load_ema,
    migrate_pickled_ema,
    refuse_foreign_files,
)
from ganforge.training.tracking import JSONLinesTracker, truncate_metrics

log = logging.getLogger(__name__)
ESTIMATE_AFTER_STEPS = 5  # the first steps include warm-up; five are enough for a planning estimate

STATE_DIR = "state"
STATE_PREFIX = "step-"
TRAINER_STATE = "trainer.json"
MODEL_FILE = "model.safetensors"
LOCK_FILE = ".lock"  # held by the training that writes the run directory
MIXED_PRECISION = (None, "no", "fp16", "bf16", "fp8")  # what Accelerate accepts; None lets `accelerate launch` decide


class TrainingDiverged(GanforgeError):
    """A loss became NaN or infinite; the run stopped before it could write bad weights."""


def run_dir_of(recipe: Recipe) -> Path:
    return Path(recipe.train.out_dir or Path("runs") / recipe.name)


def saved_states(run_dir: Path) -> list[Path]:
    """Complete state directories, oldest first (temporaries start with a dot and are ignored)."""
    root = run_dir / STATE_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith(STATE_PREFIX) and (p / TRAINER_STATE).is_file())


def _check_training_options(recipe: Recipe) -> None:
    data, train = recipe.data, recipe.train
    for key, value, low in [
        ("data.size", data.size, 16),
        ("data.batch_size", data.batch_size, 1),
        ("data.val_images", data.val_images, 1),
        ("train.gradient_accumulation", train.gradient_accumulation, 1),
        ("train.checkpoint_every", train.checkpoint_every, 1),
        ("train.sample_every", train.sample_every, 1),
        ("train.log_every", train.log_every, 1),
        ("train.keep_last", train.keep_last, 1),
    ]:
        if value < low:
            raise RecipeError(f"recipe key '{key}' must be at least {low}, got {value}")
    if data.num_workers < 0:
        raise RecipeError(f"recipe key 'data.num_workers' must be 0 or more, got {data.num_workers}")
    if len(data.crop_scale) != 2 or not 0.0 < data.crop_scale[0] <= data.crop_scale[1] <= 1.0:
        raise RecipeError(
            f"recipe key 'data.crop_scale' must be [low, high] with 0 < low <= high <= 1, got {data.crop_scale}"
        )
    if data.gray_augment.enabled:
        problems = check_gray_augment(data.gray_augment)
        if problems:
            raise RecipeError(f"recipe key {problems[0]}")
    if data.hints.enabled:
        check_hints(data.hints)
    for key, value in [("train.lr_generator", train.lr_generator), ("train.lr_adversary", train.lr_adversary)]:
        if not (math.isfinite(value) and value >= 0):
            raise RecipeError(f"recipe key '{key}' must be a finite learning rate of 0 or more, got {value}")
    if len(train.betas) != 2 or not all(0.0 <= beta < 1.0 for beta in train.betas):
        raise RecipeError(
            f"recipe key 'train.betas' must be two Adam coefficients in [0, 1), e.g. [0.5, 0.999]; got {list(train.betas)}"
        )
    if train.mixed_precision not in MIXED_PRECISION:
        choices = ", ".join(m for m in MIXED_PRECISION if m)
        raise RecipeError(
            f"recipe key 'train.mixed_precision' must be one of {choices} (or left unset), got '{train.mixed_precision}'"
        )
    if not 0.0 <= train.ema < 1.0:
        raise RecipeError(f"recipe key 'train.ema' must be in [0, 1) (0 disables the average), got {train.ema}")


def _start_from_checkpoint(generator: torch.nn.Module, source: str) -> None:
    """Fine-tuning: load a checkpoint's inference weights (the EMA ones when present) into ``generator``.

    The checkpoint carries every weight, so pretraining files its recipe names are not read.
    A checkpoint without the hint input the recipe adds is fine: that input starts at zero, so the
    model begins exactly as the checkpoint was.
    """
    try:
        checkpoint = read_checkpoint(resolve_checkpoint(source))
        state = checkpoint.state_dict(prefer_ema=True)
        fresh = {k: v for k, v in generator.state_dict().items() if k not in state and HINT_INPUT in k.split(".")}
        load_weights(generator, {**state, **fresh}, checkpoint.path)
    except UsageError as exc:
        raise RecipeError(f"recipe key 'train.init_from': {exc}") from None
    log.info("generator starts from %s%s", checkpoint.path, " (its new hint input at zero)" if fresh else "")


def _leaves_parameters_unused(recipe: Recipe) -> bool:
    """Whether some step computes no gradient for part of the generator, which DDP must be told.

    A phase that freezes part of it (``lr_scale`` 0) and a latent generator (its latent path is idle
    in conditional phases, its gray encoder in unconditional ones) leave parameters without gradients.
    """
    generator = recipe.generator if isinstance(recipe.generator, dict) else {}
    return (
        any(scale == 0 for phase in recipe.phases for scale in phase.lr_scale.values())
        or any(phase.mode == "unconditional" for phase in recipe.phases)
        or bool(generator.get("latent"))
    )


@contextlib.contextmanager
def _frozen(modules: list[torch.nn.Module]) -> Iterator[None]:
    """Stop gradients into ``modules`` (the adversaries while the generator learns)."""
    flags = [[p.requires_grad for p in m.parameters()] for m in modules]
    for module in modules:
        module.requires_grad_(False)
    try:
        yield
    finally:
        for module, module_flags in zip(modules, flags):
            for parameter, flag in zip(module.parameters(), module_flags):
                parameter.requires_grad_(flag)


def format_duration(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``1 h 12 min``: how long, at the precision a person plans with."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"


def model_step(path: Path) -> int | None:
    """The training step a run's ``model.safetensors`` was written at (``None``: missing or unreadable)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return int((handle.metadata() or {}).get("step", ""))
    except (OSError, ValueError, SafetensorError):
        return None


def remove_stale_temporaries(run_dir: Path) -> None:
    """Temporaries a killed run left behind: half-written model files and state folders."""
    for stale in [*run_dir.glob(f".{MODEL_FILE}.tmp-*"), *(run_dir / STATE_DIR).glob(".*.tmp")]:
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()


def _save_failure(error: Exception, run_dir: Path) -> OSError:
    """An OSError (one line at the command line) for a training state that could not be written."""
    full = shutil.disk_usage(run_dir).free < 64 * 2**20
    code, reason = (errno.ENOSPC, "no space left on device") if full else (errno.EIO, first_line(error))
    return OSError(code, f"could not save the training state ({reason}); the last complete state is kept", str(run_dir))


class Trainer:
    """Builds everything a recipe names, checks it, and trains it phase by phase."""

    def __init__(self, recipe: Recipe, *, resume: bool = False) -> None:
        self.recipe = recipe
        self.run_dir = run_dir_of(recipe)
        _check_training_options(recipe)
        # Accelerate keeps its settings process-wide; a second Trainer in one process (a notebook,
        # a sweep) must be free to choose other ones. The process group (PartialState) is kept.
        AcceleratorState._reset_state(reset_partial_state=False)
        self.accelerator = Accelerator(
            cpu=distributed_without_accelerator(),
            # parameters idle in some step (a frozen stage, a latent path) must be announced to DDP
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=_leaves_parameters_unused(recipe))],
            mixed_precision=recipe.train.mixed_precision,
            gradient_accumulation_steps=recipe.train.gradient_accumulation,
            log_with=self._trackers(),
            project_dir=str(self.run_dir),
        )
        if recipe.train.mixed_precision == "fp16" and self.accelerator.device.type == "cpu":
            raise RecipeError(
                "recipe key 'train.mixed_precision' is fp16, which needs a GPU: on the CPU it would train in fp32 "
                "unannounced; use bf16 (the CPU's autocast) or leave it unset"
            )
        set_seed(recipe.seed)
        self.color_space = build_color_space(recipe)
        generator = build_generator(recipe, self.color_space)
        fresh = not (resume and saved_states(self.run_dir))  # a resumed run gets every weight from its state
        if fresh and recipe.train.init_from:
            _start_from_checkpoint(generator, recipe.train.init_from)
        elif fresh:
            for what, value in init_pretrained(generator).items():
                log.info("generator %s: %s", what, value)
        hint_channels = len(self.color_space.channels) + 1
        if recipe.data.hints.enabled and getattr(generator, "hint_channels", 0) != hint_channels:
            raise RecipeError(
                f"recipe key 'data.hints' gives the generator points of color, but it has no hint input of {hint_channels} "
                f"channels: set hints: {hint_channels} on a unet or mobilenet_unet (under zhang: on its backbone)"
            )
        self.adversaries = build_adversaries(recipe, self.color_space)
        self.latent_dim = int(getattr(generator, "latent_dim", 0))
        self.phases = plan_phases(recipe, self.adversaries, self.latent_dim)
        self.total_steps = self.phases[-1].end
        if recipe.data.streaming:
            self.train_source = hub_stream(recipe.data.train, "data.train")
            val = recipe.data.val or recipe.data.train
            is_hub = isinstance(val, str) and val.startswith("hub:")
            self.val_source = (
                stream_head(val, "data.val", recipe.data.val_images) if is_hub else open_source(val, "data.val")
            )
        else:
            self.train_source = open_source(recipe.data.train, "data.train")
            self.val_source = open_source(recipe.data.val, "data.val") if recipe.data.val else self.train_source
        self.noise_dim = int(getattr(generator, "noise_dim", 0))
        self.step = 0
        self.skipped_images = 0
        self._stop_reason: str | None = None
        self._saved_step = -1

        betas = tuple(recipe.train.betas)
        groups = generator_parameter_groups(generator, self.phases)
        optimizers = [torch.optim.Adam(groups, lr=recipe.train.lr_generator, betas=betas)]
        for slot in self.adversaries.values():
            optimizers.append(torch.optim.Adam(slot.network.parameters(), lr=recipe.train.lr_adversary, betas=betas))
        prepared = self.accelerator.prepare(generator, *[s.network for s in self.adversaries.values()], *optimizers)
        count = 1 + len(self.adversaries)
        networks, optimizers = prepared[:count], prepared[count:]
        self.generator = networks[0]
        self.optimizers = dict(zip([GENERATOR, *self.adversaries], optimizers))
        for slot, network in zip(self.adversaries.values(), networks[1:]):
            slot.network = network
        self.ema = (
            ExponentialMovingAverage(self._unwrapped_generator, recipe.train.ema) if recipe.train.ema > 0 else None
        )
        self._lock: FileLock | None = None
        try:
            self._start(resume)
        except BaseException:  # e.g. "already holds a run": the caller may retry with resume=True at once
            self._release_run_dir()
            raise

    # ------------------------------------------------------------------ setup

    def _trackers(self) -> list[Any]:
        trackers: list[Any] = [JSONLinesTracker(self.recipe.name, self.run_dir)]
        with contextlib.suppress(ImportError):
            import tensorboard  # noqa: F401

            trackers.append("tensorboard")
        return trackers

    @property
    def _unwrapped_generator(self) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.generator)

    def _lock_run_dir(self) -> None:
        """One training per run directory at a time: a second would mix its states and metrics into this one's."""
        if not self.accelerator.is_main_process:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(self.run_dir / LOCK_FILE)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            self._lock = None  # held by the other training, not this one
            raise UsageError(
                f"run directory '{self.run_dir}' is in use by another training; "
                "wait for it to end, or set train.out_dir to another folder"
            ) from None

    def _release_run_dir(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _check_process_count(self, saved: int, state: Path) -> None:
        """A run resumes on as many processes as saved it: each process restores its own random state and its
        own share of the data order, which another count would split differently (a silent change of data)."""
        if saved != self.accelerator.num_processes:
            raise UsageError(
                f"'{state}' was saved by a run on {saved} process(es) and this one has {self.accelerator.num_processes}; "
                f"resume it on {saved} (accelerate launch --num_processes {saved} ...), or start a new run directory"
            )

    def _start(self, resume: bool) -> None:
        self._lock_run_dir()
        states = saved_states(self.run_dir)
        if states and not resume:
            raise UsageError(
                f"run directory '{self.run_dir}' already holds a run (saved at {states[-1].name}); "
                "pass --resume to continue it, or set train.out_dir to a new folder"
            )
        if resume and states:
            saved = json.loads((states[-1] / TRAINER_STATE).read_text())
            self._check_process_count(saved.get("num_processes", 1), states[-1])
            self._restore(states[-1])
            self.step, self.skipped_images = saved["step"], saved.get("skipped_images", 0)
            self._saved_step = self.step
            log.info("resuming %s from step %d", self.run_dir, self.step)
        elif resume:
            log.warning("nothing to resume in %s; starting from step 0", self.run_dir)
        if self.accelerator.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(self.run_dir)
            truncate_metrics(self.run_dir / "metrics.jsonl", self.step)
            write_text(self.run_dir / "recipe.yaml", recipe_to_yaml(self.recipe))
            if self._saved_step > 0 and model_step(self.run_dir / MODEL_FILE) != self._saved_step:
                self._write_model()  # killed between the state and the model file: the model follows the state
        self.accelerator.wait_for_everyone()
        self.accelerator.init_trackers(self.recipe.name)
        self._validation = validation_batch(
            self.val_source, self.color_space, size=self.recipe.data.size, count=self.recipe.data.val_images
        )

    def _restore(self, state: Path) -> None:
        """Load ``state`` (tensors only; a changed recipe or a foreign file is a one-line error)."""
        check_saved_networks(state, self._networks(), self.run_dir / "recipe.yaml")
        if self.accelerator.is_main_process:
            migrate_pickled_ema(state)
        self.accelerator.wait_for_everyone()
        refuse_foreign_files(state)
        try:
            self.accelerator.load_state(str(state))
        except UNPICKLE_ERRORS as exc:
            raise UsageError(cannot_resume(state, exc)) from None
        if self.ema is not None:
            load_ema(state, self.ema)

    def _networks(self) -> dict[str, torch.nn.Module]:
        """The trained networks, unwrapped, in the order Accelerate saves them."""
        networks = {GENERATOR: self._unwrapped_generator}
        networks.update({name: self.accelerator.unwrap_model(slot.network) for name, slot in self.adversaries.items()})
        return networks

    # ------------------------------------------------------------------ public

    def phase_at(self, step: int) -> Phase:
        return next(p for p in self.phases if p.start <= step < p.end)

    def request_stop(self, reason: str) -> None:
        """End the run after the current step (for plugins: early stopping)."""
        self._stop_reason = reason

    def fit(self) -> Path:
        """Train to the end of the last phase (or until a plugin asks to stop); returns the model file."""
        hook = get_plugin_manager().hook
        hook.ganforge_run_start(trainer=self)
        status = "failed"
        progress = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc=self.recipe.name,
            unit="step",
            disable=not self.accelerator.is_local_main_process,
            dynamic_ncols=True,
        )
        try:
            batches = self._batches()
            first_step, started = self.step, time.perf_counter()
            while self.step < self.total_steps and self._stop_reason is None:
                phase = self.phase_at(self.step)
                logs = self._optimisation_step(phase, batches)
                self.step += 1
                self._after_step(phase, logs, progress)
                if self.step - first_step == ESTIMATE_AFTER_STEPS and self.accelerator.is_local_main_process:
                    seconds_per_step = (time.perf_counter() - started) / ESTIMATE_AFTER_STEPS
                    progress.write(self._estimate(seconds_per_step))
            self.save()
            self.write_samples()
            status = "completed" if self._stop_reason is None else "stopped"
        finally:
            progress.close()
            if status != "failed" and self.accelerator.is_main_process:
                self.accelerator.end_training()
                plot_loss_curves(self.run_dir / "metrics.jsonl", self.run_dir / "loss_curves.png")
            hook.ganforge_run_end(trainer=self, status=status)
            self._release_run_dir()
        return self.run_dir / MODEL_FILE

    def _estimate(self, seconds_per_step: float) -> str:
        """The one-line cost of the rest of the run, with the quick alternative."""
        remaining = self.total_steps - self.step
        line = (
            f"ganforge: about {format_duration(remaining * seconds_per_step)} to go: {remaining} steps at "
            f"{seconds_per_step:.2f} s/step on {self.accelerator.num_processes} x {self.accelerator.device.type}"
        )
        if remaining * seconds_per_step > 300:
            quick = max(len(self.phases), min(200, self.total_steps // 10))
            line += f" (a quick look: --max-steps {quick}, every phase shortened alike)"
        return line

    # ------------------------------------------------------------------ the loop

    def _batches(self) -> Iterator[dict[str, Any]]:
        """Endless training batches from the current step on; pictures that fail to decode are counted."""
        data = self.recipe.data
        loader = training_loader(
            self.train_source, self.color_space, size=data.size, batch_size=data.batch_size, seed=self.recipe.seed,
            num_workers=data.num_workers, gray_augment=data.gray_augment, crop_scale=tuple(data.crop_scale),
            hints=data.hints,
            start=self.step * self.recipe.train.gradient_accumulation, rank=self.accelerator.process_index,
            world=self.accelerator.num_processes, streaming=data.streaming,
        )  # fmt: skip
        empty_in_a_row = 0
        for batch in loader:
            self.skipped_images += batch["skipped"]
            if "gray" not in batch:
                empty_in_a_row += 1
                if empty_in_a_row >= 20:
                    raise UsageError(f"recipe key 'data.train': '{data.train}' yields no readable color images")
                continue
            empty_in_a_row = 0
            yield batch

    def _optimisation_step(self, phase: Phase, batches: Iterator[dict[str, Any]]) -> dict[str, float]:
        totals: dict[str, float] = {}
        accumulation = self.recipe.train.gradient_accumulation
        trained = [self.generator] if phase.trains_generator else []
        trained += [self.adversaries[name].network for name in phase.trained_adversaries]
        if phase.trains_generator:
            apply_lr_scale(self.optimizers[GENERATOR], self.recipe.train.lr_generator, phase, self.step)
        for name in phase.trained_adversaries:  # one unprefixed group each: the phase's lr_decay alone applies
            apply_lr_scale(self.optimizers[name], self.recipe.train.lr_adversary, phase, self.step)
        for _ in range(accumulation):
            batch = next(batches)
            with self.accelerator.accumulate(*trained):
                for key, value in self._micro_step(phase, batch).items():
                    totals[key] = totals.get(key, 0.0) + value / accumulation
        return totals

    def _micro_step(self, phase: Phase, batch: dict[str, Any]) -> dict[str, float]:
        device = self.accelerator.device
        gray, target = batch["gray"].to(device), batch["target"].to(device)
        noise = torch.randn(gray.shape[0], self.noise_dim, device=device) if self.noise_dim else None
        logs: dict[str, float] = {}
        with torch.set_grad_enabled(phase.trains_generator):
            if phase.mode == "unconditional":  # whole color images from a latent; the gray channel is generated too
                latent = torch.randn(gray.shape[0], self.latent_dim, device=device)
                prediction = Prediction.wrap(self.generator(gray, None, latent=latent))
                fake_gray = prediction.extras["gray"]
            else:  # with simulated users' points when data.hints gives them
                hints = {"hints": batch["hints"].to(device)} if "hints" in batch else {}
                prediction = Prediction.wrap(self.generator(gray, noise, **hints))
                fake_gray = gray

        for name in phase.trained_adversaries:
            slot = self.adversaries[name]
            real = slot.network(gray, target[:, slot.channels])
            fake = slot.network(fake_gray.detach(), prediction.target.detach()[:, slot.channels])
            loss = sum(w.weight * w.loss.adversary_loss(real, fake) for w in phase.adversarial_losses)
            logs[f"loss/adversary_{name}"] = self._checked(loss, f"adversary '{name}'", phase)
            self._update(name, loss)

        if phase.trains_generator:
            context = GeneratorContext(gray, target, prediction, noise, self.generator)
            total = torch.zeros((), device=device)
            for weighted in phase.generator_losses:
                assert isinstance(weighted.loss, GeneratorLoss)
                value = weighted.loss(context)
                logs[f"loss/{weighted.name}"] = self._checked(value, weighted.name, phase)
                total = total + weighted.weight * value
            slots = list(self.adversaries.values()) if phase.adversarial_losses else []
            with _frozen([slot.network for slot in slots]):  # the graph is recorded without adversary gradients
                judged = [
                    self.accelerator.unwrap_model(slot.network)(fake_gray, prediction.target[:, slot.channels])
                    for slot in slots
                ]
            for weighted in phase.adversarial_losses:
                value = sum(slot.weight * weighted.loss.generator_loss(out) for slot, out in zip(slots, judged))
                logs[f"loss/{weighted.name}"] = self._checked(value, weighted.name, phase)
                total = total + weighted.weight * value
            logs["loss/generator"] = self._checked(total, "generator total", phase)
            self._update(GENERATOR, total)
            if self.ema is not None and self.accelerator.sync_gradients:
                self.ema.update(self._unwrapped_generator)
        return logs

    def _update(self, network: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[network]
        self.accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def _checked(self, loss: torch.Tensor, what: str, phase: Phase) -> float:
        value = float(loss.detach())
        if not math.isfinite(value):
            raise self._diverged(f"step {self.step + 1} (phase '{phase.name}'): the {what} loss is {value}")
        return value

    def _diverged(self, problem: str) -> TrainingDiverged:
        """The error for a run that went non-finite: what happened, what is kept, what to do."""
        last = saved_states(self.run_dir)
        kept = f"the last good state ({last[-1].name}) is intact" if last else "no checkpoint was written yet"
        return TrainingDiverged(
            f"{problem}; {kept}. Lower the learning rate (train.lr_generator / train.lr_adversary) or check the data"
        )

    def _after_step(self, phase: Phase, logs: dict[str, float], progress: tqdm) -> None:
        train = self.recipe.train
        logs = {**logs, "data/skipped_images": float(self.skipped_images)}
        if self.step % train.log_every == 0 or self.step == phase.end:
            self.accelerator.log({**self._mean_over_processes(logs), "phase": phase.name}, step=self.step)
        progress.update(1)
        progress.set_postfix(
            {k.split("/")[-1]: f"{v:.3g}" for k, v in logs.items() if k.startswith("loss/")}, refresh=False
        )
        get_plugin_manager().hook.ganforge_after_step(trainer=self, step=self.step, logs=logs)
        if self.step % train.sample_every == 0:
            self.write_samples()
        if self.step % train.checkpoint_every == 0:
            self.save()

    def _mean_over_processes(self, logs: dict[str, float]) -> dict[str, float]:
        if self.accelerator.num_processes == 1:
            return logs
        values = torch.tensor(list(logs.values()), dtype=torch.float64, device=self.accelerator.device)
        means = self.accelerator.reduce(values, reduction="mean").tolist()
        return dict(zip(logs, means))

    # ------------------------------------------------------------------ outputs

    @torch.no_grad()
    def write_samples(self) -> Path | None:
        """A PNG grid of the validation images: gray input | prediction | ground truth (main process)."""
        if not self.accelerator.is_main_process or "gray" not in self._validation:
            return None
        model = self.ema.module if self.ema is not None else self._unwrapped_generator
        was_training = model.training
        model.eval()
        device = self.accelerator.device
        gray = self._validation["gray"].to(device)
        target = self._validation["target"].to(device)
        noise = None
        if self.noise_dim:
            noise = torch.randn(gray.shape[0], self.noise_dim, generator=torch.Generator().manual_seed(0)).to(device)
        prediction = Prediction.wrap(model(gray, noise)).target.float()
        model.train(was_training)
        gray_rgb = self.color_space.decode_gray(gray).expand(-1, 3, -1, -1)
        grid = sample_grid(
            {
                "gray input": gray_rgb,
                "prediction": self.color_space.merge(gray, prediction),
                "ground truth": self.color_space.merge(gray, target),
            }
        )
        return save_image(grid, self.run_dir / "samples" / f"step-{self.step:08d}.png")

    def save(self) -> None:
        """Write the full training state (atomically, last K kept) and ``model.safetensors``.

        Weights or batch-norm statistics that went non-finite (finite losses can hide it) stop the
        run instead: the previous state stays the last one on disk.
        """
        if self._saved_step == self.step:
            return
        for network_name, network in self._networks().items():
            broken = first_non_finite(network.state_dict())
            if broken:
                raise self._diverged(f"step {self.step}: the {network_name}'s '{broken}' holds NaN or infinite values")
        accelerator = self.accelerator
        final = self.run_dir / STATE_DIR / f"{STATE_PREFIX}{self.step:08d}"
        tmp = final.with_name(f".{final.name}.tmp")
        if accelerator.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        accelerator.wait_for_everyone()
        try:
            accelerator.save_state(str(tmp))  # every process writes its own RNG state
        except (
            BaseException
        ) as exc:  # a full disk, say: the previous state stays the last one, with no half-written one
            if accelerator.is_main_process:
                shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, Exception) and not isinstance(exc, OSError):  # torch's writer raises RuntimeError
                raise _save_failure(exc, self.run_dir) from None
            raise
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            if self.ema is not None:
                save_file(self.ema.state_dict(), str(tmp / EMA_STATE))
            state = {
                "step": self.step,
                "phase": self.phase_at(self.step - 1).name if self.step else None,
                "skipped_images": self.skipped_images,
                "num_processes": accelerator.num_processes,
                "time": time.time(),
            }
            write_text(tmp / TRAINER_STATE, json.dumps(state, indent=2))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            for old in saved_states(self.run_dir)[: -self.recipe.train.keep_last]:
                shutil.rmtree(old)
            self._write_model()
        accelerator.wait_for_everyone()
        self._saved_step = self.step

    def _write_model(self) -> None:
        """``model.safetensors`` from the weights in memory (main process), stamped with the step."""
        model_path = save_checkpoint(
            self.run_dir / MODEL_FILE,
            self.recipe,
            self._unwrapped_generator.state_dict(),
            self.ema.module.state_dict() if self.ema is not None else None,
            metadata={"step": str(self.step)},
        )
        get_plugin_manager().hook.ganforge_checkpoint_written(trainer=self, path=model_path, step=self.step)


def train_from_recipe_file(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, max_steps: int | None = None, resume: bool = False
) -> Path:
    """What ``ganforge train`` does: load the recipe, train it, return the model file."""
    overrides = [*overrides, *([f"train.max_steps={max_steps}"] if max_steps is not None else [])]
    if max_steps is not None and max_steps < 1:
        raise UsageError(f"--max-steps must be at least 1, got {max_steps}")
    recipe = load_recipe(path, overrides)
    try:
        trainer = Trainer(recipe, resume=resume or recipe.train.resume)
    except RecipeError as exc:  # component options are checked when built, after the file was read
        raise RecipeError(f"{path}: {exc}" if not str(exc).startswith(str(path)) else str(exc)) from None
    started = time.perf_counter()
    model = trainer.fit()
    if trainer.accelerator.is_main_process:
        took = format_duration(time.perf_counter() - started)
        print(f"ganforge: trained '{recipe.name}' to step {trainer.step} in {took}; weights: {model}")
    return model
