"""Colorizer: a trained generator and its color space, ready to colorize images."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .build import build_color_space, build_generator
from .checkpoint import load_weights, read_checkpoint
from .colormath import to_gray
from .components import ColorSpace, Prediction
from .config import Recipe


class Colorizer:
    """Colorize gray (or color, made gray first) image batches with a trained generator."""

    def __init__(self, generator: nn.Module, color_space: ColorSpace, recipe: Recipe) -> None:
        self.generator = generator.eval()
        self.color_space = color_space
        self.recipe = recipe

    @classmethod
    def from_checkpoint(cls, path: str | Path, prefer_ema: bool = True) -> Colorizer:
        checkpoint = read_checkpoint(path)
        color_space = build_color_space(checkpoint.recipe)
        generator = build_generator(checkpoint.recipe, color_space)
        load_weights(generator, checkpoint.state_dict(prefer_ema), checkpoint.path)
        return cls(generator, color_space, checkpoint.recipe)

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, 1 or 3, H, W)`` values in [0, 1] -> colorized sRGB ``(B, 3, H, W)`` in [0, 1]."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected a (B, 1 or 3, H, W) batch, got shape {tuple(images.shape)}")
        images = images.to(self.device, torch.float32)
        gray = images if images.shape[1] == 1 else to_gray(images, getattr(self.color_space, "gray", "lstar"))
        gray_input = self.color_space.encode_gray(gray)
        prediction = Prediction.wrap(self.generator(gray_input, noise) if noise is not None else self.generator(gray_input))
        return self.color_space.merge(gray_input, prediction.target)


def load(path: str | Path) -> Colorizer:
    """Load a ganforge checkpoint (``.safetensors``) into a :class:`Colorizer`."""
    return Colorizer.from_checkpoint(path)
