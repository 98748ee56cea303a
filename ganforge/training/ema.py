"""Exponential moving average of a network's weights, with warm-up.

The decay ramps as ``min(decay, (1 + n) / (10 + n))`` over the first updates so
that short runs get a useful average instead of their random initialisation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ExponentialMovingAverage(nn.Module):
    """A frozen copy of ``model`` whose weights follow it slowly; buffers are copied as they are."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        n = int(self.updates)
        decay = min(self.decay, (1 + n) / (10 + n))
        for average, current in zip(self.module.parameters(), model.parameters()):
            average.lerp_(current.detach().to(average.dtype), 1.0 - decay)
        for average, current in zip(self.module.buffers(), model.buffers()):
            average.copy_(current)
        self.updates += 1
