"""Simulated users: points of the true color beside a training input, for models that take hints.

As Zhang et al. (2017) trained their user-guided network: many images get no point (the model must
stay a good automatic colorizer), the others a geometric number of points at random places, each
the mean true color of a small square. The hint map is the contract of
:mod:`ganforge.core.components`: the target channels where a point is, then a mask.
"""

from __future__ import annotations

import numpy as np
import torch

from ganforge.core.config import HintsConfig
from ganforge.core.errors import RecipeError


def check_hints(config: HintsConfig) -> None:
    """One-line errors for ``data.hints`` values that cannot work."""
    low, high = (config.patch + [0, 0])[:2] if len(config.patch) == 2 else (0, 0)
    checks = [
        ("no_hints", 0 <= config.no_hints <= 1, "in [0, 1]"),
        ("mean_points", config.mean_points >= 1, "at least 1"),
        ("max_points", config.max_points >= 1, "at least 1"),
        ("patch", len(config.patch) == 2 and 1 <= low <= high, "two sizes [smallest, largest], at least 1"),
    ]
    for key, ok, what in checks:
        if not ok:
            raise RecipeError(f"recipe key 'data.hints.{key}' must be {what}, got {getattr(config, key)!r}")


def simulate_hints(target: torch.Tensor, config: HintsConfig, rng: np.random.Generator) -> torch.Tensor:
    """The hint map ``(C + 1, H, W)`` for one training target ``(C, H, W)``, drawn from ``rng``."""
    channels, height, width = target.shape
    hints = torch.zeros(channels + 1, height, width)
    if rng.random() < config.no_hints:
        return hints
    count = min(int(rng.geometric(1 / config.mean_points)), config.max_points)
    low, high = config.patch
    for _ in range(count):
        side = int(rng.integers(low, high + 1))
        top, left = int(rng.integers(0, max(1, height - side + 1))), int(rng.integers(0, max(1, width - side + 1)))
        square = (slice(top, top + side), slice(left, left + side))
        hints[:channels, square[0], square[1]] = target[:, square[0], square[1]].float().mean((1, 2))[:, None, None]
        hints[channels, square[0], square[1]] = 1.0
    return hints
