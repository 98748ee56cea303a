"""The checkpoint format: generator weights as safetensors, the recipe that builds them in its metadata.

One ``.safetensors`` file is enough to rebuild a model (as with diffusers'
``from_pretrained``), and loading it never unpickles anything. Tensors are
stored as ``generator.<param>`` and, when training kept an exponential moving
average, ``ema.<param>``.
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file
from torch import nn

from ganforge import __version__
from ganforge.core.atomic import atomic_path
from ganforge.core.config import Recipe, recipe_from_dict, recipe_to_dict
from ganforge.core.errors import CheckpointError, RecipeError, first_line

FORMAT = "ganforge"
FORMAT_VERSION = 1
WEIGHT_SETS = ("generator", "ema")
MEAN_CHROMA = "mean_chroma"  # metadata key: the training data's average a*b*, as JSON [a, b]


@dataclass
class Checkpoint:
    """A checkpoint read from disk: its recipe, weight sets and raw metadata."""

    path: Path
    recipe: Recipe
    weights: dict[str, dict[str, torch.Tensor]]  # "generator" / "ema" -> state dict
    metadata: dict[str, str]

    @property
    def mean_chroma(self) -> tuple[float, float] | None:
        """The training data's average a*b* when the checkpoint carries it (exports do)."""
        if MEAN_CHROMA not in self.metadata:
            return None
        a, b = json.loads(self.metadata[MEAN_CHROMA])
        return float(a), float(b)

    def state_dict(self, prefer_ema: bool = True) -> dict[str, torch.Tensor]:
        """The weights to use for inference: the EMA ones when present."""
        if prefer_ema and self.weights.get("ema"):
            return self.weights["ema"]
        return self.weights["generator"]


RESERVED_METADATA = frozenset({"format", "format_version", "ganforge_version", "recipe", "color_space"})


def save_checkpoint(
    path: str | Path,
    recipe: Recipe,
    generator: dict[str, torch.Tensor],
    ema: dict[str, torch.Tensor] | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a checkpoint atomically (a crash leaves the previous file intact).

    ``metadata`` adds the caller's keys; ganforge's own (``RESERVED_METADATA``: the format and the
    recipe the file is rebuilt from) cannot be overwritten that way.
    """
    clash = sorted(RESERVED_METADATA & set(metadata or {}))
    if clash:
        raise ValueError(f"metadata keys {clash} are ganforge's own; name yours otherwise")
    broken = first_non_finite({**generator, **{f"ema.{k}": v for k, v in (ema or {}).items()}})
    if broken:  # every path that writes weights (training, export) passes here
        raise CheckpointError(
            f"refusing to write '{path}': tensor '{broken}' holds NaN or infinite values (a diverged run); "
            "export or resume from an earlier checkpoint"
        )
    tensors = {f"generator.{k}": v.detach().cpu().contiguous() for k, v in generator.items()}
    if ema:
        tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.items()})
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "ganforge_version": __version__,
        "recipe": json.dumps(recipe_to_dict(recipe)),
        "color_space": json.dumps(recipe.color_space),
        **(metadata or {}),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=meta)
        except SafetensorError as exc:  # its I/O failures (no space, no such folder) are not OSErrors
            raise OSError(errno.EIO, f"could not write the checkpoint ({first_line(exc)})", str(path)) from None
    return path


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and check a checkpoint; every way it can be wrong is a one-line :class:`CheckpointError`."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"checkpoint '{path}' is a folder; name the .safetensors file in it (e.g. '{path / 'model.safetensors'}')"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            _check_metadata(path, metadata)
            weights: dict[str, dict[str, torch.Tensor]] = {name: {} for name in WEIGHT_SETS}
            for key in handle.keys():
                group, _, param = key.partition(".")
                if group not in weights or not param:
                    raise CheckpointError(f"checkpoint '{path}' has an unexpected tensor '{key}'")
                weights[group][param] = handle.get_tensor(key)
    except SafetensorError as exc:
        message = str(exc)
        if _looks_truncated(path) or "not fully covered" in message:
            raise CheckpointError(f"checkpoint '{path}' is truncated (an interrupted copy or download?)") from None
        shown = message if len(message) <= 200 else message[:200] + "..."  # a garbage header can be megabytes
        raise CheckpointError(f"'{path}' is not a safetensors file ({shown})") from None
    if not weights["generator"]:
        raise CheckpointError(f"checkpoint '{path}' holds no generator weights")
    try:
        recipe = recipe_from_dict(json.loads(metadata["recipe"]), source=str(path))
    except (json.JSONDecodeError, RecipeError) as exc:
        raise CheckpointError(f"checkpoint '{path}' carries an unreadable recipe: {exc}") from None
    return Checkpoint(path, recipe, weights, metadata)


def _looks_truncated(path: Path) -> bool:
    """True when the file's own header length says it should be longer than it is."""
    with open(path, "rb") as handle:
        prefix = handle.read(9)
    if len(prefix) < 9 or prefix[8:9] != b"{":  # safetensors: u64 header length, then a JSON object
        return False
    return 8 + int.from_bytes(prefix[:8], "little") > path.stat().st_size


def _check_metadata(path: Path, metadata: dict[str, str]) -> None:
    if metadata.get("format") != FORMAT or "recipe" not in metadata:
        raise CheckpointError(
            f"'{path}' is a safetensors file but not a ganforge checkpoint (no 'format: ganforge' metadata)"
        )
    version = metadata.get("format_version", "")
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {version!r}, newer than this ganforge "
            f"({__version__}) reads; upgrade ganforge"
        )


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """``load_state_dict`` that says in one line which tensor does not fit the recipe's model."""
    check_weights_fit(module, state, source)
    module.load_state_dict(state)


def check_weights_fit(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Raise one line naming the first tensor of ``state`` missing from, extra to or shaped unlike ``module``'s.

    ``module`` may live on the meta device: a stored recipe that asks for an enormous network is
    then refused before any memory is allocated for it.
    """
    expected = module_shapes(module)
    shapes = {name: tuple(tensor.shape) for name, tensor in state.items()}
    missing, unexpected, misshapen = shape_differences(shapes, expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s), e.g. '{missing[0]}'")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, e.g. '{unexpected[0]}'")
        raise CheckpointError(f"checkpoint '{source}' does not fit its recipe's model: {'; '.join(parts)}")
    if misshapen:
        name = misshapen[0]
        raise CheckpointError(
            f"checkpoint '{source}': tensor '{name}' has shape {shapes[name]} but the recipe's model expects {expected[name]}"
        )
    broken = first_non_finite(state)
    if broken:
        raise CheckpointError(
            f"checkpoint '{source}': tensor '{broken}' holds NaN or infinite values, so every picture would come out "
            "wrong; it was saved from a diverged run: use an earlier checkpoint"
        )


def module_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}


def shape_differences(
    shapes: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]
) -> tuple[list[str], list[str], list[str]]:
    """Keys missing from ``shapes``, keys it has in excess, and keys whose shape differs (in ``expected``'s order)."""
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    misshapen = [name for name in expected if name in shapes and shapes[name] != expected[name]]
    return missing, unexpected, misshapen


def first_non_finite(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor with a NaN or infinite value, else ``None``."""
    return next((name for name, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()), None)
