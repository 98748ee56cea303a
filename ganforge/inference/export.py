"""What ships: a checkpoint with only the inference weights, or the generator as an ONNX graph.

Both read a training checkpoint and write a file a user names; the ONNX side needs the ``onnx``
extra. (Reading what they write: :mod:`~ganforge.inference.checkpoint` and
:mod:`~ganforge.inference.onnx_backend`.)
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from ganforge import __version__
from ganforge.core.atomic import atomic_path
from ganforge.core.choices import DECODING
from ganforge.core.components import Prediction
from ganforge.core.config import recipe_to_dict
from ganforge.core.errors import CheckpointError, UsageError
from ganforge.data.crops import training_mean_chroma
from ganforge.inference.checkpoint import MEAN_CHROMA, RESERVED_METADATA, read_checkpoint, save_checkpoint
from ganforge.inference.colorizer import load
from ganforge.inference.onnx_backend import FORMAT, OPSET, require


def export_for_inference(
    source: str | Path,
    target: str | Path,
    temperature: float | None = None,
    half: bool = False,
    confidence_temperature: float | None = None,
    vividness: float | None = None,
) -> Path:
    """A checkpoint with only the weights inference uses (the EMA ones when present), about half the size.

    The recipe and metadata are kept, plus ``exported_from`` and, when the training data is readable
    here, its mean chroma (``mean_chroma``: the mean-color baseline travels with the model); training
    cannot resume from the export. ``temperature`` sets a classification model's default
    annealed-mean temperature (the training temperature is kept as ``trained_temperature``),
    ``vividness`` its default lean toward rare colors and ``confidence_temperature`` its
    confidence calibration. ``half`` stores floating-point tensors as float16, half the size
    again; loading casts them back to the model's dtype.
    """
    if Path(target).resolve() == Path(source).resolve():
        raise CheckpointError(
            f"exporting '{source}' onto itself would replace the training checkpoint; pass another -o"
        )
    checkpoint = read_checkpoint(source)
    metadata = {k: v for k, v in checkpoint.metadata.items() if k not in RESERVED_METADATA}
    metadata["exported_from"] = Path(source).name
    metadata["weights"] = "ema" if checkpoint.weights.get("ema") else "generator"
    recipe = checkpoint.recipe
    options = {"temperature": temperature, "confidence_temperature": confidence_temperature, "vividness": vividness}
    options = {name: value for name, value in options.items() if value is not None}
    if options:
        from ganforge.core.build import build_color_space, build_generator

        generator = recipe.generator
        with torch.device("meta"):  # only its attributes are read: no memory for a recipe's huge network
            model = build_generator(
                recipe, build_color_space(recipe)
            )  # the recipe may leave the options at their defaults
        trained_temperature = getattr(model, "temperature", None)
        for name, value in options.items():
            if not isinstance(generator, dict) or not hasattr(model, name):
                raise CheckpointError(f"checkpoint '{source}' is not a classification model: it has no {name} to set")
            try:
                setattr(model, name, value)  # the generator refuses values outside their ranges
            except ValueError as exc:
                raise CheckpointError(str(exc)) from None
        if "temperature" in options:
            metadata["trained_temperature"] = str(generator.get("temperature", trained_temperature))
        recipe = dataclasses.replace(recipe, generator={**generator, **options})
    if MEAN_CHROMA not in metadata:
        mean_chroma = training_mean_chroma(recipe)
        if mean_chroma is not None:  # the mean-color baseline, for evaluations away from the training data
            metadata[MEAN_CHROMA] = json.dumps([round(value, 4) for value in mean_chroma])
    weights = checkpoint.state_dict(prefer_ema=True)
    if half:
        weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
        metadata["stored_dtype"] = "float16"
    return save_checkpoint(target, recipe, weights, metadata=metadata)


class _ExportedGenerator(nn.Module):
    """The generator with a plain-tensor signature the exporter can trace."""

    def __init__(self, generator: nn.Module, noise: bool) -> None:
        super().__init__()
        self.generator, self.noise = generator, noise

    def forward(self, gray: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return Prediction.wrap(self.generator(gray, noise) if self.noise else self.generator(gray)).target


def export_onnx(
    checkpoint: str | Path,
    target: str | Path,
    *,
    temperature: float | None = None,
    vividness: float | None = None,
    static_size: int | None = None,
) -> Path:
    """Write the checkpoint's generator (EMA weights) as an ONNX model at ``target``.

    Dynamic batch, height and width by default; ``static_size`` fixes the input at
    1 x 1 x S x S for runtimes that need static shapes.
    """
    onnx = require("onnx")
    if Path(target).resolve() == Path(checkpoint).resolve():
        raise CheckpointError(f"exporting '{checkpoint}' onto itself would replace it; pass another -o")
    colorizer = load(checkpoint)
    generator = colorizer.generator
    for name, value in zip(DECODING, (temperature, vividness)):  # fixed in the graph
        if value is None:
            continue
        if not hasattr(generator, name):
            raise CheckpointError(f"checkpoint '{checkpoint}' is not a classification model: it has no {name} to set")
        try:
            setattr(generator, name, value)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    noise = bool(colorizer.noise_dim)
    size = static_size or colorizer.recipe.data.size
    example = (torch.zeros(1, 1, size, size),) + ((torch.zeros(1, colorizer.noise_dim),) if noise else ())
    names = ["gray", "noise"][: len(example)]
    dynamic = (
        None
        if static_size
        else {"gray": {0: "batch", 2: "height", 3: "width"}, "target": {0: "batch", 2: "height", 3: "width"}}
    )
    if dynamic and noise:
        dynamic["noise"] = {0: "batch"}
    wrapped = _ExportedGenerator(generator, noise).eval()
    with atomic_path(target) as tmp:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the tracer's notes on Python values it folds into constants
                torch.onnx.export(
                    wrapped, example, str(tmp), input_names=names, output_names=["target"], dynamic_axes=dynamic,
                    opset_version=OPSET, dynamo=False,
                )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the exporter raises many types; the message is what helps
            _raise_if_unwritable(Path(target), exc)
            text = str(exc).strip().splitlines()
            raise CheckpointError(
                f"the generator of '{checkpoint}' cannot be exported to ONNX ({type(exc).__name__}: {text[0] if text else ''}); "
                "use the PyTorch backend"
            ) from None
        model = onnx.load(str(tmp))
        recipe = colorizer.recipe
        properties = {
            "format": FORMAT, "ganforge_version": __version__, "recipe": json.dumps(recipe_to_dict(recipe)),
            "noise_dim": str(colorizer.noise_dim), "exported_from": Path(checkpoint).name,
        }  # fmt: skip
        properties.update({name: str(getattr(generator, name)) for name in DECODING if hasattr(generator, name)})
        if colorizer.mean_chroma is not None:
            properties[MEAN_CHROMA] = json.dumps(list(colorizer.mean_chroma))
        onnx.helper.set_model_props(model, properties)
        onnx.save(model, str(tmp))
    return Path(target)


def _raise_if_unwritable(target: Path, exc: Exception) -> None:
    """An OSError for a failed export that was the disk's fault (read-only, full), not the generator's."""
    if isinstance(exc, OSError):
        raise exc
    folder = target.parent if str(target.parent) else Path(".")
    if not os.access(folder, os.W_OK):
        raise OSError(errno.EACCES, "permission denied", str(target)) from None
    if shutil.disk_usage(folder).free < 2**20:
        raise OSError(errno.ENOSPC, "no space left on device", str(target)) from None
