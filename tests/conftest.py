"""Shared fixtures: seeded RNGs and a tiny in-test plugin for the core's tests."""

from __future__ import annotations

import random
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ganforge import hookimpl
from ganforge.core.plugins import get_plugin_manager, reset_plugin_manager


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


class TinyGenerator(nn.Module):
    """A single 3x3 convolution: the smallest generator that meets the contract."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.Tanh(), nn.Conv2d(width, out_channels, 1)
        )

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


def write_distribution(
    root: Path, dist: str, module: str, source: str, entry_name: str, group: str = "ganforge"
) -> None:
    """A minimal installed distribution: a module plus a dist-info with an entry point in ``group``."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry_name} = {module}\n")


TINY_RECIPE = """
color_space: lab
data: {{train: "builtin:shapes", val: "builtin:shapes", size: 32, batch_size: 4, num_workers: 0, val_images: 2}}
generator: {{name: unet, width: 8, depth: 3}}
adversaries:
  a: {{name: patchgan, channels: [a], width: 8, layers: 2}}
  b: {{name: patchgan, channels: [b], width: 8, layers: 2}}
phases:
  - {{name: pretrain, steps: 4, losses: {{l1: 1.0}}}}
  - {{name: adversarial, steps: 4, train: [generator, a, b], losses: {{l1: 10.0, nonsaturating: 1.0}}}}
train: {{out_dir: "{out_dir}", checkpoint_every: 4, sample_every: 4, log_every: 1, keep_last: 2}}
"""


@pytest.fixture
def tiny_recipe(tmp_path: Path) -> Path:
    """A per-channel GAN recipe small enough to train 8 steps in seconds, writing into tmp_path/run."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_RECIPE.format(out_dir=tmp_path / "run"))
    return path
