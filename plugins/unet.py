"""U-Net generator (Ronneberger et al. 2015, as used by pix2pix), with an optional noise input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge import hookimpl
from ganforge.core.components import Prediction
from ganforge.core.registry import Registries

NORMS = ("batch", "instance", "group", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")


MAX_DEPTH = 10  # the input is padded to a multiple of 2**(depth-1): 512 px at 10


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the bottom/right so both sides divide by ``multiple`` (crop the output back).

    It pads even by 0, with no branch on the size, and its arithmetic stays on positive numbers: a
    traced graph (ONNX export) must not freeze the padding it saw at its example size, and ONNX
    integer division truncates where Python's floors.
    """
    pad_h, pad_w = (multiple - x.shape[-2] % multiple) % multiple, (multiple - x.shape[-1] % multiple) % multiple
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def with_noise(features: torch.Tensor, noise: torch.Tensor | None, noise_dim: int) -> torch.Tensor:
    """Append a noise vector, broadcast over the map, as ``noise_dim`` channels (zeros when ``noise`` is
    None: the deterministic "mean" sample); ``features`` unchanged when the model takes no noise."""
    if not noise_dim:
        return features
    if noise is None:
        noise = features.new_zeros(features.shape[0], noise_dim)
    return torch.cat([features, noise[:, :, None, None].expand(-1, -1, *features.shape[-2:]).to(features.dtype)], dim=1)


class HintInput(nn.Module):
    """User hints entering a network: a 3x3 convolution of the hint map added to early features.

    The hint map (``channels``: the color space's target channels, then a mask) is the contract of
    :mod:`ganforge.core.components`. The convolution starts at zero, weights and bias, so a model
    fine-tuned from one without hints begins exactly as it was; no hints is an all-zero map.
    """

    def __init__(self, channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if channels < 2:
            raise ValueError(f"hints needs at least 2 channels (a target channel and the mask), got {channels}")
        self.channels = channels
        self.conv = nn.Conv2d(channels, out_channels, 3, stride=stride, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, features: torch.Tensor, hints: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        """``features`` plus the hints' contribution; ``hints`` at the network's input size, padded to ``size``."""
        if hints is None:
            hints = features.new_zeros(features.shape[0], self.channels, *size)
        else:
            pad_h, pad_w = size[0] - hints.shape[-2], size[1] - hints.shape[-1]
            hints = F.pad(hints.to(features.dtype), (0, pad_w, 0, pad_h))  # no hints where the input was padded
        return features + self.conv(hints)


def conv_block(in_channels: int, out_channels: int, norm: str, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=norm == "none"),
        norm_layer(norm, out_channels),
        nn.LeakyReLU(0.2, inplace=True),
    )


class UNet(nn.Module):
    """U-Net: strided-conv encoder, upsampling decoder with skip connections, tanh output.

    ``width`` channels at full resolution, doubling per level up to 8x;
    ``depth`` levels (the input side must be divisible by 2**(depth-1), or it
    is padded). ``noise`` > 0 adds a noise vector of that size, broadcast over
    the bottleneck, so one gray input can give several colorizations.

    ``hints`` > 0 adds a hint input of that many channels (the color space's target channels and a
    mask: 3 for lab), added after the first block (see :class:`HintInput`).

    ``latent`` > 0 makes the decoder usable as an *unconditional* generator
    (``forward(gray, latent=z)``): z is mapped to a 4x4 map, resized to the
    bottleneck and decoded with zero skip connections into a whole color image
    (gray channel in ``extras["gray"]``). Training it first on color images,
    then colorizing, carries the bottleneck, decoder and output head over.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        depth: int = 4,
        noise: int = 0,
        norm: str = "batch",
        latent: int = 0,
        hints: int = 0,
    ) -> None:
        super().__init__()
        if not 2 <= depth <= MAX_DEPTH:
            raise ValueError(
                f"depth must be between 2 and {MAX_DEPTH} (inputs are padded to a multiple of 2**(depth-1)), got {depth}"
            )
        if width < 1 or noise < 0:
            raise ValueError("width must be positive and noise non-negative")
        self.noise_dim = noise
        self.latent_dim = latent
        self.depth = depth
        channels = [width * min(2**level, 8) for level in range(depth)]
        self.stem = conv_block(in_channels, channels[0], norm)
        self.down = nn.ModuleList(conv_block(channels[i], channels[i + 1], norm, stride=2) for i in range(depth - 1))
        self.bottleneck = conv_block(channels[-1] + noise, channels[-1], norm)
        self.up = nn.ModuleList(
            conv_block(channels[i + 1] + channels[i], channels[i], norm) for i in reversed(range(depth - 1))
        )
        self.head = nn.Conv2d(channels[0], out_channels, 1)
        self.channels = channels
        if latent:
            self.from_latent = nn.Linear(latent, channels[-1] * 16)
            self.gray_head = nn.Conv2d(channels[0], in_channels, 1)
        self.hint_channels = hints
        self.hint_input = HintInput(hints, channels[0]) if hints else None

    def forward(
        self,
        gray: torch.Tensor,
        noise: torch.Tensor | None = None,
        latent: torch.Tensor | None = None,
        hints: torch.Tensor | None = None,
    ) -> torch.Tensor | Prediction:
        height, width = gray.shape[-2:]
        padded = pad_to_multiple(gray, 2 ** (self.depth - 1))
        if latent is not None:
            return self._generate(latent, padded.shape[-2:], height, width)
        stem = self.stem(padded)
        skips = [self.hint_input(stem, hints, padded.shape[-2:]) if self.hint_input is not None else stem]
        for down in self.down:
            skips.append(down(skips[-1]))
        features = self._decode(skips.pop(), skips, noise)
        return torch.tanh(self.head(features))[..., :height, :width]

    def _decode(self, x: torch.Tensor, skips: list[torch.Tensor], noise: torch.Tensor | None) -> torch.Tensor:
        x = self.bottleneck(with_noise(x, noise, self.noise_dim))
        for up in self.up:
            skip = skips.pop()
            x = up(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="nearest"), skip], dim=1))
        return x

    def _generate(self, latent: torch.Tensor, size: torch.Size, height: int, width: int) -> Prediction:
        if not self.latent_dim:
            raise ValueError("this U-Net has no latent input: set generator.latent to train it unconditionally")
        batch = latent.shape[0]
        sides = [(size[0] // 2**level, size[1] // 2**level) for level in range(self.depth)]
        x = self.from_latent(latent).view(batch, self.channels[-1], 4, 4)
        x = F.interpolate(x, size=sides[-1], mode="bilinear", align_corners=False)
        skips = [x.new_zeros(batch, c, *side) for c, side in zip(self.channels[:-1], sides[:-1])]
        features = self._decode(x, skips, None)
        gray = torch.tanh(self.gray_head(features))[..., :height, :width]
        return Prediction(torch.tanh(self.head(features))[..., :height, :width], extras={"gray": gray})


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.generators.add("unet", UNet)
