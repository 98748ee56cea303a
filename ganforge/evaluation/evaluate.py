"""Score a colorizer on a data source, beside the two trivial baselines every number needs.

*gray* keeps the lightness and predicts no color; *mean color* paints every
pixel with the training set's average chroma. A model that does not beat both
has learned nothing a constant could not. Photographs that were never in color
have no ground truth, so only the metrics that need none (colorfulness,
diversity) are reported for them, and the pictures go in the grid to be looked at.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm

from ganforge.core.atomic import check_new_output, write_text
from ganforge.core.build import ComponentSpec, create
from ganforge.core.choices import GRAY_CONVERSIONS
from ganforge.core.colormath import gray_with_chroma, rgb_to_lab
from ganforge.core.components import EvalBatch, Metric
from ganforge.core.config import Recipe, parse_yaml
from ganforge.core.errors import UsageError
from ganforge.core.plugins import get_registries
from ganforge.data.crops import EvalImages, load_eval_images, training_mean_chroma
from ganforge.data.sources import open_source
from ganforge.inference.colorizer import Colorizer
from ganforge.training.plots import sample_grid, save_image

log = logging.getLogger(__name__)

MODEL, GRAY, MEAN_COLOR = "model", "gray (no color)", "mean color"
FALLBACK_EVAL_DATA = "builtin:samples"
METRICS_FILE = "metrics.json"


def baseline_chroma(colorizer: Colorizer) -> tuple[float, float] | None:
    """The mean-color baseline's a*b*: carried by the checkpoint, else read from the training data if it is here."""
    return colorizer.mean_chroma or training_mean_chroma(colorizer.recipe)


def default_eval_data(recipe: Recipe) -> tuple[str | list[Any], str | None]:
    """What to evaluate on when ``--data`` is not given, and a note when it is not the model's own validation data.

    A model's recipe names the data of the machine it was trained on; elsewhere the
    photographs bundled with ganforge stand in, so ``ganforge eval`` works everywhere.
    """
    spec = recipe.data.val or recipe.data.train
    try:
        open_source(spec, "data.val")
    except UsageError:  # its message would name a path of the machine the model was trained on
        return FALLBACK_EVAL_DATA, (
            f"the model's own validation photos are not on this machine; evaluated on the photographs bundled "
            f"with ganforge ({FALLBACK_EVAL_DATA}) instead: pass --data SOURCE to evaluate on your own"
        )
    return spec, None


def constant_chroma(gray: torch.Tensor, chroma: tuple[float, float]) -> torch.Tensor:
    """The gray pictures' lightness with one a*b* everywhere: the trivial baselines."""
    ab = torch.tensor(chroma, dtype=torch.float32).view(1, 2, 1, 1).expand(gray.shape[0], 2, *gray.shape[-2:])
    return gray_with_chroma(gray, ab)


def select_metrics(names: list[str] | None, options: dict[str, dict[str, Any]] | None = None) -> dict[str, Metric]:
    """The metrics called ``names`` (all registered ones by default), built with their ``options``."""
    registry = get_registries().metrics
    options = options or {}
    unknown = [name for name in names or [] if name not in registry.names()]
    if unknown:
        raise UsageError(f"--metrics: unknown metric '{unknown[0]}' (metrics: {', '.join(registry.names())})")
    unused = sorted(set(options) - set(names or registry.names()))
    if unused:
        raise UsageError(
            f"--metric-option names metric '{unused[0]}', which is not evaluated (metrics: {', '.join(names or registry.names())})"
        )
    return {
        name: create(registry, ComponentSpec(name, options.get(name, {}), f"--metric-option {name}"))
        for name in (names or registry.names())
    }


def parse_metric_options(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["semantic_agreement.weights=FILE", ...]`` -> ``{"semantic_agreement": {"weights": "FILE"}}``."""
    options: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        name, dot, option = key.partition(".")
        if not (sep and dot and name and option):
            raise UsageError(
                f"--metric-option '{item}' must look like METRIC.OPTION=VALUE (e.g. semantic_agreement.weights=FILE)"
            )
        options.setdefault(name, {})[option] = parse_yaml(value) if value else ""
    return options


def metric_directions(names: list[str] | None) -> dict[str, Any]:
    """How tables pick their best row, as :class:`~ganforge.evaluation.report.Table` arguments: whether a higher value is
    better, per metric, and the ideal value of those best at neither end."""
    chosen = select_metrics(names)
    return {
        "higher_is_better": {name: metric.higher_is_better for name, metric in chosen.items()},
        "ideal": {name: metric.ideal for name, metric in chosen.items() if metric.ideal is not None},
    }


def score(metrics: dict[str, Metric], batch: EvalBatch) -> dict[str, torch.Tensor]:
    """Per-image values of every metric that applies to ``batch`` (truth and samples present or not)."""
    values = {}
    for name, metric in metrics.items():
        if (metric.needs_truth and batch.truth is None) or (metric.needs_samples and batch.samples is None):
            continue
        values[name] = metric(batch).float().cpu()
    return values


def mean(values: torch.Tensor) -> float:
    """The mean over the images where a metric applies (NaN if it applies to none)."""
    finite = values[~values.isnan()]
    return float(finite.mean()) if len(finite) else math.nan


@dataclass
class Evaluation:
    """Mean metrics per row (model and baselines), per-image model values and the pictures."""

    source: str
    size: int
    images: int
    gray_conversion: str
    has_truth: bool
    table: dict[str, dict[str, float]]
    per_image: dict[str, list[float]]
    pictures: dict[str, torch.Tensor]
    notes: list[str] = field(default_factory=list)
    metric_details: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary; NaN (a metric that does not apply) becomes null."""
        return {
            "data": self.source,
            "images": self.images,
            "size": self.size,
            "gray_conversion": self.gray_conversion,
            "ground_truth": self.has_truth,
            "metrics": {row: json_numbers(values) for row, values in self.table.items()},
            "per_image": {
                name: [None if math.isnan(v) else v for v in values] for name, values in self.per_image.items()
            },
            "notes": self.notes,
            "metric_details": self.metric_details,
        }


def json_numbers(values: dict[str, float]) -> dict[str, float | None]:
    return {name: None if math.isnan(value) else value for name, value in values.items()}


def colorize_all(
    colorizer: Colorizer, gray: torch.Tensor, batch_size: int, samples: int, desc: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The colorizations of ``gray`` and, for noise models, ``samples`` noise samples of each, in batches."""
    predictions, noise_samples = [], []
    for start in tqdm(range(0, len(gray), batch_size), desc=desc, unit="batch", leave=False):
        chunk = gray[start : start + batch_size]
        predictions.append(colorizer(chunk))
        if colorizer.noise_dim and samples >= 2:
            noise_samples.append(torch.stack(colorizer.sample(chunk, samples, seed=start)))
    return torch.cat(predictions), (torch.cat(noise_samples, 1) if noise_samples else None)


def evaluate(
    colorizer: Colorizer,
    images: EvalImages,
    *,
    metrics: list[str] | None = None,
    gray_conversion: str | None = None,
    mean_chroma: tuple[float, float] | None = None,
    samples: int = 8,
    batch_size: int = 16,
    temperature: float | None = None,
    vividness: float | None = None,
    baselines: bool = True,
    metric_options: dict[str, dict[str, Any]] | None = None,
) -> Evaluation:
    """Metrics of ``colorizer`` on ``images`` next to the gray and mean-color baselines.

    ``gray_conversion`` makes the inputs gray another way than the model was
    trained with (``lstar``, ``rec601``, ``rec709``); by default the model's own.
    ``temperature`` and ``vividness`` decode a classification model another way
    than its own. ``baselines=False`` scores the model alone (when several models
    share one set of images, the baselines need scoring once).
    """
    conversion = checked_conversion(gray_conversion or colorizer.gray_conversion)
    gray = images.gray(conversion)
    with colorizer.using_decoding(temperature, vividness):
        prediction, noise_samples = colorize_all(colorizer, gray, batch_size, samples, f"colorizing {images.source}")
    return score_prediction(
        images, prediction, noise_samples, conversion=conversion, metrics=metrics, mean_chroma=mean_chroma,
        baselines=baselines, metric_options=metric_options,
    )  # fmt: skip


def checked_conversion(conversion: str) -> str:
    if conversion not in GRAY_CONVERSIONS:
        raise UsageError(f"gray conversion '{conversion}' is not one of {', '.join(GRAY_CONVERSIONS)}")
    return conversion


def score_prediction(
    images: EvalImages,
    prediction: torch.Tensor,
    noise_samples: torch.Tensor | None = None,
    *,
    conversion: str = "lstar",
    metrics: list[str] | None = None,
    mean_chroma: tuple[float, float] | None = None,
    baselines: bool = True,
    metric_options: dict[str, dict[str, Any]] | None = None,
) -> Evaluation:
    """Metrics of colorizations ``prediction`` (sRGB, one per image of ``images``), however they were made,
    next to the baselines on the inputs made gray with ``conversion``."""
    chosen = select_metrics(metrics, metric_options)
    gray = images.gray(conversion)
    rows = {MODEL: EvalBatch(gray, prediction, images.truth, noise_samples)}
    notes = []
    if baselines:
        rows[GRAY] = EvalBatch(gray, constant_chroma(gray, (0.0, 0.0)), images.truth)
        if mean_chroma is None and images.truth is not None:
            mean_chroma = tuple(rgb_to_lab(images.truth)[:, 1:].mean((0, 2, 3)).tolist())  # type: ignore[assignment]
            notes.append(
                "mean color: training data unavailable, so the evaluated images' own mean chroma (flatters the baseline)"
            )
        if mean_chroma is not None:
            rows[MEAN_COLOR] = EvalBatch(gray, constant_chroma(gray, mean_chroma), images.truth)
    values = {row: score(chosen, batch) for row, batch in rows.items()}
    table = {row: {name: mean(v) for name, v in row_values.items()} for row, row_values in values.items()}
    pictures = {"gray input": gray.expand(-1, 3, -1, -1), **{row: batch.prediction for row, batch in rows.items()}}
    if noise_samples is not None:
        pictures.update({f"sample {i + 1}": s for i, s in enumerate(noise_samples[:3])})
    if images.truth is not None:
        pictures["ground truth"] = images.truth
    per_image = {name: v.tolist() for name, v in values[MODEL].items() if chosen[name].per_image}
    return Evaluation(
        images.source, images.size, len(images), conversion, images.truth is not None, table, per_image, pictures, notes,
        {name: metric.details() for name, metric in chosen.items() if metric.details()},
    )  # fmt: skip


def grid_rows(evaluation: Evaluation, key: str = "auc") -> list[tuple[int, str]]:
    """The grid's rows as ``(image index, label)``: the best, median and worst images by ``key`` with their
    scores; every image (up to 8), numbered, without truth or without ``key``."""
    if not evaluation.has_truth or key not in evaluation.per_image:
        return [(i, f"image {i + 1}") for i in range(min(8, evaluation.images))]
    scores = evaluation.per_image[key]
    order = sorted(range(evaluation.images), key=lambda i: scores[i], reverse=True)
    picks = zip(("best", "median", "worst"), (order[0], order[len(order) // 2], order[-1]))
    return [(i, f"{rank}\n{key} {scores[i]:.3f}") for rank, i in picks]


def evaluation_grid(evaluation: Evaluation, key: str = "auc") -> Image.Image:
    """A grid of :func:`grid_rows` x the pictures, each row labelled."""
    picks, labels = zip(*grid_rows(evaluation, key))
    return sample_grid(
        {name: pictures[list(picks)] for name, pictures in evaluation.pictures.items()}, row_labels=list(labels)
    )


def evaluate_checkpoint(
    checkpoint: str,
    data: str | None,
    out_dir: Path,
    *,
    size: int = 256,
    count: int | None = None,
    metrics: list[str] | None = None,
    gray_conversion: str | None = None,
    samples: int = 8,
    batch_size: int = 16,
    temperature: float | None = None,
    vividness: float | None = None,
    metric_options: dict[str, dict[str, Any]] | None = None,
    upscale: bool = False,
    overwrite: bool = False,
) -> Evaluation:
    """What ``ganforge eval`` does: evaluate, then write ``metrics.json`` and ``grid.png`` into ``out_dir``
    (an earlier evaluation there is replaced only with ``overwrite``)."""
    from ganforge.inference.colorizer import load

    check_evaluation_request(out_dir, overwrite, metrics, metric_options)
    colorizer = load(checkpoint)
    spec, fallback_note = (data, None) if data else default_eval_data(colorizer.recipe)
    images = load_eval_images(spec, size=size, count=count, upscale=upscale)
    evaluation = evaluate(
        colorizer, images, metrics=metrics, gray_conversion=gray_conversion, mean_chroma=baseline_chroma(colorizer),
        samples=samples, batch_size=batch_size, temperature=temperature, vividness=vividness, metric_options=metric_options,
    )  # fmt: skip
    if fallback_note:
        evaluation.notes.insert(0, fallback_note)
    write_evaluation(
        evaluation,
        out_dir,
        {
            "checkpoint": str(checkpoint),
            "recipe": colorizer.recipe.name,
            "temperature": temperature,
            "vividness": vividness,
        },
    )
    return evaluation


def check_evaluation_request(
    out_dir: Path, overwrite: bool, metrics: list[str] | None, metric_options: dict[str, dict[str, Any]] | None
) -> None:
    """Everything about an evaluation that can be wrong before any work: the metrics and their options, an
    earlier evaluation in ``out_dir`` (kept unless ``overwrite``) and whether ``out_dir`` can be made."""
    select_metrics(metrics, metric_options)
    check_new_output(out_dir / METRICS_FILE, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)


def write_evaluation(evaluation: Evaluation, out_dir: Path, header: dict[str, Any]) -> None:
    """``metrics.json`` (``header`` first: what was evaluated) and ``grid.png`` in ``out_dir``."""
    write_text(out_dir / METRICS_FILE, json.dumps({**header, **evaluation.to_json()}, indent=2) + "\n")
    save_image(evaluation_grid(evaluation), out_dir / "grid.png")
