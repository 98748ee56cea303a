"""The contracts components meet; plugins implement them, the core only calls them.

Tensors are channel-first (``B, C, H, W``). Everything the networks see is
normalised to roughly [-1, 1]; only a :class:`ColorSpace` turns it back into
pixels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ganforge.core.errors import UsageError


class ColorSpace(ABC):
    """Splits RGB images into the model's gray input and its target channels, and back.

    Subclasses set ``name`` and ``channels`` (the names recipes use to address
    target channels, e.g. ``("a", "b")``).
    """

    name: str
    channels: tuple[str, ...]

    @abstractmethod
    def encode_gray(self, gray: torch.Tensor) -> torch.Tensor:
        """Gray sRGB values in [0, 1], ``(B, 1, H, W)`` -> the network's gray input in [-1, 1]."""

    @abstractmethod
    def decode_gray(self, gray: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`encode_gray`: the network's gray input -> gray sRGB values in [0, 1]."""

    @abstractmethod
    def split(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sRGB in [0, 1], ``(B, 3, H, W)`` -> (gray input ``(B, 1, H, W)``, target ``(B, C, H, W)``)."""

    @abstractmethod
    def merge(self, gray: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(gray input, predicted target channels) -> sRGB in [0, 1], ``(B, 3, H, W)``."""

    def channel_indices(self, names: Sequence[str], key: str = "channels") -> list[int]:
        """Indices of the named target channels; an unknown name is a usage error naming ``key``."""
        unknown = [n for n in names if n not in self.channels]
        if unknown or not names:
            what = f"unknown channel(s) {', '.join(map(repr, unknown))}" if unknown else "no channel named"
            raise UsageError(f"{key}: {what}; color space '{self.name}' has channels {', '.join(self.channels)}")
        return [self.channels.index(n) for n in names]


@dataclass
class Prediction:
    """What a generator returns: the target channels, plus anything a loss may need.

    A generator may return a bare tensor; the core wraps it as ``Prediction(target)``.
    Classification heads put their per-pixel class ``logits`` here.
    """

    target: torch.Tensor
    logits: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def wrap(cls, output: torch.Tensor | Prediction) -> Prediction:
        return output if isinstance(output, Prediction) else cls(output)


# A classification generator (its Prediction carries logits over ab bins) may offer, and the core uses
# when present:
# - the attributes named in choices.DECODING (temperature, vividness), which the core may set for a call;
# - confidence(logits, radius) -> (B, 1, h, w): the probability that the true color is within radius;
# - bin_centers -> (Q, 2): the bins' ab centers in L*a*b* units (Colorizer.suggest, reference palettes);
# - palette_bias: None or a (Q,) tensor of log-weights the core sets for a call (Colorizer.using_reference),
#   which decoding adds to the logits.
#
# A generator that takes user hints declares hint_channels > 0: its color space's target channels plus
# a mask (3 for lab), and accepts forward(gray, noise=None, hints=None) with hints (B, hint_channels, H, W)
# at the input's size: the hinted colors' target values (normalised as targets are) where the last
# channel is 1, zeros elsewhere; None is no hints. The module that takes them is named HINT_INPUT and
# starts at zero, so fine-tuning a model without hints (train.init_from) begins exactly where it was.
HINT_INPUT = "hint_input"


@dataclass
class GeneratorContext:
    """Everything a generator-side loss may look at for one batch."""

    gray: torch.Tensor
    target: torch.Tensor
    prediction: Prediction
    noise: torch.Tensor | None
    generator: torch.nn.Module


class GeneratorLoss(ABC):
    """A loss on the generator alone (reconstruction, classification, diversity...)."""

    @abstractmethod
    def __call__(self, context: GeneratorContext) -> torch.Tensor:
        """A scalar to minimise."""


class AdversarialLoss(ABC):
    """A GAN objective: one loss for the adversaries, one for the generator.

    ``real`` and ``fake`` are whatever the adversary's ``forward`` returns
    (score maps for PatchGAN, energies for an energy-based adversary).
    """

    @abstractmethod
    def adversary_loss(self, real: Any, fake: Any) -> torch.Tensor:
        """What the adversary minimises."""

    @abstractmethod
    def generator_loss(self, fake: Any) -> torch.Tensor:
        """What the generator minimises to fool the adversary."""


@dataclass
class EvalBatch:
    """What a metric is shown: every evaluated image at once, sRGB in [0, 1].

    ``truth`` is ``None`` for photographs that were never in color (nothing to
    compare with); ``samples`` ``(N, B, 3, H, W)`` holds N noise samples per
    image for models that take noise, else ``None``.
    """

    gray: torch.Tensor
    prediction: torch.Tensor
    truth: torch.Tensor | None = None
    samples: torch.Tensor | None = None


class Metric(ABC):
    """A score per image; ``ganforge eval`` and ``ganforge compare`` report its mean.

    Class attributes say what it needs: a metric that ``needs_truth`` is left
    out on true black-and-white photographs, one that ``needs_samples`` on
    models without noise. A metric of the whole set (a distance between
    distributions) sets ``per_image = False`` and returns one value.
    """

    needs_truth: bool = True
    needs_samples: bool = False
    higher_is_better: bool = True
    ideal: float | None = None  # the best value when that is neither the highest nor the lowest (a ratio's 1)
    per_image: bool = True

    @abstractmethod
    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        """One value per image, ``(B,)``, NaN where the metric does not apply to an image; or, for a metric
        that is not ``per_image``, one value for all of ``batch``, ``()``."""

    def details(self) -> dict[str, str]:
        """What a report must record to reproduce the numbers (e.g. a weights file and its hash)."""
        return {}
