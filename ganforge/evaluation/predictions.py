"""Colorizations made by any tool, read from a folder and lined up with the originals they colorize.

``ganforge eval --predictions DIR`` scores what DeOldify, DDColor or a past
ganforge run wrote, with the same crops, metrics and baselines as a checkpoint.
A prediction belongs to the original whose path (without its extension) ends
with the prediction's path relative to ``DIR``: ``DIR/city/0001.png`` colorizes
``…/val/city/0001.jpg``; a flat ``DIR/0001.png`` does too, as long as only one
original is called ``0001``. The longest such match wins.

A prediction of another size than its original is resized to it (bicubic, with
a warning) before the center crop, so both crops show the same part of the photo.
Predictions are scored as they are, lightness included: a tool that changes the
lightness of the photo it was given pays for it in PSNR and SSIM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm

from ganforge.core.errors import UsageError
from ganforge.core.images import IMAGE_SUFFIXES, UnreadableImage, normalise_mode, open_image, to_tensor
from ganforge.data.crops import EvalImages, load_eval_images
from ganforge.data.sources import center_crop
from ganforge.evaluation.evaluate import (
    Evaluation,
    check_evaluation_request,
    checked_conversion,
    score_prediction,
    write_evaluation,
)

log = logging.getLogger(__name__)

LISTED = 5  # names shown in a message before "and N more"


@dataclass
class Predictions:
    """The originals that have a prediction, the predictions' center crops ``(B, 3, S, S)``, and what was off."""

    images: EvalImages
    rgb: torch.Tensor
    indices: list[int]  # where each prediction's original stands among the evaluated ones
    missing: list[str] = field(default_factory=list)  # originals with no prediction
    resized: int = 0  # predictions of another size than their original
    unmatched: int = 0  # prediction files that colorize none of the evaluated originals

    def notes(self) -> list[str]:
        """What a report should say about how the predictions were matched."""
        notes = []
        if self.missing:
            notes.append(
                f"{len(self.missing)} original(s) have no prediction and are left out: {listing(self.missing)}"
            )
        if self.resized:
            notes.append(
                f"{self.resized} prediction(s) differ in size from their original and were resized to it (bicubic)"
            )
        if self.unmatched:
            notes.append(f"{self.unmatched} file(s) in the predictions folder match none of the evaluated originals")
        return notes


def listing(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def prediction_files(folder: Path) -> dict[tuple[str, ...], Path]:
    """Every image under ``folder`` keyed by its relative path without extension; two files with one key are an error."""
    if not folder.is_dir():
        raise UsageError(f"predictions folder '{folder}' does not exist or is not a folder")
    files: dict[tuple[str, ...], Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        key = path.relative_to(folder).with_suffix("").parts
        if key in files:
            raise UsageError(
                f"predictions folder '{folder}' holds two images for '{PurePath(*key)}' ({files[key].name} and {path.name}); "
                "keep one of them"
            )
        files[key] = path
    if not files:
        raise UsageError(f"predictions folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def match(names: list[str], files: dict[tuple[str, ...], Path]) -> list[Path | None]:
    """Per original name, the prediction whose key is the longest tail of its path (``None``: no prediction)."""
    matched: list[Path | None] = []
    for name in names:
        parts = PurePath(name).with_suffix("").parts
        matched.append(next((files[parts[i:]] for i in range(len(parts)) if parts[i:] in files), None))
    claimed: dict[Path, str] = {}
    for name, path in zip(names, matched):
        if path is not None and path in claimed:
            raise UsageError(
                f"prediction '{path}' matches two originals ({claimed[path]} and {name}); "
                "lay the predictions out in the originals' subfolders so each has its own"
            )
        if path is not None:
            claimed[path] = name
    return matched


def read_prediction(path: Path, full_size: tuple[int, int], size: int) -> tuple[torch.Tensor, bool]:
    """The ``size`` px center crop of one prediction as sRGB ``(3, S, S)``, and whether it had to be resized."""
    try:
        image = normalise_mode(open_image(path)).convert("RGB")
    except UnreadableImage as exc:
        raise UsageError(f"prediction '{path}' cannot be read: {exc}") from None
    resized = image.size != full_size
    if resized:
        log.warning("prediction %s is %dx%d, its original %dx%d: resized to match", path, *image.size, *full_size)
        image = image.resize(full_size, Image.Resampling.BICUBIC)
    return to_tensor(center_crop(image, size)), resized


def load_predictions(folder: str | Path, images: EvalImages) -> Predictions:
    """The predictions in ``folder`` for ``images``, cropped as the originals were; a usage error when none match."""
    if images.truth is None:
        raise UsageError(
            f"'{images.source}' holds no color photos to score predictions against; pass a source of color originals"
        )
    folder = Path(folder).expanduser()
    files = prediction_files(folder)
    matched = match(images.names, files)
    kept = [i for i, path in enumerate(matched) if path is not None]
    if not kept:
        example = PurePath(images.names[0]).with_suffix(".png").name
        raise UsageError(
            f"no image in '{folder}' matches an original of '{images.source}' by relative path "
            f"(e.g. {images.names[0]} needs {folder / example}); found {listing([str(PurePath(*k)) for k in files])}"
        )
    crops, resized = [], 0
    for i in tqdm(kept, desc=f"reading {folder}", unit="image", leave=False):
        crop, was_resized = read_prediction(matched[i], images.full_sizes[i], images.size)  # type: ignore[arg-type]
        crops.append(crop)
        resized += was_resized
    missing = [images.names[i] for i, path in enumerate(matched) if path is None]
    if missing:
        log.warning(
            "%d original(s) of %s have no prediction in %s: %s", len(missing), images.source, folder, listing(missing)
        )
    used = {path for path in matched if path is not None}
    return Predictions(images.subset(kept), torch.stack(crops), kept, missing, resized, len(files) - len(used))


def evaluate_predictions(
    folder: str | Path,
    data: str,
    out_dir: Path,
    *,
    size: int = 256,
    count: int | None = None,
    metrics: list[str] | None = None,
    gray_conversion: str = "lstar",
    metric_options: dict[str, dict[str, Any]] | None = None,
    upscale: bool = False,
    overwrite: bool = False,
) -> Evaluation:
    """What ``ganforge eval --predictions DIR --data SOURCE`` does: score, then write ``metrics.json`` and ``grid.png``.

    ``gray_conversion`` makes the gray baseline (and the grid's gray column); use
    the conversion that made the gray photos the tool colorized.
    """
    check_evaluation_request(out_dir, overwrite, metrics, metric_options)
    conversion = checked_conversion(gray_conversion)
    predictions = load_predictions(folder, load_eval_images(data, size=size, count=count, upscale=upscale))
    evaluation = score_prediction(
        predictions.images, predictions.rgb, conversion=conversion, metrics=metrics, metric_options=metric_options
    )
    evaluation.notes[:0] = predictions.notes()
    write_evaluation(evaluation, out_dir, {"predictions": str(folder), "missing": predictions.missing})
    return evaluation
