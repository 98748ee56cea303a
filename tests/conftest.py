"""Shared fixtures: seeded RNGs and a tiny in-test plugin for the core's tests."""

from __future__ import annotations

import random
import types
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from ganforge import hookimpl
from ganforge.plugins import get_plugin_manager, reset_plugin_manager


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


class TinyGenerator(nn.Module):
    """A single 3x3 convolution: the smallest generator that meets the contract."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.Tanh(), nn.Conv2d(width, out_channels, 1))

    def forward(self, gray: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.body(gray))


def make_tiny_plugin() -> types.ModuleType:
    plugin = types.ModuleType("tiny_test_plugin")

    @hookimpl
    def ganforge_register(registries):
        registries.generators.add("tiny", TinyGenerator)

    plugin.ganforge_register = ganforge_register  # type: ignore[attr-defined]
    return plugin


@pytest.fixture
def tiny_plugin() -> Iterator[None]:
    """Registers generator 'tiny' for one test, then forgets every loaded plugin."""
    reset_plugin_manager()
    get_plugin_manager().add_plugin(make_tiny_plugin(), name="tiny_test_plugin", distribution="tests")
    yield
    reset_plugin_manager()
