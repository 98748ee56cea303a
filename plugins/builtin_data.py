"""Built-in data sources: ``builtin:samples`` (real photographs shipped in the package),
``builtin:true_bw`` (genuinely black-and-white photographs) and ``builtin:shapes``
(procedural images on which averaging losses visibly fail)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge import hookimpl
from ganforge.core.colormath import lab_to_rgb, rgb_to_lab
from ganforge.core.components import EvalBatch, Metric
from ganforge.core.registry import Registries
from ganforge.data.sources import HFImageSource, image_folder

SAMPLES_DIR = Path(__file__).parent / "data" / "samples"
TRUE_BW_DIR = Path(__file__).parent / "data" / "true_bw"


def samples() -> HFImageSource:
    """Four public-domain/CC0 color photographs bundled with ganforge (see their LICENSES.md)."""
    return image_folder(SAMPLES_DIR)


def true_bw() -> HFImageSource:
    """Genuinely black-and-white photographs (CC0 / no known copyright) for judging colorizers by eye."""
    return image_folder(TRUE_BW_DIR)


# Each shape has a fixed lightness; a circle is red *or* blue at the same L*, so
# nothing in the gray input says which: L1/L2 regression predicts the average.
_SHAPE_COLORS: dict[str, tuple[float, list[tuple[float, float]]]] = {
    "circle": (50.0, [(62.0, 45.0), (18.0, -58.0)]),
    "square": (82.0, [(0.0, 78.0)]),
    "triangle": (40.0, [(48.0, -50.0)]),
}


class ShapesSource:
    """Procedural shapes on textured backgrounds; color follows shape and texture, some shapes take one of two colors of equal lightness."""

    def __init__(self, count: int = 512, size: int = 160, seed: int = 0) -> None:
        self.count, self.size, self.seed = count, size, seed
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
        self._grid = (yy, xx)

    def __len__(self) -> int:
        return self.count

    def describe(self, index: int) -> str:
        return f"builtin:shapes #{index}"

    def _background(self, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float]]:
        yy, xx = self._grid
        if rng.random() < 0.5:  # smooth gradient: sky blue
            return 62.0 + 25.0 * yy, (-4.0, -34.0)
        frequency = rng.uniform(12, 24)  # vertical stripes: grass green
        return 48.0 + 8.0 * np.sin(xx * frequency * np.pi) + rng.normal(0, 2, xx.shape), (-38.0, 42.0)

    def _mask(self, shape: str, rng: np.random.Generator) -> np.ndarray:
        yy, xx = self._grid
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.22)
        if shape == "circle":
            return (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        if shape == "square":
            return (np.abs(yy - cy) < r * 0.85) & (np.abs(xx - cx) < r * 0.85)
        return (yy < cy + r) & (yy - (cy - r) > 2 * np.abs(xx - cx))  # triangle, apex up

    def load(self, index: int) -> Image.Image:
        rng = np.random.default_rng([self.seed, index])
        lightness, (a0, b0) = self._background(rng)
        a, b = np.full_like(lightness, a0), np.full_like(lightness, b0)
        for _ in range(rng.integers(1, 4)):
            shape = str(rng.choice(list(_SHAPE_COLORS)))
            shape_l, colors = _SHAPE_COLORS[shape]
            ca, cb = colors[rng.integers(len(colors))]
            mask = self._mask(shape, rng)
            lightness[mask], a[mask], b[mask] = shape_l, ca, cb
        lab = torch.from_numpy(np.stack([lightness, a, b]).astype(np.float32))
        rgb = lab_to_rgb(lab).permute(1, 2, 0).numpy()
        return Image.fromarray((rgb * 255 + 0.5).astype(np.uint8), "RGB")


def shapes_val() -> ShapesSource:
    """32 procedural shapes pictures from a seed builtin:shapes never uses: held-out images to evaluate on."""
    return ShapesSource(count=32, seed=1_000_003)


class CircleChroma(Metric):
    """On builtin:shapes: predicted / true chroma of the red-or-blue circles (averaging losses leave them grayish); NaN elsewhere."""

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        lab_true, lab_pred = rgb_to_lab(batch.truth.float()), rgb_to_lab(batch.prediction.float())
        circle_l, circle_colors = _SHAPE_COLORS["circle"]
        ab = lab_true[:, 1:]
        circles = (lab_true[:, 0] - circle_l).abs() < 1.0
        circles &= torch.stack([(ab - torch.tensor(c).view(1, 2, 1, 1)).norm(dim=1) < 3.0 for c in circle_colors]).any(
            0
        )
        true_chroma, pred_chroma = ab.norm(dim=1), lab_pred[:, 1:].norm(dim=1)
        ratio = (pred_chroma * circles).flatten(1).sum(1) / (true_chroma * circles).flatten(1).sum(1).clamp_min(1e-6)
        has_circle = circles.flatten(1).float().mean(1) > 0.02  # a shapes circle covers well over 2% of its picture
        return torch.where(has_circle, ratio, torch.nan)


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.sources.add("samples", samples)
    registries.sources.add("true_bw", true_bw)
    registries.sources.add("shapes", ShapesSource)
    registries.sources.add("shapes_val", shapes_val)
    registries.metrics.add("circle_chroma", CircleChroma)
