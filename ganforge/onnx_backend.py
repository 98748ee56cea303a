"""ONNX: export a checkpoint's generator, and run it on ONNX Runtime behind the same :class:`Colorizer`.

The ONNX graph is the generator alone (gray input in the color space's range,
plus noise for noise models, to the predicted channels); everything around it
(reading pictures, working resolution, color conversion, edge-aware upsampling)
stays ganforge's, so both backends give the same pictures within float
rounding. The recipe, color space and mean chroma travel in the model's
metadata, as in a safetensors checkpoint. A classification model's annealed-mean
temperature and vividness are fixed in the graph at export (``ganforge export
--temperature/--vividness`` choose them); its confidence map needs the PyTorch backend.

Exporting needs the ``onnx`` extra (``onnx``); running needs ``onnxruntime``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import __version__
from .atomic import atomic_path
from .checkpoint import MEAN_CHROMA
from .choices import DECODING
from .components import Prediction
from .config import recipe_from_dict, recipe_to_dict
from .errors import CheckpointError, UsageError, first_line

FORMAT = "ganforge-onnx"
OPSET = 17


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise UsageError(f"the ONNX backend needs the '{module}' package: pip install 'ganforge[onnx]'") from None


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
    from .colorize import load

    onnx = _require("onnx")
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
    dynamic = None if static_size else {"gray": {0: "batch", 2: "height", 3: "width"}, "target": {0: "batch", 2: "height", 3: "width"}}
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


class OnnxRuntimeGenerator(nn.Module):
    """A generator whose forward runs on ONNX Runtime: what :class:`Colorizer` calls instead of the torch network."""

    def __init__(self, session: Any, noise_dim: int, fixed_decoding: dict[str, float], path: Path) -> None:
        super().__init__()
        self.session, self.noise_dim, self.fixed_decoding, self.path = session, noise_dim, fixed_decoding, path
        shape = session.get_inputs()[0].shape
        self.static_shape = tuple(shape[2:]) if all(isinstance(d, int) for d in shape) else None

    def forward(self, gray: torch.Tensor, noise: torch.Tensor | None = None) -> Prediction:
        if self.static_shape and tuple(gray.shape[2:]) != self.static_shape:
            raise UsageError(
                f"'{self.path}' was exported for {self.static_shape[0]}x{self.static_shape[1]} inputs, got "
                f"{gray.shape[2]}x{gray.shape[3]}; pass a square picture at that size or export without --static-size"
            )
        feeds = {"gray": gray.detach().cpu().float().contiguous().numpy()}
        if self.noise_dim:
            feeds["noise"] = (noise if noise is not None else torch.randn(gray.shape[0], self.noise_dim)).cpu().float().numpy()
        (target,) = self.session.run(["target"], feeds)
        return Prediction(torch.from_numpy(np.ascontiguousarray(target)).to(gray.device))


def load_onnx(path: str | Path) -> tuple[OnnxRuntimeGenerator, Any, dict[str, str]]:
    """An ONNX model ganforge exported: the runtime generator, its recipe and its metadata."""
    ort = _require("onnxruntime")
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"ONNX model '{path}' does not exist")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # --threads applies to both backends
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads would spin, starving torch's color math
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for unreadable models
        raise CheckpointError(f"'{path}' is not a readable ONNX model ({str(exc).strip().splitlines()[0][:200]})") from None
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is an ONNX model ganforge did not export (no ganforge metadata); export one with ganforge export --format onnx")
    inputs, outputs = [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]
    if inputs[:1] != ["gray"] or outputs[:1] != ["target"] or len(session.get_inputs()[0].shape) != 4:
        raise CheckpointError(
            f"'{path}' carries ganforge metadata but not the graph ganforge exports (inputs {inputs}, outputs {outputs}); "
            "export the model again with ganforge export --format onnx"
        )
    try:
        recipe = recipe_from_dict(json.loads(metadata["recipe"]), source=str(path))
        fixed_decoding = {name: float(metadata[name]) for name in DECODING if name in metadata}
        noise_dim = int(metadata.get("noise_dim", "0"))
    except (KeyError, ValueError, RecursionError) as exc:  # json's errors are ValueErrors
        raise CheckpointError(
            f"'{path}': its ganforge metadata is damaged ({type(exc).__name__}: {first_line(exc)}); export the model again"
        ) from None
    return OnnxRuntimeGenerator(session, noise_dim, fixed_decoding, path), recipe, metadata
