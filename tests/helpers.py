"""Helpers several test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from ganforge.core.config import Recipe
from ganforge.core.plugins import get_registries
from ganforge.inference.checkpoint import save_checkpoint


def checkpoint(tmp_path: Path, generator: dict, name: str = "model") -> Path:
    recipe = Recipe(name=name, generator=generator)
    network = get_registries().generators.create(generator["name"], in_channels=1, out_channels=2,
                                                 **{k: v for k, v in generator.items() if k != "name"})  # fmt: skip
    with torch.no_grad():  # a mild, input-dependent tint, so outputs are visibly colored
        for parameter in network.parameters():
            parameter.mul_(0.5)
    return save_checkpoint(tmp_path / f"{name}.safetensors", recipe, network.state_dict())
