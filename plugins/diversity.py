"""Mode seeking (Mao, Lee, Tseng, Ma, Yang, CVPR 2019): make the generator use its noise input.

Conditional GANs learn to ignore noise; this term rewards outputs that move
when the noise moves: it minimises 1 / (|G(x, z1) - G(x, z2)| / |z1 - z2|).
"""

from __future__ import annotations

import torch

from ganforge import hookimpl
from ganforge.core.components import GeneratorContext, GeneratorLoss, Prediction
from ganforge.core.errors import RecipeError
from ganforge.core.registry import Registries


class ModeSeekingLoss(GeneratorLoss):
    """Mode-seeking regulariser: inverse ratio of output distance to noise distance for two noise draws."""

    def __init__(self, epsilon: float = 1e-5) -> None:
        self.epsilon = epsilon

    def __call__(self, context: GeneratorContext) -> torch.Tensor:
        if context.noise is None:
            raise RecipeError("loss 'mode_seeking' needs a generator with a noise input (e.g. generator.noise: 8)")
        other_noise = torch.randn_like(context.noise)
        other = Prediction.wrap(context.generator(context.gray, other_noise)).target
        output_distance = (context.prediction.target - other).abs().flatten(1).mean(1)
        noise_distance = (context.noise - other_noise).abs().mean(1)
        return (1.0 / (output_distance / noise_distance + self.epsilon)).mean()


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.losses.add("mode_seeking", ModeSeekingLoss)
