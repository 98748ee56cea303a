"""An example ganforge plugin: a plain dilated CNN generator and a total-variation loss."""

from __future__ import annotations

import torch
from torch import nn

from ganforge import hookimpl
from ganforge.core.components import GeneratorContext, GeneratorLoss


class DilatedCNN(nn.Module):
    """Plain CNN with growing dilation: a wide receptive field at full resolution, no down-sampling."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 16, layers: int = 4) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = in_channels
        for i in range(layers):
            dilation = 2**i
            blocks += [nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
            channels = width
        blocks.append(nn.Conv2d(width, out_channels, 1))
        self.body = nn.Sequential(*blocks)

    def forward(self, gray: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.body(gray))


class TotalVariation(GeneratorLoss):
    """Total variation of the predicted channels: discourages speckled colors."""

    def __call__(self, context: GeneratorContext) -> torch.Tensor:
        x = context.prediction.target
        return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


@hookimpl
def ganforge_register(registries):
    registries.generators.add("dilated_cnn", DilatedCNN)
    registries.losses.add("total_variation", TotalVariation)
