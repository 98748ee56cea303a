"""Energy-based GAN (Zhao, Mathieu, LeCun, ICLR 2017) as an adversary and a loss.

The adversary is an autoencoder over the gray input plus its color channels;
its reconstruction error is the *energy*: low for real colorizations, pushed up
to a margin for generated ones. The generator lowers the energy of its outputs
and, with the pull-away term, keeps the encoder codes of a batch from
collapsing onto one mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganforge import hookimpl
from ganforge.core.components import AdversarialLoss
from ganforge.core.errors import RecipeError
from ganforge.core.registry import Registries


@dataclass
class Energy:
    """What an energy-based adversary returns: energy per image and the encoder code per image."""

    energy: torch.Tensor  # (B,)
    code: torch.Tensor  # (B, D)


class EnergyAutoencoder(nn.Module):
    """EBGAN adversary: conditional autoencoder; energy = mean squared reconstruction error.

    ``layers`` strided convolutions down to a ``code``-channel bottleneck (the
    features of the pull-away term), mirrored by transposed convolutions.
    """

    def __init__(self, in_channels: int, width: int = 32, layers: int = 3, code: int = 32) -> None:
        super().__init__()
        encoder: list[nn.Module] = []
        channels = in_channels
        for i in range(layers):
            out = width * min(2**i, 8)
            encoder += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            channels = out
        encoder.append(nn.Conv2d(channels, code, 1))
        decoder: list[nn.Module] = [nn.Conv2d(code, channels, 1), nn.LeakyReLU(0.2, inplace=True)]
        for i in reversed(range(layers)):
            out = in_channels if i == 0 else width * min(2 ** (i - 1), 8)
            decoder.append(nn.ConvTranspose2d(channels, out, 4, stride=2, padding=1))
            if i:
                decoder.append(nn.LeakyReLU(0.2, inplace=True))
            channels = out
        self.encoder, self.decoder = nn.Sequential(*encoder), nn.Sequential(*decoder)
        self.multiple = 2**layers

    def forward(self, gray: torch.Tensor, chroma: torch.Tensor) -> Energy:
        x = torch.cat([gray, chroma], dim=1)
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise ValueError(f"the ebgan adversary needs sides divisible by {self.multiple}, got {tuple(x.shape[-2:])}")
        code = self.encoder(x)
        reconstruction = torch.tanh(self.decoder(code))
        energy = (reconstruction - x).pow(2).flatten(1).mean(1)
        return Energy(energy, code.flatten(1))


def pull_away(code: torch.Tensor) -> torch.Tensor:
    """Mean squared cosine similarity between distinct codes of a batch (EBGAN's PT term)."""
    n = code.shape[0]
    if n < 2:
        return code.new_zeros(())
    unit = F.normalize(code.float(), dim=1)
    similarity = unit @ unit.T
    return (similarity.pow(2).sum() - n) / (n * (n - 1))


class EnergyLoss(AdversarialLoss):
    """EBGAN objectives: adversary D(real) + max(0, margin - D(fake)); generator D(fake) + pullaway * PT."""

    def __init__(self, margin: float = 0.5, pullaway: float = 0.1) -> None:
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin, self.pullaway = margin, pullaway

    @staticmethod
    def _energy(output: object) -> Energy:
        if not isinstance(output, Energy):
            raise RecipeError("loss 'ebgan' needs energy-based adversaries (adversaries: {NAME: {name: ebgan}})")
        return output

    def adversary_loss(self, real: object, fake: object) -> torch.Tensor:
        real_energy, fake_energy = self._energy(real).energy, self._energy(fake).energy
        return real_energy.mean() + F.relu(self.margin - fake_energy).mean()

    def generator_loss(self, fake: object) -> torch.Tensor:
        fake = self._energy(fake)
        return fake.energy.mean() + self.pullaway * pull_away(fake.code)


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.adversaries.add("ebgan", EnergyAutoencoder)
    registries.losses.add("ebgan", EnergyLoss)
