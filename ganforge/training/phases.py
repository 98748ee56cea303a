"""Check a recipe's networks and phases against each other, and plan the steps.

Everything here runs before training starts, so a recipe that cannot work
fails in a second with the key to fix instead of after an hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganforge.core.build import ComponentSpec, create
from ganforge.core.components import AdversarialLoss, ColorSpace, GeneratorLoss
from ganforge.core.config import Recipe
from ganforge.core.errors import RecipeError
from ganforge.core.plugins import get_registries

GENERATOR = "generator"
PHASE_MODES = ("colorize", "unconditional")
LR_DECAYS = ("constant", "linear", "cosine")


@dataclass
class AdversarySlot:
    """One adversary of the recipe: its network, the target channels it sees and its weight."""

    name: str
    network: nn.Module
    channels: list[int]
    weight: float


@dataclass
class WeightedLoss:
    name: str
    weight: float
    loss: GeneratorLoss | AdversarialLoss


@dataclass
class Phase:
    """A planned phase: global steps ``[start, start + steps)``."""

    name: str
    start: int
    steps: int
    mode: str
    trains: list[str]
    generator_losses: list[WeightedLoss]
    adversarial_losses: list[WeightedLoss]
    lr_scale: dict[str, float] = field(default_factory=dict)
    lr_decay: str = "constant"

    @property
    def end(self) -> int:
        return self.start + self.steps

    def lr_factor(self, step: int) -> float:
        """The multiplier ``lr_decay`` puts on every learning rate at global ``step`` of this phase."""
        progress = (step - self.start) / self.steps
        if self.lr_decay == "linear":
            return 1.0 - progress
        if self.lr_decay == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    @property
    def trains_generator(self) -> bool:
        return GENERATOR in self.trains

    @property
    def trained_adversaries(self) -> list[str]:
        return [name for name in self.trains if name != GENERATOR]


def build_adversaries(recipe: Recipe, color_space: ColorSpace) -> dict[str, AdversarySlot]:
    """Each adversary sees the gray input plus its ``channels`` (all target channels by default)."""
    slots = {}
    for name, value in recipe.adversaries.items():
        key = f"adversaries.{name}"
        spec = ComponentSpec.parse(value, key)
        options = dict(spec.kwargs)
        channel_names = options.pop("channels", list(color_space.channels))
        weight = options.pop("weight", 1.0)
        if not isinstance(channel_names, list):
            raise RecipeError(f"recipe key '{key}.channels' expects a list of channel names, got {channel_names!r}")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            raise RecipeError(f"recipe key '{key}.weight' expects a number, got {weight!r}")
        channels = color_space.channel_indices(channel_names, key=f"recipe key '{key}.channels'")
        network = create(
            get_registries().adversaries, ComponentSpec(spec.name, options, key), in_channels=1 + len(channels)
        )
        slots[name] = AdversarySlot(name, network, channels, float(weight))
    return slots


def _build_loss(name: str, value: Any, key: str) -> WeightedLoss:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        weight, options = float(value), {}
    elif isinstance(value, dict):
        options = dict(value)
        weight = options.pop("weight", 1.0)
    else:
        raise RecipeError(f"recipe key '{key}' expects a weight or a mapping with 'weight', got {value!r}")
    loss = create(get_registries().losses, ComponentSpec(name, options, key))
    if not isinstance(loss, (GeneratorLoss, AdversarialLoss)):
        raise RecipeError(f"recipe key '{key}': loss '{name}' is neither a GeneratorLoss nor an AdversarialLoss")
    return WeightedLoss(name, float(weight), loss)


def scale_steps(steps: list[int], max_steps: int | None) -> list[int]:
    """Shorten every phase in proportion so the total is at most ``max_steps`` (each keeps at least one step)."""
    if max_steps is None or max_steps >= sum(steps):
        return steps
    return fit_steps(steps, max_steps)


def fit_steps(steps: list[int], total: int) -> list[int]:
    """Stretch or shrink every phase in proportion so they add up to exactly ``total`` (each keeps at least one)."""
    if total < len(steps):
        raise RecipeError(f"{total} steps are fewer than the recipe's {len(steps)} phases (one step each)")
    scaled = [max(1, s * total // sum(steps)) for s in steps]
    scaled[-1] = max(1, scaled[-1] + total - sum(scaled))
    return scaled


def _check_unconditional(
    name: str, key: str, generator_losses: list[WeightedLoss], adversarial: list[WeightedLoss], latent_dim: int
) -> None:
    if not latent_dim:
        raise RecipeError(
            f"recipe key '{key}.mode': phase '{name}' is unconditional but the generator has no latent input "
            "(set e.g. generator.latent: 64)"
        )
    if generator_losses:
        raise RecipeError(
            f"recipe key '{key}.losses.{generator_losses[0].name}': an unconditional phase has no ground truth "
            "to reconstruct; use adversarial losses only"
        )
    if not adversarial:
        raise RecipeError(f"recipe key '{key}.losses': an unconditional phase needs an adversarial loss")


def plan_phases(recipe: Recipe, adversaries: dict[str, AdversarySlot], latent_dim: int = 0) -> list[Phase]:
    if not recipe.phases:
        raise RecipeError(
            "recipe key 'phases' is empty; add at least one phase, e.g. {name: train, steps: 1000, losses: {l1: 1.0}}"
        )
    steps = scale_steps([p.steps for p in recipe.phases], recipe.train.max_steps)
    phases, start = [], 0
    for i, (config, count) in enumerate(zip(recipe.phases, steps)):
        key = f"phases.{i}"
        if config.steps < 1:
            raise RecipeError(f"recipe key '{key}.steps' must be at least 1, got {config.steps}")
        if not config.train:
            raise RecipeError(f"recipe key '{key}.train' is empty: phase '{config.name}' trains nothing")
        unknown = [n for n in config.train if n != GENERATOR and n not in adversaries]
        if unknown:
            known = ", ".join([GENERATOR, *adversaries])
            raise RecipeError(
                f"recipe key '{key}.train' names {', '.join(map(repr, unknown))}; known networks: {known}"
            )
        losses = [_build_loss(name, value, f"{key}.losses.{name}") for name, value in config.losses.items()]
        generator_losses = [w for w in losses if isinstance(w.loss, GeneratorLoss)]
        adversarial = [w for w in losses if isinstance(w.loss, AdversarialLoss)]
        if adversarial and not adversaries:
            raise RecipeError(
                f"recipe key '{key}.losses.{adversarial[0].name}' needs an adversary but the recipe has none; "
                "add one under 'adversaries:' or drop the loss"
            )
        trained = [n for n in config.train if n != GENERATOR]
        if trained and not adversarial:
            raise RecipeError(
                f"recipe key '{key}.train' trains adversary '{trained[0]}' but the phase has no adversarial loss "
                "(e.g. nonsaturating, lsgan, hinge)"
            )
        if GENERATOR in config.train and not losses:
            raise RecipeError(
                f"recipe key '{key}.losses' is empty: phase '{config.name}' gives the generator nothing to learn"
            )
        if config.mode not in PHASE_MODES:
            raise RecipeError(f"recipe key '{key}.mode' must be one of {', '.join(PHASE_MODES)}, got {config.mode!r}")
        if config.mode == "unconditional":
            _check_unconditional(config.name, key, generator_losses, adversarial, latent_dim)
        if config.lr_decay not in LR_DECAYS:
            raise RecipeError(
                f"recipe key '{key}.lr_decay' must be one of {', '.join(LR_DECAYS)}, got {config.lr_decay!r}"
            )
        for prefix, scale in config.lr_scale.items():
            if scale < 0:
                raise RecipeError(f"recipe key '{key}.lr_scale.{prefix}' must be 0 (frozen) or more, got {scale}")
        phases.append(
            Phase(
                config.name,
                start,
                count,
                config.mode,
                list(config.train),
                generator_losses,
                adversarial,
                dict(config.lr_scale),
                config.lr_decay,
            )
        )
        start += count
    return phases


def generator_parameter_groups(generator: nn.Module, phases: list[Phase]) -> list[dict[str, Any]]:
    """Optimizer parameter groups, one per ``lr_scale`` prefix any phase names (longest prefix wins), plus the rest.

    Each group carries its ``prefix`` ("" for the rest), which :func:`apply_lr_scale` reads.
    """
    # longest first, ties by name: the order must not depend on the process (a resumed run reloads it)
    prefixes = sorted({p for phase in phases for p in phase.lr_scale}, key=lambda p: (-len(p), p))
    named = list(generator.named_parameters())
    for index, phase in enumerate(phases):
        for prefix in phase.lr_scale:
            if not any(_under(name, prefix) for name, _ in named):
                tops = sorted({name.split(".")[0] for name, _ in named})
                raise RecipeError(
                    f"recipe key 'phases.{index}.lr_scale.{prefix}': no generator parameter is under '{prefix}' "
                    f"(top-level modules: {', '.join(tops)})"
                )
    groups: dict[str, list[torch.nn.Parameter]] = {prefix: [] for prefix in [*prefixes, ""]}
    for name, parameter in named:
        groups[next((p for p in prefixes if _under(name, p)), "")].append(parameter)
    return [{"params": params, "prefix": prefix} for prefix, params in groups.items() if params]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def apply_lr_scale(optimizer: torch.optim.Optimizer, base_lr: float, phase: Phase, step: int) -> None:
    """Set each group's learning rate for global ``step`` of ``phase``; a scale of 0 also stops gradients into the group.

    A group takes the scale of the longest prefix in the phase's ``lr_scale`` that covers it
    (``backbone.encoder: 0`` freezes ``backbone.encoder.features.0`` too), else 1, times the
    phase's ``lr_decay`` factor at ``step``.
    """
    factor = phase.lr_factor(step)
    for group in optimizer.param_groups:
        prefix = group.get("prefix", "")
        covering = [p for p in phase.lr_scale if prefix and _under(prefix, p)]
        scale = phase.lr_scale[max(covering, key=len)] if covering else 1.0
        group["lr"] = base_lr * scale * factor
        for parameter in group["params"]:
            parameter.requires_grad_(scale > 0)
