"""The standard colorization metrics as registered components (see ``ganforge.evaluation.metrics`` for the math).

Their names are what ``ganforge eval --metrics`` and the report columns use.
"""

from __future__ import annotations

import torch

from ganforge import hookimpl
from ganforge.core.components import EvalBatch, Metric
from ganforge.core.registry import Registries
from ganforge.evaluation import metrics


class PSNR(Metric):
    """Peak signal-to-noise ratio of the sRGB colorization against the original, in dB."""

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return metrics.psnr(batch.prediction, batch.truth)


class SSIM(Metric):
    """Structural similarity (Wang et al. 2004) of the sRGB colorization against the original."""

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return metrics.ssim(batch.prediction, batch.truth)


class AuC(Metric):
    """Area under the cumulative ab-error curve, thresholds 0-150 (Zhang et al. 2016)."""

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return metrics.auc(batch.prediction, batch.truth)


class RebalancedAuC(Metric):
    """AuC with each pixel weighted by the rarity of its true color in the evaluated set (Zhang et al. 2016)."""

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return metrics.auc(batch.prediction, batch.truth, metrics.rarity_weights(batch.truth))


class Colorfulness(Metric):
    """Hasler & Suesstrunk colorfulness of the colorization (0 = gray; about 30-60 for everyday photos)."""

    needs_truth = False

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return metrics.colorfulness(batch.prediction)


class ColorfulnessRatio(Metric):
    """Colorfulness of the colorizations over that of the originals (1 = as colorful; its mean is the set's ratio)."""

    ideal = 1.0

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return metrics.colorfulness(batch.prediction) / metrics.colorfulness(batch.truth).mean().clamp_min(1e-6)


class ColorfulnessDelta(Metric):
    """ΔCF (DDColor, Kang et al. 2023): how far the set's mean colorfulness is from the originals' (0 = as colorful)."""

    higher_is_better = False
    per_image = False

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return (metrics.colorfulness(batch.prediction).mean() - metrics.colorfulness(batch.truth).mean()).abs()


class ColorCast(Metric):
    """Mean chroma of the colorization where the original is near-neutral (whites, grays, blacks): 0 = no tint."""

    higher_is_better = False

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return metrics.neutral_cast(batch.prediction, batch.truth)[1]


class ColorCastB(Metric):
    """Mean b* of the colorization where the original is near-neutral: > 0 yellow/sepia cast, < 0 blue."""

    ideal = 0.0

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return metrics.neutral_cast(batch.prediction, batch.truth)[0]


class Diversity(Metric):
    """Mean pairwise ab distance between noise samples of one image (0 = the noise is ignored)."""

    needs_truth = False
    needs_samples = True

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        return metrics.diversity(batch.samples)


@hookimpl
def ganforge_register(registries: Registries) -> None:
    add = registries.metrics.add
    add("psnr", PSNR)
    add("ssim", SSIM)
    add("auc", AuC)
    add("auc_rebalanced", RebalancedAuC)
    add("colorfulness", Colorfulness)
    add("colorfulness_ratio", ColorfulnessRatio)
    add("colorfulness_delta", ColorfulnessDelta)
    add("diversity", Diversity)
    add("color_cast", ColorCast)
    add("color_cast_b", ColorCastB)
