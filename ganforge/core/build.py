"""Turn a recipe's component references into objects, checking their keys against the factories.

A component's constructor signature is the schema of its recipe keys: an
unknown key fails naming the closest parameter, a wrong type names the
annotation, and the keys ganforge fills in itself (channel counts) are refused.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ganforge.core.components import ColorSpace
from ganforge.core.config import Recipe
from ganforge.core.errors import RecipeError, UnknownComponentError
from ganforge.core.plugins import get_registries
from ganforge.core.registry import Entry, Registry
from ganforge.core.schema import check_value


@dataclass(frozen=True)
class ComponentSpec:
    """A component reference from a recipe: its registered name and its keyword arguments."""

    name: str
    kwargs: dict[str, Any]
    key: str  # the recipe key it came from, for error messages

    @classmethod
    def parse(cls, value: Any, key: str) -> ComponentSpec:
        """Accept ``"unet"`` or ``{name: unet, width: 32}``."""
        if isinstance(value, str):
            return cls(value, {}, key)
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return cls(value["name"], {k: v for k, v in value.items() if k != "name"}, key)
        raise RecipeError(f"recipe key '{key}' must be a component name or a mapping with 'name', got {value!r}")


def _parameters(factory: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    params = dict(inspect.signature(factory).parameters)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {
        n: p
        for n, p in params.items()
        if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    }
    return named, takes_any


def _annotations(factory: Callable[..., Any]) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable annotations in foreign code: skip type checks, keep key checks
        return {}


def create(registry: Registry[Any], spec: ComponentSpec, **injected: Any) -> Any:
    """Build ``spec`` from ``registry``; ``injected`` are the arguments ganforge supplies itself."""
    try:
        entry: Entry[Any] = registry.get(spec.name)
    except UnknownComponentError as exc:
        raise RecipeError(f"recipe key '{spec.key}': {exc}") from None
    params, takes_any = _parameters(entry.factory)
    hints = _annotations(entry.factory)
    for key, value in spec.kwargs.items():
        full = f"{spec.key}.{key}"
        if key in injected:
            raise RecipeError(f"recipe key '{full}' is set by ganforge from the recipe; remove it")
        if key not in params and not takes_any:
            options = [p for p in params if p not in injected]
            close = difflib.get_close_matches(key, options, n=1, cutoff=0.5)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"{entry.kind} '{spec.name}' takes: {', '.join(options) or 'no options'}"
            )
            raise RecipeError(f"unknown recipe key '{full}' ({hint})")
        if key in hints:
            check_value(value, hints[key], full, "")  # the caller that read the file names it
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty and n not in injected and n not in spec.kwargs
    ]
    if missing:
        raise RecipeError(f"recipe key '{spec.key}': {entry.kind} '{spec.name}' needs {', '.join(missing)}")
    try:
        return entry.factory(**injected, **spec.kwargs)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"recipe key '{spec.key}': {entry.kind} '{spec.name}' rejected its options: {exc}") from None


def build_color_space(recipe: Recipe) -> ColorSpace:
    return create(get_registries().color_spaces, ComponentSpec.parse(recipe.color_space, "color_space"))


def build_generator(recipe: Recipe, color_space: ColorSpace) -> nn.Module:
    """The generator maps the 1-channel gray input to the color space's target channels."""
    spec = ComponentSpec.parse(recipe.generator, "generator")
    return create(get_registries().generators, spec, in_channels=1, out_channels=len(color_space.channels))


def init_pretrained(generator: nn.Module) -> dict[str, str]:
    """Let every submodule with an ``init_pretrained()`` method load the files its options name.

    Called once, when a run starts from scratch (not on resume, not by
    :func:`ganforge.load`): a trained checkpoint holds every weight, so a model
    never needs its pretraining files again. Returns what the modules report
    (e.g. the sha256 of a weights file).
    """
    reports: dict[str, str] = {}
    for module in generator.modules():
        init = getattr(module, "init_pretrained", None)
        if callable(getattr(type(module), "init_pretrained", None)) and callable(init):
            reports.update(init() or {})
    return reports
