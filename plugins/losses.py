"""Reconstruction losses (L1, L2) and GAN objectives (non-saturating, least squares, hinge)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge import hookimpl
from ganforge.core.components import AdversarialLoss, GeneratorContext, GeneratorLoss
from ganforge.core.registry import Registries


class L1Loss(GeneratorLoss):
    """Mean absolute error of the target channels (pix2pix's reconstruction term)."""

    def __call__(self, context: GeneratorContext) -> torch.Tensor:
        return F.l1_loss(context.prediction.target, context.target)


class L2Loss(GeneratorLoss):
    """Mean squared error of the target channels: regression to the mean, hence desaturated colors."""

    def __call__(self, context: GeneratorContext) -> torch.Tensor:
        return F.mse_loss(context.prediction.target, context.target)


class NonSaturatingLoss(AdversarialLoss):
    """Goodfellow et al. 2014 with the non-saturating generator loss (logistic, on logits)."""

    def adversary_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake).mean()


class LeastSquaresLoss(AdversarialLoss):
    """LSGAN (Mao et al. 2017): least-squares targets 1 for real, 0 for fake."""

    def adversary_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake - 1).pow(2).mean()


class HingeLoss(AdversarialLoss):
    """Hinge GAN loss (Lim & Ye 2017; used by SAGAN, BigGAN)."""

    def adversary_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.losses.add("l1", L1Loss)
    registries.losses.add("l2", L2Loss)
    registries.losses.add("nonsaturating", NonSaturatingLoss)
    registries.losses.add("lsgan", LeastSquaresLoss)
    registries.losses.add("hinge", HingeLoss)
