"""A data source read as center-cropped evaluation images, and the training data's mean color.

Evaluation, comparison reports, the Turing test and checkpoint export all read photographs this way;
the mean chroma of a recipe's training data is the mean-color baseline a model carries with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from tqdm.auto import tqdm

from ganforge.core.colormath import rgb_to_lab, to_gray
from ganforge.core.config import Recipe
from ganforge.core.errors import UsageError
from ganforge.core.images import UnreadableImage, is_grayscale, normalise_mode, to_tensor
from ganforge.data.sources import center_crop, mixture_parts, open_source

log = logging.getLogger(__name__)


@dataclass
class EvalImages:
    """Center crops of a data source: the originals (``None`` for true black-and-white) and their names."""

    source: str
    size: int
    truth: torch.Tensor | None
    luminance: torch.Tensor | None  # the gray photographs themselves when there is no truth
    names: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    full_sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of each original, before cropping

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, indices: list[int]) -> EvalImages:
        """The same source restricted to ``indices`` (e.g. the images another tool's predictions cover)."""
        pick = torch.tensor(indices, dtype=torch.long)
        return EvalImages(
            self.source, self.size,
            None if self.truth is None else self.truth[pick], None if self.luminance is None else self.luminance[pick],
            [self.names[i] for i in indices], dict(self.skipped), [self.full_sizes[i] for i in indices] if self.full_sizes else [],
        )  # fmt: skip

    def gray(self, conversion: str) -> torch.Tensor:
        """The gray inputs ``(B, 1, H, W)``: the originals made gray with ``conversion``, or the gray photos."""
        return self.luminance if self.truth is None else to_gray(self.truth, conversion)


class _Crop(NamedTuple):
    name: str
    pixels: torch.Tensor
    gray: bool  # photographed in gray: no ground truth
    full_size: tuple[int, int]  # (width, height) before cropping


def load_eval_images(
    spec: str | list[Any], *, size: int, count: int | None = None, upscale: bool = False, key: str = "--data"
) -> EvalImages:
    """Read up to ``count`` images of a data source as ``size``-px center crops.

    A source of only gray photographs is taken as true black-and-white (no
    truth); in a mixed source the gray pictures are skipped and counted. Images
    whose short side is below ``size`` are a usage error rather than silently
    upscaled, unless ``upscale`` (then they are enlarged, bicubic). Errors name ``key``.
    """
    source = open_source(spec, key)
    wanted = len(source) if count is None else min(count, len(source))
    crops: list[_Crop] = []
    unreadable = 0
    for index in tqdm(range(wanted), desc=f"reading {spec}", unit="image", leave=False):
        try:
            image = normalise_mode(source.load(index))
        except UnreadableImage as exc:
            log.warning("skipping unreadable image %s: %s", source.describe(index), exc)
            unreadable += 1
            continue
        if min(image.size) < size and not upscale:
            raise UsageError(
                f"{source.describe(index)} is {image.width}x{image.height}, smaller than the evaluation size {size} px; "
                f"pass --size {min(image.size)} or less, --upscale to enlarge small images, or leave the image out"
            )
        crops.append(
            _Crop(source.describe(index), to_tensor(center_crop(image, size)), is_grayscale(image), image.size)
        )
    if not crops:
        raise UsageError(f"data source '{spec}' has no readable image")
    skipped = {"unreadable": unreadable}
    if all(c.gray for c in crops):
        stacked = torch.stack([c.pixels for c in crops])[:, :1]
        return EvalImages(spec, size, None, stacked, [c.name for c in crops], skipped, [c.full_size for c in crops])
    skipped["gray among color"] = sum(c.gray for c in crops)
    if skipped["gray among color"]:
        log.warning(
            "%s: %d gray picture(s) among color ones skipped (no ground truth)", spec, skipped["gray among color"]
        )
    color = [c for c in crops if not c.gray]
    return EvalImages(
        spec,
        size,
        torch.stack([c.pixels for c in color]),
        None,
        [c.name for c in color],
        skipped,
        [c.full_size for c in color],
    )


def training_mean_chroma(recipe: Recipe, images: int = 64, size: int = 64) -> tuple[float, float] | None:
    """The average a*b* of (up to ``images``) training pictures per source, weighted as training mixes
    the sources; ``None`` when the training data is not here."""
    means, weights = [], []
    try:
        for spec, weight in mixture_parts(recipe.data.train, "data.train"):
            truth = load_eval_images(spec, size=size, count=images, key="data.train").truth
            if truth is not None:
                means.append(rgb_to_lab(truth)[:, 1:].mean((0, 2, 3)))
                weights.append(weight)
    except UsageError as exc:
        log.warning("mean-color baseline: training data unavailable (%s)", exc)
        return None
    if not means:
        return None
    a, b = (torch.stack(means) * torch.tensor(weights)[:, None]).sum(0).div(sum(weights)).tolist()
    return a, b
