"""Simulated black-and-white photographs: the training input's gray, made the many ways real ones were.

A colorizer learns the inverse of the function that made its training images
gray. Trained on L* alone, it reads a Rec. 601 scan or an orthochromatic print
(red lips dark, skies pale) as a different scene. Drawing the conversion per
image, with the tonal changes, grain, softness and compression of old prints
and scans, teaches it to look at content rather than at one gray formula.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageFilter

from ganforge.core.choices import GRAY_CONVERSIONS
from ganforge.core.colormath import to_gray
from ganforge.core.config import GrayAugmentConfig


def check_gray_augment(config: GrayAugmentConfig, key: str = "data.gray_augment") -> list[str]:
    """Problems with the options, as ``key: why`` strings (empty when fine)."""
    problems = [
        f"{key}.conversions: unknown '{c}' (choose from {', '.join(GRAY_CONVERSIONS)})"
        for c in config.conversions
        if c not in GRAY_CONVERSIONS
    ]
    if not config.conversions:
        problems.append(f"{key}.conversions is empty; name at least one of {', '.join(GRAY_CONVERSIONS)}")
    for name in ("probability", "jpeg"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            problems.append(f"{key}.{name} must be in [0, 1], got {getattr(config, name)}")
    for name in ("contrast", "gamma", "grain", "blur"):
        if getattr(config, name) < 0:
            problems.append(f"{key}.{name} must be 0 or more, got {getattr(config, name)}")
    if config.contrast >= 1:
        problems.append(f"{key}.contrast must be below 1 (a factor of 1 - c must stay positive), got {config.contrast}")
    return problems


def simulate_black_and_white(rgb: torch.Tensor, config: GrayAugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """One sRGB picture ``(1, 3, H, W)`` in [0, 1] -> a plausible black-and-white print of it, ``(1, 1, H, W)``."""
    conversion = config.conversions[int(rng.integers(len(config.conversions)))]
    gray = to_gray(rgb, conversion)[0, 0].numpy().astype(np.float32)
    if rng.random() >= config.probability:
        return torch.from_numpy(gray)[None, None]
    gray = np.power(np.clip(gray, 1e-4, 1.0), float(np.exp(rng.uniform(-config.gamma, config.gamma))))
    mean = float(gray.mean())
    gray = np.clip((gray - mean) * rng.uniform(1 - config.contrast, 1 + config.contrast) + mean, 0.0, 1.0)
    image = Image.fromarray(np.round(gray * 255).astype(np.uint8), "L")
    if config.blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, config.blur))))
    gray = np.asarray(image, dtype=np.float32) / 255
    if config.grain > 0:
        gray = np.clip(gray + rng.normal(0, rng.uniform(0, config.grain), gray.shape).astype(np.float32), 0.0, 1.0)
    if rng.random() < config.jpeg:
        buffer = io.BytesIO()
        Image.fromarray(np.round(gray * 255).astype(np.uint8), "L").save(
            buffer, "JPEG", quality=int(rng.integers(25, 91))
        )
        gray = np.asarray(Image.open(buffer), dtype=np.float32) / 255
    return torch.from_numpy(np.ascontiguousarray(gray))[None, None]
