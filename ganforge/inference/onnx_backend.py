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

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.core.choices import DECODING
from ganforge.core.components import Prediction
from ganforge.core.config import recipe_from_dict
from ganforge.core.errors import CheckpointError, UsageError, first_line

FORMAT = "ganforge-onnx"
OPSET = 17


def require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise UsageError(f"the ONNX backend needs the '{module}' package: pip install 'ganforge[onnx]'") from None


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
            feeds["noise"] = (
                (noise if noise is not None else torch.randn(gray.shape[0], self.noise_dim)).cpu().float().numpy()
            )
        (target,) = self.session.run(["target"], feeds)
        return Prediction(torch.from_numpy(np.ascontiguousarray(target)).to(gray.device))


def load_onnx(path: str | Path) -> tuple[OnnxRuntimeGenerator, Any, dict[str, str]]:
    """An ONNX model ganforge exported: the runtime generator, its recipe and its metadata."""
    ort = require("onnxruntime")
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"ONNX model '{path}' does not exist")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # --threads applies to both backends
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "0"
    )  # idle threads would spin, starving torch's color math
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for unreadable models
        raise CheckpointError(
            f"'{path}' is not a readable ONNX model ({str(exc).strip().splitlines()[0][:200]})"
        ) from None
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path}' is an ONNX model ganforge did not export (no ganforge metadata); export one with ganforge export --format onnx"
        )
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
