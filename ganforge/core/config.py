"""Recipes: YAML files validated against dataclass schemas, with ``extends`` and CLI overrides.

A recipe names components (``generator: {name: unet, width: 32}``); the
component's own constructor signature is the schema for its keys, checked when
it is built (:mod:`ganforge.core.build`). Everything else is checked here, with the
file a wrong key came from and the closest valid key.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ganforge.core.errors import RecipeError
from ganforge.core.schema import check_mapping, check_value, closest, fields_of, type_name

COMMAND_LINE = "command line"


@dataclass
class GrayAugmentConfig:
    """``data.gray_augment``: make each training input gray a different way (:mod:`ganforge.data.degrade`).

    Every strength is the largest value drawn; 0 turns an effect off.
    """

    enabled: bool = False
    conversions: list[str] = field(
        default_factory=lambda: ["lstar", "rec601", "rec709", "orthochromatic", "panchromatic"]
    )
    probability: float = 0.8  # share of images that also get the tonal, grain, blur and JPEG effects
    contrast: float = 0.3  # contrast scaled by a factor in [1 - c, 1 + c] around the mean
    gamma: float = 0.3  # tone curve g ** exp(u), u in [-gamma, gamma]
    grain: float = 0.04  # Gaussian grain, standard deviation up to this (gray in [0, 1])
    blur: float = 1.2  # Gaussian blur, sigma up to this many pixels
    jpeg: float = 0.5  # probability of JPEG recompression at quality 25-90


@dataclass
class HintsConfig:
    """``data.hints``: simulated users' points of color beside each training input, as Zhang et al. (2017)
    trained their user-guided network (:mod:`ganforge.data.hints`); the generator needs a hint input."""

    enabled: bool = False
    no_hints: float = 0.5  # share of images given no point at all, so the model stays a good automatic colorizer
    mean_points: float = 8.0  # the others get a geometric number of points with this mean (at least 1)
    max_points: int = 50
    patch: list[int] = field(default_factory=lambda: [1, 9])  # each point: the mean true color of a square this wide


@dataclass
class DataConfig:
    """Where images come from and how they are cut."""

    # one source, or a list of sources mixed by weight: [SOURCE, {source: SOURCE, weight: 0.5}, ...]
    train: Any = "builtin:samples"
    # one source or a list of them; the sample grids take images from each in turn
    val: Any = "builtin:samples"
    size: int = 128
    batch_size: int = 16
    num_workers: int = 2
    val_images: int = 8
    crop_scale: list[float] = field(default_factory=lambda: [0.67, 1.0])  # training crops: share of the short side
    gray_augment: GrayAugmentConfig = field(default_factory=GrayAugmentConfig)
    hints: HintsConfig = field(default_factory=HintsConfig)
    # read data.train (one hub: source) as a stream, each process its own share; nothing downloaded whole
    streaming: bool = False


@dataclass
class PhaseConfig:
    """A stretch of training with its own losses and trained networks."""

    name: str = MISSING
    steps: int = MISSING
    # "colorize": gray in, colors out; "unconditional": the generator draws whole color
    # images from a latent vector and the adversaries learn what color images look like
    mode: str = "colorize"
    train: list[str] = field(default_factory=lambda: ["generator"])
    # loss name -> weight, or -> {weight: w, **loss options}
    losses: dict[str, Any] = field(default_factory=dict)
    # generator parameter-name prefix -> learning-rate multiplier; 0 freezes (e.g. {backbone.encoder: 0.1})
    lr_scale: dict[str, float] = field(default_factory=dict)
    # how the learning rates move within the phase: "constant", or "linear"/"cosine" decay from the
    # full rate at the phase's first step to 0 at its end (a short cosine phase at the end of training
    # lowers the loss more than the same steps at a constant rate)
    lr_decay: str = "constant"


@dataclass
class TrainConfig:
    """Optimisation, checkpointing and logging; none of it changes what is learned but the optimiser."""

    out_dir: str | None = None
    max_steps: int | None = None
    lr_generator: float = 2e-4
    lr_adversary: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    mixed_precision: str | None = None  # "no", "fp16", "bf16"; None lets `accelerate launch` decide
    gradient_accumulation: int = 1
    ema: float = 0.999
    checkpoint_every: int = 500
    keep_last: int = 2
    sample_every: int = 200
    log_every: int = 10
    resume: bool = False
    # fine-tuning: the generator starts from this checkpoint's weights (a .safetensors file, "default"
    # or a Hub id) instead of its initialisation and pretraining files; the optimizers start fresh
    init_from: str | None = None


@dataclass
class Recipe:
    """A whole experiment: color space, data, networks, phases, training options."""

    name: str = ""
    seed: int = 0
    color_space: Any = "lab"
    data: DataConfig = field(default_factory=DataConfig)
    generator: Any = "unet"
    adversaries: dict[str, Any] = field(default_factory=dict)
    phases: list[PhaseConfig] = field(default_factory=list)
    train: TrainConfig = field(default_factory=TrainConfig)


def _schema_type_at(path: list[str], source: str) -> Any:
    """The schema type of a dotted override path; free-form (``Any``) parts accept any key."""
    tp: Any = Recipe
    for depth, part in enumerate(path):
        key = ".".join(path[: depth + 1])
        origin = typing.get_origin(tp)
        if origin in (Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
            origin = typing.get_origin(tp)
        if tp is Any:
            return Any
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            hints = fields_of(tp)
            if part not in hints:
                raise RecipeError(
                    f"{source}: unknown recipe key '{key}'{closest(part, list(hints), key[: -len(part)])}"
                )
            tp = hints[part]
        elif origin is list:
            if not part.isdigit():
                raise RecipeError(f"{source}: recipe key '{key}' must index a list with a number")
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            raise RecipeError(f"{source}: recipe key '{'.'.join(path[:depth])}' is a {type_name(tp)}, not a mapping")
    return tp


# --------------------------------------------------------------------------- loading


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` as a number, as YAML 1.2 (and OmegaConf) do."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+|\.[0-9_]+(?:[eE][-+]?[0-9]+)?)$"
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a SafeLoader subclass


def _read_yaml(path: Path, included_by: Path | None) -> dict[str, Any]:
    if not path.is_file():
        where = f"{included_by}: extends: " if included_by else ""
        raise RecipeError(f"{where}recipe file '{path}' does not exist")
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise RecipeError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at line {line}); save the recipe as UTF-8"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping, got {type(data).__name__}")
    if _expanded_size(data, {}) > MAX_RECIPE_VALUES:
        raise RecipeError(
            f"{path}: the recipe expands to more than {MAX_RECIPE_VALUES:,} values (YAML anchors nested into aliases); "
            "write it out without nested aliases"
        )
    check_no_resolvers(data, str(path))
    return data


MAX_RECIPE_VALUES = 100_000  # far above any real recipe; a YAML alias bomb expands to billions
_RESOLVER = re.compile(r"\$\{\s*[\w.]+\s*:")  # ${oc.env:X}, ${oc.decode:...}: anything but a reference to a key


def _expanded_size(value: Any, sizes: dict[int, int]) -> int:
    """How many values ``value`` holds once YAML aliases are expanded (each shared node counted per use)."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) not in sizes:
        children = value.values() if isinstance(value, dict) else value
        sizes[id(value)] = 1 + sum(min(_expanded_size(child, sizes), MAX_RECIPE_VALUES + 1) for child in children)
    return sizes[id(value)]


def check_no_resolvers(data: Any, source: str) -> None:
    """Refuse resolver interpolations (``${oc.env:TOKEN}``): a recipe is copied into every checkpoint, export
    and model card, so a secret read from the environment would be written into files that get shared.
    References to other keys (``${data.size}``) are fine."""
    found = _first_interpolation(data, "", _RESOLVER.search)
    if found:
        key, value = found
        raise RecipeError(
            f"{source}: recipe key '{key}' calls a resolver ({value[:60]!r}); recipes may only refer to other keys "
            "(${data.size}), since a recipe is written into every checkpoint and export: put the value itself in the recipe"
        )


def _recipe_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """The files a recipe is built from, bases first, following ``extends``."""
    if path.resolve() in {p.resolve() for p in seen}:
        cycle = " -> ".join(p.name for p in (*seen, path))
        raise RecipeError(f"{seen[-1]}: 'extends' makes a cycle: {cycle}")
    data = _read_yaml(path, seen[-1] if seen else None)
    bases = data.pop("extends", [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise RecipeError(f"{path}: 'extends' must be a file name or a list of file names")
    chain: list[tuple[Path, dict[str, Any]]] = []
    for base in bases:
        chain.extend(_recipe_chain(path.parent / base, (*seen, path)))
    return [*chain, (path, data)]


def _parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item or item.startswith("="):
        raise RecipeError(f"{COMMAND_LINE}: override '{item}' must look like key=value (e.g. data.size=64)")
    key, raw = item.split("=", 1)
    try:
        value = parse_yaml(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _component_name(value: Any) -> Any:
    return value if isinstance(value, str) else value.get("name") if isinstance(value, dict) else None


def _replace_components(config: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Apply the component keys of ``data`` to ``config`` where merging would be wrong; return the rest.

    A component whose ``name`` changes is replaced whole (a base's U-Net options mean
    nothing to another generator), and ``adversaries: {NAME: null}`` removes an adversary.
    """
    data = dict(data)
    for key in ("generator", "color_space"):
        if key in data and _component_name(data[key]) not in (None, _component_name(config[key])):
            config[key] = data.pop(key)
    adversaries = dict(data.get("adversaries") or {})
    for name, value in list(adversaries.items()):
        current = config.adversaries.get(name)
        if value is None or (current is not None and _component_name(value) != _component_name(current)):
            config.adversaries.pop(name, None)
            if value is None:
                del adversaries[name]
    if "adversaries" in data:
        data["adversaries"] = adversaries
    return data


def _merge_phases(current: Any, value: Any, source: str) -> list[Any]:
    """A file's ``phases`` applied to those of the files it extends.

    A list replaces them all. A mapping ``{NAME: phase}`` changes the phases it
    names key by key (losses and adversaries it does not mention are kept, a
    ``null`` loss removes one), appends the ones that are new, and
    removes those set to ``null``; order is the bases' order, new phases last.
    """
    if isinstance(value, list):
        check_mapping({"phases": value}, Recipe, "", source)
        return [OmegaConf.merge(OmegaConf.structured(PhaseConfig), item) for item in value]
    if not isinstance(value, dict):
        raise RecipeError(
            f"{source}: recipe key 'phases' must be a list of phases or a mapping NAME: phase, got {value!r}"
        )
    phases = {phase.name: phase for phase in current}
    for name, spec in value.items():
        if spec is None:
            phases.pop(name, None)
            continue
        if not isinstance(spec, dict):
            raise RecipeError(f"{source}: recipe key 'phases.{name}' must be a mapping of phase keys, got {spec!r}")
        if "name" in spec and spec["name"] != name:
            raise RecipeError(
                f"{source}: phase 'phases.{name}' gives another name ({spec['name']!r}); the key is the name, leave it out"
            )
        check_mapping(spec, PhaseConfig, f"phases.{name}", source)
        base = phases.get(name, OmegaConf.structured(PhaseConfig(name=name)))
        merged = OmegaConf.merge(base, {**spec, "name": name})
        for loss in [k for k, v in merged.losses.items() if v is None]:  # a null loss removes what a base set
            del merged.losses[loss]
        phases[name] = merged
    return list(phases.values())


def _phase_index_key(key: str, phases: Any) -> str:
    """``phases.NAME.rest`` -> ``phases.INDEX.rest``: overrides may name a phase instead of counting."""
    parts = key.split(".")
    if parts[0] != "phases" or len(parts) < 2 or parts[1].isdigit():
        return key
    names = [phase.name for phase in phases]
    if parts[1] not in names:
        raise RecipeError(f"{COMMAND_LINE}: recipe key '{key}' names no phase{closest(parts[1], names, 'phases.')}")
    return ".".join(["phases", str(names.index(parts[1])), *parts[2:]])


def _check_phase_exists(key: str, phases: Any) -> None:
    """``phases.9.x`` of a recipe with three phases: say so, rather than what OmegaConf makes of it."""
    parts = key.split(".")
    if parts[0] == "phases" and len(parts) > 2 and parts[1].isdigit() and int(parts[1]) >= len(phases):
        names = ", ".join(f"{i}: {phase.name}" for i, phase in enumerate(phases)) or "none"
        raise RecipeError(
            f"{COMMAND_LINE}: recipe key '{key}': there is no phase {parts[1]} (phases: {names}); "
            "name or count an existing one, or add a phase in the recipe file"
        )


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, merge, override and validate a recipe; the result is fully resolved."""
    path = Path(path)
    config = OmegaConf.structured(Recipe)
    for source, data in _recipe_chain(path):
        data = dict(data)
        phases = data.pop("phases", None)
        check_mapping(data, Recipe, "", str(source))
        config = OmegaConf.merge(config, _replace_components(config, data))
        if phases is not None:
            config.phases = _merge_phases(config.phases, phases, str(source))
    for item in overrides:
        key, value = _parse_override(item)
        check_no_resolvers({key: value}, COMMAND_LINE)
        key = _phase_index_key(key, config.phases)
        _check_phase_exists(key, config.phases)
        schema_type = _schema_type_at(key.split("."), COMMAND_LINE)
        check_value(value, schema_type, key, COMMAND_LINE)
        if dataclasses.is_dataclass(schema_type) and isinstance(value, dict):  # a whole phase, data, train...
            value = OmegaConf.merge(OmegaConf.structured(schema_type), value)
        parts = key.split(".")
        if parts[0] == "adversaries" and len(parts) == 2 and value is None:
            config.adversaries.pop(parts[1], None)
            continue
        try:
            OmegaConf.update(config, key, value, merge=False)  # key=value assigns, as in Hydra
        except OmegaConfBaseException as exc:
            raise RecipeError(f"{COMMAND_LINE}: cannot set '{key}': {str(exc).splitlines()[0]}") from None
    if not config.name:
        config.name = path.stem
    try:
        OmegaConf.resolve(config)
        recipe = OmegaConf.to_object(config)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        raise RecipeError(f"{path}: recipe key '{key}': {str(exc).splitlines()[0]}") from None
    assert isinstance(recipe, Recipe)
    return recipe


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain, JSON-able form of a resolved recipe (what checkpoints and run directories store)."""
    return dataclasses.asdict(recipe)


def recipe_from_dict(data: dict[str, Any], source: str = "checkpoint") -> Recipe:
    """Rebuild a :class:`Recipe` from :func:`recipe_to_dict` output, validating it like a file.

    A stored recipe is data: it was fully resolved before it was stored, so an interpolation in it
    (``${oc.env:TOKEN}`` would copy a secret into every export) is refused, never resolved.
    """
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: the stored recipe must be a mapping, got {type(data).__name__}")
    found = _first_interpolation(data, "")
    if found:
        key, value = found
        raise RecipeError(
            f"{source}: stored recipe key '{key}' holds an interpolation ({value[:60]!r}); "
            "a stored recipe is data and is never resolved: rebuild the checkpoint from its recipe file"
        )
    check_mapping(data, Recipe, "", source)
    config = OmegaConf.merge(OmegaConf.structured(Recipe), data)
    recipe = OmegaConf.to_object(config)
    assert isinstance(recipe, Recipe)
    return recipe


def _first_interpolation(value: Any, key: str, matches: Any = None) -> tuple[str, str] | None:
    """The first ``(key, string)`` in a nested structure whose string holds ``${`` (or satisfies ``matches``)."""
    if isinstance(value, str):
        return (key, value) if (matches(value) if matches else "${" in value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for child_key, child in items:
        found = _first_interpolation(child, f"{key}.{child_key}" if key else str(child_key), matches)
        if found:
            return found
    return None


def recipe_to_yaml(recipe: Recipe) -> str:
    return yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False)
