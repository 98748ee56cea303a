"""PatchGAN adversary (Isola et al. 2017): one real/fake score per overlapping image patch."""

from __future__ import annotations

import torch
from torch import nn

from ganforge import hookimpl
from ganforge.core.registry import Registries
from ganforge_plugins.unet import norm_layer


class PatchGAN(nn.Module):
    """PatchGAN adversary: sees the gray input plus its color channels, scores each patch.

    ``layers`` strided 4x4 convolutions (3 gives pix2pix's 70x70 receptive field),
    ``width`` channels in the first, doubling up to 8x. Instance norm by default,
    so scoring real and fake images in one batch does not mix their statistics.
    """

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        channels = width
        for layer in range(1, layers + 1):
            out = width * min(2**layer, 8)
            stride = 2 if layer < layers else 1
            blocks += [
                nn.Conv2d(channels, out, 4, stride=stride, padding=1, bias=norm == "none"),
                norm_layer(norm, out),
                nn.LeakyReLU(0.2, True),
            ]
            channels = out
        blocks.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
        self.body = nn.Sequential(*blocks)

    def forward(self, gray: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([gray, chroma], dim=1))


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.adversaries.add("patchgan", PatchGAN)
