"""``ganforge compare``: train several recipes alike, evaluate them on the same images, write one report.

Every recipe gets the same seed, training data and step budget; existing
checkpoints can be compared too, and one model decoded several ways
(``default@vividness=0.5``) gives a column per decoding. A recipe that fails to train or evaluate
becomes a row marked failed with its reason, and the others carry on. Runs
live under ``OUT/runs/NAME``, so a killed comparison resumes where it was.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ganforge import __version__
from ganforge.core.argtypes import DECODING_TYPES
from ganforge.core.atomic import write_text
from ganforge.core.choices import GRAY_CONVERSIONS
from ganforge.core.config import load_recipe
from ganforge.core.errors import GanforgeError, UsageError
from ganforge.data.crops import EvalImages, load_eval_images  # fmt: skip
from ganforge.data.sources import mixture_parts
from ganforge.evaluation.evaluate import (
    GRAY,
    MEAN_COLOR,
    MODEL,
    Evaluation,
    baseline_chroma,
    default_eval_data,
    evaluate,
    json_numbers,
    metric_directions,
    score_prediction,
)
from ganforge.evaluation.predictions import listing, load_predictions
from ganforge.evaluation.report import Section, Table, write_report
from ganforge.inference.colorizer import DEFAULT, Colorizer, load, resolve_checkpoint
from ganforge.training.phases import fit_steps
from ganforge.training.plots import sample_grid, save_image
from ganforge.training.trainer import MODEL_FILE, format_duration, train_from_recipe_file

log = logging.getLogger(__name__)

GRID_IMAGES = 6
DECODING_MARK = "@"  # MODEL@vividness=0.5,temperature=0.3: the model decoded that way


def split_decoding(given: str) -> tuple[str, dict[str, float]]:
    """``'default@vividness=0.5'`` as ``('default', {'vividness': 0.5})``: a model and how to decode it.

    Text that does not end in ``@NAME=VALUE[,NAME=VALUE]`` (or names an existing path) is the model alone.
    """
    model, mark, options = given.rpartition(DECODING_MARK)
    if not mark or "=" not in options or Path(given).exists():
        return given, {}
    decoding = {}
    for option in options.split(","):
        name, _, text = (part.strip() for part in option.partition("="))
        if name not in DECODING_TYPES:
            raise UsageError(
                f"'{given}': '{name}' is not a decoding option; use {' or '.join(DECODING_TYPES)}, e.g. {model}@vividness=0.5"
            )
        try:
            decoding[name] = DECODING_TYPES[name](text)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"'{given}': {name} {exc}") from None
        except ValueError:
            raise UsageError(f"'{given}': {name} must be a number, got '{text}'") from None
    return model, decoding


def describe(model: str, decoding: dict[str, float]) -> str:
    """Where a column's model comes from and how it is decoded, for the report's context."""
    where = "the model shipped with ganforge" if model == DEFAULT else model
    return where + "".join(f", {name} {value:g}" for name, value in decoding.items())


def decoding_suffix(decoding: dict[str, float]) -> str:
    return DECODING_MARK + ",".join(f"{name}={value:g}" for name, value in decoding.items()) if decoding else ""


@dataclass
class Contender:
    """One column of the comparison: a recipe to train, a checkpoint to take as it is, or a folder of
    colorizations another tool made (scored as they are)."""

    label: str
    source: Path
    decoding: dict[str, float] = field(
        default_factory=dict
    )  # temperature/vividness to evaluate at (none: the model's own)
    run_name: str = ""  # a recipe's run folder under OUT/runs, shared by its decodings
    model: Path | None = None
    error: str | None = None
    seconds: float = 0.0
    colorizer: Colorizer | None = field(default=None, repr=False)

    @property
    def is_checkpoint(self) -> bool:
        return self.source.suffix in (".safetensors", ".onnx")

    @property
    def is_predictions(self) -> bool:
        return self.source.is_dir()

    @property
    def ready(self) -> bool:
        """Whether there is something to evaluate: a loaded model or a folder of predictions."""
        return self.colorizer is not None or self.is_predictions


def contender_labels(paths: list[Path], decodings: list[dict[str, float]] | None = None) -> list[str]:
    """File stems and folder names (a checkpoint named model.safetensors is called after its run folder), with
    the decoding if one is given (``default@vividness=0.5``), made unique."""
    labels, seen = [], {}
    for path, decoding in zip(paths, decodings or [{}] * len(paths)):
        label = path.parent.name if path.name == MODEL_FILE else path.name if path.is_dir() else path.stem
        label += decoding_suffix(decoding)
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label}-{seen[label]}")
    return labels


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def hardware() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads"


@dataclass
class CompareOptions:
    steps: int | None = None
    data: str | None = None
    eval_sources: list[str] = field(default_factory=list)
    size: int = 128
    images: int | None = 32
    seed: int = 0
    metrics: list[str] | None = None
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    upscale: bool = False
    overrides: list[str] = field(default_factory=list)


def train_contender(contender: Contender, out_dir: Path, options: CompareOptions) -> None:
    """Train (or resume) one recipe into ``out_dir/runs/LABEL``; failures are recorded, not raised."""
    run_dir = out_dir / "runs" / contender.run_name
    overrides = [*options.overrides, f"seed={options.seed}", f"train.out_dir={run_dir}"]
    if options.data:
        overrides.append(f"data.train={options.data}")
    started = time.perf_counter()
    try:
        if options.steps:  # the same budget for all: every recipe's phases stretched or shrunk to add up to it
            phases = load_recipe(contender.source, overrides).phases
            budget = fit_steps([phase.steps for phase in phases], options.steps)
            overrides += [f"phases.{i}.steps={n}" for i, n in enumerate(budget)]
        contender.model = train_from_recipe_file(contender.source, overrides, resume=(run_dir / "state").is_dir())
    except Exception as exc:  # noqa: BLE001 - any failure of one recipe becomes its row's reason
        contender.error = _one_line(exc)
        log.warning("%s failed to train: %s", contender.label, contender.error)
    contender.seconds = time.perf_counter() - started


def _grid(images: EvalImages, columns: dict[str, torch.Tensor]) -> torch.Tensor:
    count = min(GRID_IMAGES, len(images))
    return sample_grid({name: batch[:count] for name, batch in columns.items()})


def compare(inputs: list[str | Path], out_dir: Path, options: CompareOptions) -> Path:
    """Train/load, evaluate and report; returns the path of ``report.html``."""
    given = [split_decoding(str(one)) for one in inputs]
    paths = [resolve_checkpoint(model) if model == DEFAULT else Path(model) for model, _ in given]
    decodings = [decoding for _, decoding in given]
    for path, decoding in zip(paths, decodings):
        if not path.exists():
            raise UsageError(f"'{path}' is neither a recipe file, a checkpoint nor a folder of colorizations")
        if decoding and path.is_dir():
            raise UsageError(
                f"'{path}{decoding_suffix(decoding)}': a folder of colorizations is scored as it is; decoding options are for models"
            )
    sources = list(dict.fromkeys(paths))  # one run per recipe, however many decodings of it are compared
    run_names = dict(zip(sources, contender_labels(sources)))
    contenders = [
        Contender(label, path, decoding, run_names[path])
        for label, path, decoding in zip(contender_labels(paths, decodings), paths, decodings)
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    trained: dict[Path, Contender] = {}
    for contender in contenders:
        if contender.is_predictions:
            continue
        if contender.is_checkpoint:
            contender.model = contender.source
        elif contender.source in trained:  # another decoding of a recipe already trained
            earlier = trained[contender.source]
            contender.model, contender.error, contender.seconds = earlier.model, earlier.error, earlier.seconds
        else:
            train_contender(contender, out_dir, options)
            trained[contender.source] = contender
        if contender.model is not None:
            try:
                contender.colorizer = load(contender.model)
            except Exception as exc:  # noqa: BLE001
                contender.error = _one_line(exc)
    working = [c for c in contenders if c.ready]
    models = [c for c in working if c.colorizer is not None]
    reference = models[0].colorizer if models else None  # its training data gives the mean-color baseline
    own = default_eval_data(reference.recipe)[0] if reference else None  # several validation sets: a table each
    eval_sources = options.eval_sources or ([s for s, _ in mixture_parts(own, "data.val")] if own is not None else [])
    mean_chroma = baseline_chroma(reference) if reference else None

    directions = metric_directions(options.metrics)
    sections, results, loaded, details = [], {}, {}, {}
    for index, spec in enumerate(eval_sources):
        images = loaded[spec] = load_eval_images(spec, size=options.size, count=options.images, upscale=options.upscale)
        table = Table({}, {c.label: c.error for c in contenders if c.error}, baselines=(GRAY, MEAN_COLOR), **directions)
        columns: dict[str, torch.Tensor] = {}
        for contender in working:
            first = not columns  # the first model evaluated also scores the baselines, once for all
            try:
                evaluation = evaluate_contender(contender, images, options, mean_chroma, baselines=first)
            except Exception as exc:  # noqa: BLE001
                table.failed[contender.label] = _one_line(exc)
                continue
            details.update(evaluation.metric_details)
            if first:
                columns["gray input"] = evaluation.pictures["gray input"]
                table.rows.update({row: evaluation.table[row] for row in (GRAY, MEAN_COLOR) if row in evaluation.table})
            table.rows[contender.label] = evaluation.table[MODEL]
            columns[contender.label] = evaluation.pictures[MODEL]
        if images.truth is not None:
            columns["ground truth"] = images.truth
        grid_name = f"grid_{index}.png"
        if len(columns) > 1 or images.truth is None and columns:
            save_image(_grid(images, columns), out_dir / grid_name)
        what = (
            "ground truth: yes"
            if images.truth is not None
            else "no ground truth (never in color): colorfulness and diversity only"
        )
        sections.append(Section(
            f"{spec}: {len(images)} images, {options.size} px center crops", table,
            [(f"each row one image, each column one model ({spec})", grid_name)] if (out_dir / grid_name).exists() else [], what,
        ))  # fmt: skip
        metrics = {row: json_numbers(values) for row, values in table.rows.items()}
        results[spec] = {
            "images": len(images),
            "ground_truth": images.truth is not None,
            "metrics": metrics,
            "failed": table.failed,
        }

    truth_source = next((s for s in eval_sources if results[s]["ground_truth"]), None)
    if truth_source and models:
        cross = gray_conversion_table(models, loaded[truth_source])
        sections.append(Section(
            f"Gray conversion: AuC when the inputs are made gray another way ({truth_source})", cross,
            text="Rows: models, with the conversion they were trained with; columns: the conversion that made the "
            "evaluation inputs gray. A model learns the inverse of its own conversion, so the diagonal flatters it.",
        ))  # fmt: skip
        results["gray_conversion_auc"] = cross.rows

    if not sections:  # nothing trained: the report still says why
        sections.append(Section("Models", Table({}, {c.label: c.error or "no model" for c in contenders})))

    curves = []
    for contender in trained.values():
        plot = (
            contender.model.parent if contender.model else out_dir / "runs" / contender.run_name
        ) / "loss_curves.png"
        if plot.is_file():
            shutil.copyfile(plot, out_dir / f"loss_{contender.run_name}.png")
            curves.append((contender.run_name, f"loss_{contender.run_name}.png"))
    if curves:
        sections.append(Section("Loss curves", images=curves, image_row=True))

    context = {
        "budget": f"{options.steps} steps per recipe" if options.steps else "each recipe's own step count",
        "training data": options.data or "each recipe's own",
        "seed": str(options.seed),
        "hardware": hardware(),
        "wall time of this invocation": f"{format_duration(time.perf_counter() - started)} (runs it resumed count only what was left)",
        "made": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with ganforge {__version__}",
        "models": ", ".join(f"{c.label} ({describe(model, c.decoding)})" for c, (model, _) in zip(contenders, given)),
    }
    html_path, _ = write_report(out_dir, "ganforge comparison", context, sections)
    summary = {
        "context": context,
        "metric_details": details,
        "results": results,
        "training_seconds": {c.label: round(c.seconds, 1) for c in contenders},
    }
    write_text(out_dir / "metrics.json", json.dumps(summary, indent=2, default=str) + "\n")
    measured = {
        row
        for result in results.values()
        if isinstance(result, dict) and "metrics" in result
        for row in result["metrics"]
    }
    if not measured & {c.label for c in contenders}:
        failed = {
            label: why
            for result in results.values()
            if isinstance(result, dict)
            for label, why in result.get("failed", {}).items()
        }
        reasons = "; ".join(f"{c.label}: {c.error or failed.get(c.label, 'no result')}" for c in contenders)
        raise GanforgeError(f"no model gave a result ({reasons[:300]}); {html_path} says why for each")
    return html_path


def evaluate_contender(
    contender: Contender,
    images: EvalImages,
    options: CompareOptions,
    mean_chroma: tuple[float, float] | None,
    baselines: bool,
) -> Evaluation:
    """A model's colorizations of ``images``, or a folder's, scored; a folder must cover every image, so all rows
    are measured on the same photos."""
    if contender.colorizer is not None:
        return evaluate(
            contender.colorizer, images, metrics=options.metrics, mean_chroma=mean_chroma, baselines=baselines,
            metric_options=options.metric_options, **contender.decoding,
        )  # fmt: skip
    predicted = load_predictions(contender.source, images)
    if predicted.missing:
        raise UsageError(
            f"{len(predicted.missing)} of {len(images)} originals have no prediction: {listing(predicted.missing)}"
        )
    evaluation = score_prediction(
        images,
        predicted.rgb,
        metrics=options.metrics,
        mean_chroma=mean_chroma,
        baselines=baselines,
        metric_options=options.metric_options,
    )
    evaluation.notes[:0] = predicted.notes()
    return evaluation


def gray_conversion_table(contenders: list[Contender], images: EvalImages) -> Table:
    """AuC of each model (rows) on inputs made gray by each conversion (columns); a model that cannot be
    evaluated (e.g. asked for a decoding it lacks) is a failed row."""
    table = Table({})
    for contender in contenders:
        row = f"{contender.label} (trained on {contender.colorizer.gray_conversion})"
        try:
            table.rows[row] = {
                f"input {conversion}": evaluate(
                    contender.colorizer,
                    images,
                    metrics=["auc"],
                    gray_conversion=conversion,
                    baselines=False,
                    **contender.decoding,
                ).table[MODEL]["auc"]
                for conversion in GRAY_CONVERSIONS
            }
        except Exception as exc:  # noqa: BLE001 - as in the metric tables, one model's failure is its row's reason
            table.failed[row] = _one_line(exc)
    return table
