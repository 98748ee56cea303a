"""Colorful Image Colorization (Zhang, Isola, Efros, ECCV 2016) as ganforge components.

- ``ABBins``: the ab plane quantized on a grid of 10 into in-gamut bins, soft
  encoding (5 nearest bins, Gaussian sigma 5) and annealed-mean decoding.
- generator ``zhang``: any backbone's features -> per-pixel logits over the bins,
  decoded to ab with temperature T (0.38 in the paper; set ``temperature`` at inference)
  after leaning toward rare colors by ``vividness`` (0 by default).
- loss ``zhang``: multinomial cross-entropy on soft-encoded targets, weighted by
  class-rebalancing weights (``ganforge rebalance`` computes them from a dataset).
- generator ``eccv16``: the paper's network shape (VGG-style, dilated convolutions).

On the bin count: the paper keeps Q = 313 bins. Here a bin is in gamut when at
least one 8-bit sRGB color (scikit-image's conversion, D65) rounds into it,
which gives Q = 261; the paper's set came from its own conversion and data and
includes a ring of cells that no 8-bit sRGB color reaches.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ganforge import hookimpl
from ganforge.core.atomic import check_new_output, write_text
from ganforge.core.build import ComponentSpec, create
from ganforge.core.choices import VIVIDNESS_RANGE
from ganforge.core.colormath import rgb_to_lab
from ganforge.core.components import GeneratorContext, GeneratorLoss, Prediction
from ganforge.core.errors import RecipeError, UsageError
from ganforge.core.plugins import get_registries
from ganforge.core.registry import Registries
from ganforge_plugins.unet import pad_to_multiple

AB_SCALE = 110.0  # must match the lab color space's normalisation
REBALANCE_DIR = Path(__file__).parent / "data" / "rebalance"
VIVIDNESS_REFERENCE = "builtin:bsds500"  # whose color statistics say which colors are rare


def check_positive(name: str, value: float) -> float:
    """``value`` itself, or a ValueError naming ``name`` (a temperature of 0 or less divides by zero)."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_vividness(vividness: float) -> float:
    """``vividness`` itself, or a ValueError naming the range (beyond it colors are all one extreme or noise)."""
    low, high = VIVIDNESS_RANGE
    if not (math.isfinite(vividness) and low <= vividness <= high):
        raise ValueError(f"vividness must be in [{low:g}, {high:g}], got {vividness}")
    return vividness


@functools.lru_cache(maxsize=4)
def in_gamut_bins(grid: int = 10) -> torch.Tensor:
    """Centers ``(Q, 2)`` of the ab cells that some 8-bit sRGB color rounds into, sorted by (a, b).

    Computed on the CPU whatever the default device, so a model can be built on the meta device.
    """
    with torch.device("cpu"):
        levels = torch.arange(256, dtype=torch.float32) / 255
        g, b = torch.meshgrid(levels, levels, indexing="ij")
        span = 2 * (130 // grid) + 1  # a and b of sRGB colors stay within +-130
        hit = torch.zeros(span * span, dtype=torch.bool)
        for red in levels.split(16):  # 16 slices of the cube at a time keep memory small
            rgb = torch.stack(torch.broadcast_tensors(red[:, None, None], g, b)).reshape(3, 1, -1)
            cells = torch.round(rgb_to_lab(rgb)[1:, 0] / grid).long() + span // 2
            hit[cells[0] * span + cells[1]] = True
        index = hit.nonzero()[:, 0]
        return torch.stack((index // span, index % span), dim=1).float().sub(span // 2).mul(grid)


class ABBins(nn.Module):
    """Quantization of the ab plane: nearest bins, soft encoding, annealed-mean decoding."""

    def __init__(self, grid: int = 10, neighbours: int = 5, sigma: float = 5.0) -> None:
        super().__init__()
        centers = in_gamut_bins(grid)
        cells = torch.round(centers / grid).long()
        self.grid, self.neighbours, self.sigma = grid, neighbours, sigma
        self.offset = int(cells.min()) - 2
        size = int(cells.max()) - self.offset + 3
        lookup = torch.full((size, size), -1, dtype=torch.long)
        lookup[cells[:, 0] - self.offset, cells[:, 1] - self.offset] = torch.arange(len(centers))
        self.register_buffer("centers", centers, persistent=False)
        self.register_buffer("lookup", lookup, persistent=False)
        window = torch.arange(-2, 3)
        self.register_buffer("window", torch.cartesian_prod(window, window), persistent=False)  # 25 candidate cells

    def __len__(self) -> int:
        return len(self.centers)

    def _candidates(self, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bin indices ``(B, 25, H, W)`` around each pixel's cell and their distances (inf when out of gamut)."""
        cell = torch.round(ab / self.grid).long() - self.offset  # (B, 2, H, W)
        cand = cell[:, None] + self.window[None, :, :, None, None]  # (B, 25, 2, H, W)
        size = self.lookup.shape[0]
        cand = cand.clamp(0, size - 1)
        index = self.lookup[cand[:, :, 0], cand[:, :, 1]]  # (B, 25, H, W)
        centers = self.centers[index.clamp_min(0)]  # (B, 25, H, W, 2)
        distance = (centers - ab.permute(0, 2, 3, 1)[:, None]).pow(2).sum(-1)
        return index, distance.masked_fill(index < 0, math.inf)

    def soft_encode(self, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ab ``(B, 2, H, W)`` in L*a*b* units -> (indices, weights) of the k nearest bins, ``(B, k, H, W)``, nearest first."""
        index, distance = self._candidates(ab)
        distance, order = distance.topk(self.neighbours, dim=1, largest=False)
        weights = torch.exp(-distance / (2 * self.sigma**2))
        weights = weights / weights.sum(1, keepdim=True)
        return index.gather(1, order), weights

    def nearest(self, ab: torch.Tensor) -> torch.Tensor:
        index, distance = self._candidates(ab)
        return index.gather(1, distance.argmin(1, keepdim=True))[:, 0]

    def annealed_mean(self, logits: torch.Tensor, temperature: float, bias: torch.Tensor | None = None) -> torch.Tensor:
        """Zhang et al.'s annealed mean: softmax((logits + bias) / T) averaged over bin centers -> ab ``(B, 2, H, W)``.

        ``bias`` ``(Q,)`` is added to every pixel's logits first (a prior correction).
        """
        logits = logits.float() if bias is None else logits.float() + bias.float()[:, None, None]
        probabilities = torch.softmax(logits / temperature, dim=1)
        return torch.einsum("bqhw,qc->bchw", probabilities, self.centers.float())

    def probability_within(self, logits: torch.Tensor, ab: torch.Tensor, radius: float) -> torch.Tensor:
        """The model's probability that the true color lies within ``radius`` ab units of ``ab`` -> ``(B, 1, H, W)``.

        ``logits`` at the model's native temperature (1) give its calibrated-by-training
        distribution; ``ab`` is the color shown, at the logits' resolution.
        """
        probabilities = torch.softmax(logits.float(), dim=1)
        distance = (self.centers.float()[None, :, :, None, None] - ab.float()[:, None]).pow(2).sum(2)  # (B, Q, H, W)
        return (probabilities * (distance <= radius**2)).sum(1, keepdim=True)


class ColorClassifier(nn.Module):
    """Zhang et al. 2016 classification head: per-pixel distribution over in-gamut ab bins on any backbone.

    ``backbone`` names a registered generator (with its options) that maps the
    gray input to ``features`` channels; a 1x1 convolution turns them into bin
    logits, optionally at 1/``downsample`` resolution (the paper works at 1/4).
    ``temperature`` sets the annealed mean (1 = mean, towards 0 = mode).
    ``confidence_temperature`` sharpens (< 1) or flattens the distribution that
    :meth:`confidence` reads, fitted after training so that confidence matches how
    often colors are right (``benchmarks/confidence_calibration.py --fit``).

    ``vividness`` multiplies each bin's probability by its class-rebalancing weight
    (BSDS500's, Zhang et al. eq. 4) raised to that power before decoding: 0 decodes as
    trained, above 0 leans toward colors that are rare in photos (more saturated),
    below 0 toward the common near-neutral ones (duller, closer to the mean that PSNR
    rewards). Temperature cannot do this: where the most likely bin is a near-neutral
    one, lowering T picks it more surely and the colors get no bolder.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        backbone: Any = "unet",
        features: int = 64,
        temperature: float = 0.38,
        downsample: int = 1,
        confidence_temperature: float = 1.0,
        vividness: float = 0.0,
    ) -> None:
        super().__init__()
        if out_channels != 2:
            raise ValueError("the zhang generator predicts a and b: use color_space: lab")
        if downsample < 1:
            raise ValueError(f"downsample must be at least 1, got {downsample}")
        # decoding options, checked by their setters now and whenever they are set later (inference, export)
        self.temperature = temperature
        self.confidence_temperature = confidence_temperature
        self.vividness = vividness
        spec = ComponentSpec.parse(backbone, "generator.backbone")
        self.backbone = create(get_registries().generators, spec, in_channels=in_channels, out_channels=features)
        self.bins = ABBins()
        self.classify = nn.Conv2d(features, len(self.bins), 1)
        rebalancing = load_rebalancing(VIVIDNESS_REFERENCE, len(self.bins))
        self.register_buffer("log_rarity", rebalancing.log(), persistent=False)
        self.downsample = downsample
        self.noise_dim = int(getattr(self.backbone, "noise_dim", 0))
        self.hint_channels = int(
            getattr(self.backbone, "hint_channels", 0)
        )  # the backbone's hint input, when it has one
        self.palette_bias: torch.Tensor | None = None  # (Q,) log-weights of a reference photo's palette, set for a call

    @property
    def bin_centers(self) -> torch.Tensor:
        """The ab centers ``(Q, 2)`` of the classes, in L*a*b* units (suggestions and palettes read them)."""
        return self.bins.centers

    @property
    def temperature(self) -> float:
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = check_positive("temperature", value)

    @property
    def confidence_temperature(self) -> float:
        return self._confidence_temperature

    @confidence_temperature.setter
    def confidence_temperature(self, value: float) -> None:
        self._confidence_temperature = check_positive("confidence_temperature", value)

    @property
    def vividness(self) -> float:
        return self._vividness

    @vividness.setter
    def vividness(self, value: float) -> None:
        self._vividness = check_vividness(float(value))

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """The color shown for ``logits``: ab ``(B, 2, h, w)`` in L*a*b* units, at the current temperature and
        vividness, weighted by a reference's palette when one is set (scaled by the temperature, so a palette
        bias of log(p) weighs the distribution by p itself)."""
        bias = self.vividness * self.log_rarity if self.vividness else None
        if self.palette_bias is not None:
            palette = self.temperature * self.palette_bias.to(logits.device)
            bias = palette if bias is None else bias + palette
        return self.bins.annealed_mean(logits, self.temperature, bias)

    def confidence(self, logits: torch.Tensor, radius: float) -> torch.Tensor:
        """Per pixel, the probability that the true color is within ``radius`` ab units of the one decoded
        (at the current temperature and vividness), at the logits' resolution ``(B, 1, h, w)``."""
        return self.bins.probability_within(logits / self.confidence_temperature, self.decode(logits), radius)

    def forward(
        self, gray: torch.Tensor, noise: torch.Tensor | None = None, hints: torch.Tensor | None = None
    ) -> Prediction:
        backbone = self.backbone(gray, noise, hints=hints) if self.hint_channels else self.backbone(gray, noise)
        features = Prediction.wrap(backbone).target
        if self.downsample > 1:
            features = F.avg_pool2d(features, self.downsample, ceil_mode=True)
        logits = self.classify(features)
        ab = self.decode(logits) / AB_SCALE
        if ab.shape[-2:] != gray.shape[-2:]:
            ab = F.interpolate(ab, size=gray.shape[-2:], mode="bilinear", align_corners=False)
        return Prediction(ab.to(gray.dtype), logits=logits)


def load_rebalancing(reference: str | None, bins: int) -> torch.Tensor:
    """Weights per bin from ``None`` (uniform), ``builtin:NAME`` (shipped) or a JSON file from ``ganforge rebalance``."""
    if reference is None:
        return torch.ones(bins)
    path = (
        REBALANCE_DIR / f"{reference.removeprefix('builtin:')}.json"
        if reference.startswith("builtin:")
        else Path(reference)
    )
    if not path.is_file():
        shipped = ", ".join(f"builtin:{p.stem}" for p in sorted(REBALANCE_DIR.glob("*.json")))
        raise ValueError(
            f"rebalancing file '{reference}' not found (shipped: {shipped}; make one with 'ganforge rebalance')"
        )
    weights = json.loads(path.read_text())["weights"]
    if len(weights) != bins:
        raise ValueError(f"'{reference}' has {len(weights)} weights but there are {bins} bins")
    return torch.tensor(weights, dtype=torch.float32)


class ZhangClassificationLoss(GeneratorLoss):
    """Class-rebalanced multinomial cross-entropy on soft-encoded ab targets (Zhang et al. 2016).

    ``power`` softens the rebalancing: weights ** power (1 = the paper's, 0 = none).
    Full rebalancing buys rare saturated colors with the most common ones, and the
    most common ab bins are the near-neutral ones: a model trained with it tints
    whites and grays. A power around 0.5 keeps saturated colors without the cast.
    """

    def __init__(self, rebalance: str | None = None, power: float = 1.0) -> None:
        if power < 0:
            raise ValueError(f"power must be 0 or more, got {power}")
        self.bins = ABBins()
        self.weights = load_rebalancing(rebalance, len(self.bins)).pow(power)

    def __call__(self, context: GeneratorContext) -> torch.Tensor:
        logits = context.prediction.logits
        if logits is None:
            raise RecipeError(
                "loss 'zhang' needs a classification generator: set generator: {name: zhang, backbone: ...}"
            )
        bins = self.bins.to(logits.device)
        ab = context.target.float() * AB_SCALE
        if ab.shape[-2:] != logits.shape[-2:]:
            ab = F.adaptive_avg_pool2d(ab, logits.shape[-2:])
        index, weights = bins.soft_encode(ab)
        log_probabilities = torch.log_softmax(logits.float(), dim=1).gather(1, index)
        cross_entropy = -(weights * log_probabilities).sum(1)
        pixel_weights = self.weights.to(logits.device)[index[:, 0]]
        return (cross_entropy * pixel_weights).mean()


class DistillationLoss(GeneratorLoss):
    """A student classifier learns a teacher's per-pixel distribution over the ab bins (Hinton et al.'s
    knowledge distillation): the KL divergence from the teacher's soft probabilities, at the student's
    logits' resolution. The teacher's hedges (a shirt: red 40 %, blue 30 %) teach more than the one true
    color does; add the ``zhang`` loss beside it for the ground truth.

    ``teacher``: a checkpoint (``"default"``, a file, a folder or a Hub id) of a classification model in
    the same color space; it runs frozen, at the student's input. ``temperature`` softens both
    distributions (the loss is scaled by its square, so the gradients keep their size).
    """

    def __init__(self, teacher: str = "default", temperature: float = 1.0) -> None:
        self.teacher_source = teacher
        self.temperature = check_positive("temperature", temperature)
        self._teacher: nn.Module | None = None

    def _teacher_on(self, device: torch.device) -> nn.Module:
        if self._teacher is None:
            import ganforge

            colorizer = ganforge.load(self.teacher_source)
            if colorizer.color_space.name != "lab" or not hasattr(colorizer.generator, "bin_centers"):
                raise RecipeError(
                    f"loss 'distill': teacher '{self.teacher_source}' is not a classification model in lab"
                )
            self._teacher = colorizer.generator.eval().requires_grad_(False)
        return self._teacher.to(device)

    def __call__(self, context: GeneratorContext) -> torch.Tensor:
        logits = context.prediction.logits
        if logits is None:
            raise RecipeError(
                "loss 'distill' needs a classification student: set generator: {name: zhang, backbone: ...}"
            )
        with torch.no_grad():
            teacher = Prediction.wrap(self._teacher_on(logits.device)(context.gray)).logits
        assert teacher is not None
        if teacher.shape[1] != logits.shape[1]:
            raise RecipeError(
                f"loss 'distill': the teacher has {teacher.shape[1]} bins and the student {logits.shape[1]}"
            )
        soft = torch.softmax(teacher.float() / self.temperature, dim=1)
        if soft.shape[-2:] != logits.shape[-2:]:
            soft = F.interpolate(soft, size=logits.shape[-2:], mode="bilinear", align_corners=False)
        log_student = torch.log_softmax(logits.float() / self.temperature, dim=1)
        kl = (soft * (soft.clamp_min(1e-8).log() - log_student)).sum(1)
        return kl.mean() * self.temperature**2


# --------------------------------------------------------------------------- rebalancing


def rebalancing_weights(
    prior: torch.Tensor, centers: torch.Tensor, sigma: float = 5.0, mix: float = 0.5
) -> torch.Tensor:
    """Zhang et al. eq. 4: smooth the prior with a Gaussian (sigma in ab units), mix with uniform, invert, E[w] = 1."""
    distance = torch.cdist(centers, centers).pow(2)
    kernel = torch.exp(-distance / (2 * sigma**2))
    smoothed = kernel @ prior
    smoothed = smoothed / smoothed.sum()
    weights = 1.0 / ((1 - mix) * smoothed + mix / len(prior))
    return weights / (smoothed * weights).sum()


def empirical_prior(
    source_spec: str | list[Any], images: int, size: int, key: str = "--data"
) -> tuple[torch.Tensor, int]:
    """Fraction of pixels whose ab falls nearest each bin, over up to ``images`` pictures of a data source.

    A mixture of sources (a recipe's ``data.train`` list) is sampled by its weights, as training draws it.
    """
    from ganforge.data.sources import ColorizationDataset, MixedSource, open_source

    source = open_source(source_spec, key)
    lab = get_registries().color_spaces.create("lab")
    dataset = ColorizationDataset(source, lab, size, seed=0, train=False)
    rng = np.random.default_rng(0)
    draws = (
        [source.draw(rng) for _ in range(images)]
        if isinstance(source, MixedSource)
        else range(min(images, len(dataset)))
    )
    bins = ABBins()
    counts = torch.zeros(len(bins))
    used = 0
    for index in tqdm(draws, desc="ab histogram", unit="image"):
        item = dataset[index]
        if item is None:
            continue
        nearest = bins.nearest(item["target"][None] * AB_SCALE)
        counts += torch.bincount(nearest.flatten(), minlength=len(bins)).float()
        used += 1
    if used == 0:
        raise UsageError(f"'{source_spec}' has no readable color images to count")
    return counts / counts.sum(), used


def _rebalance_data(data: str) -> tuple[str | list[Any], str]:
    """The data to count, and the key its errors name: a source, or a recipe file's ``data.train`` mix."""
    if data.endswith((".yaml", ".yml")):
        from ganforge.core.config import load_recipe

        return load_recipe(data).data.train, "data.train"
    return data, "--data"


def run_rebalance(args: argparse.Namespace) -> int:
    """``ganforge rebalance`` (its options: ganforge_plugins.commands)."""
    check_new_output(Path(args.output), args.overwrite)
    spec, key = _rebalance_data(args.data)
    prior, used = empirical_prior(spec, args.images, args.size, key)
    bins = ABBins()
    weights = rebalancing_weights(prior, bins.centers, args.sigma, args.mix)
    record = {
        "method": "Zhang et al. 2016 class rebalancing (Gaussian-smoothed prior mixed with uniform, E[w] = 1)",
        "data": spec,
        "images": used,
        "size": args.size,
        "sigma": args.sigma,
        "lambda": args.mix,
        "grid": bins.grid,
        "centers": bins.centers.tolist(),
        "prior": prior.tolist(),
        "weights": weights.tolist(),
    }
    write_text(Path(args.output), json.dumps(record))
    print(
        f"ganforge: {used} images, {int((prior > 0).sum())} of {len(prior)} bins seen; "
        f"weights {float(weights.min()):.2f}..{float(weights.max()):.2f}; wrote {args.output}"
    )
    return 0


# --------------------------------------------------------------------------- ECCV16 network


def _conv_stack(
    in_channels: int, out_channels: int, count: int, stride_last: int = 1, dilation: int = 1
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(count):
        stride = stride_last if i == count - 1 else 1
        layers += [
            nn.Conv2d(
                in_channels if i == 0 else out_channels, out_channels, 3, stride, padding=dilation, dilation=dilation
            ),
            nn.ReLU(inplace=True),
        ]
    layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


class ECCV16(nn.Module):
    """The network of Zhang et al. 2016: VGG-style blocks, dilated middle, output at 1/4 resolution upsampled.

    ``width=64`` is the paper's (about 32 M parameters, 84 GFLOPs at 256x256);
    narrower widths keep the shape for CPU experiments. Output is tanh-bounded
    ``out_channels`` (regression, or features for the ``zhang`` head).
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 64) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _conv_stack(in_channels, w, 2, stride_last=2),
            _conv_stack(w, 2 * w, 2, stride_last=2),
            _conv_stack(2 * w, 4 * w, 3, stride_last=2),
            _conv_stack(4 * w, 8 * w, 3),
            _conv_stack(8 * w, 8 * w, 3, dilation=2),
            _conv_stack(8 * w, 8 * w, 3, dilation=2),
            _conv_stack(8 * w, 8 * w, 3),
            nn.ConvTranspose2d(8 * w, 4 * w, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(4 * w, out_channels, 1),
        )

    def forward(self, gray: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.body(pad_to_multiple(gray, 8))
        out = F.interpolate(out, scale_factor=4, mode="bilinear", align_corners=False)
        return torch.tanh(out[..., : gray.shape[-2], : gray.shape[-1]])


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.generators.add("zhang", ColorClassifier)
    registries.generators.add("eccv16", ECCV16)
    registries.losses.add("zhang", ZhangClassificationLoss)
    registries.losses.add("distill", DistillationLoss)
