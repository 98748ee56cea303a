"""Colorizer: a trained generator and its color space, ready to colorize pictures.

The model runs at a working resolution (``size``, the short side; the recipe's
training crop size by default). Its predicted chroma is then upsampled along
the edges of the full-resolution lightness (:mod:`ganforge.inference.upsample`) and
combined with that *original* lightness, so fine detail is never lost to the
model's resolution and colors stop at edges.
"""

from __future__ import annotations

import contextlib
import json
import numbers
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast, overload

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganforge.core.build import build_color_space, build_generator
from ganforge.core.choices import DECODING, HUB_FILENAME
from ganforge.core.colormath import gray_with_chroma, rgb_to_lab, to_gray
from ganforge.core.components import ColorSpace, Prediction
from ganforge.core.config import Recipe
from ganforge.core.errors import PictureSizeError, UsageError
from ganforge.core.images import normalise_mode, to_pil, to_tensor
from ganforge.inference.checkpoint import MEAN_CHROMA, check_weights_fit, read_checkpoint
from ganforge.inference.onnx_backend import OnnxRuntimeGenerator, load_onnx
from ganforge.inference.steering import (
    Hint,
    Suggestion,
    as_hint,
    hint_map,
    palette,
    palette_bias,
    probabilities_at,
    suggestions,
)
from ganforge.inference.upsample import upsample_chroma

# Confidence is the chance that the true color lies within CONFIDENCE_RADIUS ab units of the color shown:
# the model's own probability for classification models, the share of CONFIDENCE_SAMPLES noise samples
# that close to their mean for noise models. 15 ab units is about where a color reads as another shade.
CONFIDENCE_RADIUS = 15.0
CONFIDENCE_SAMPLES = 8

Picture = Image.Image | np.ndarray | torch.Tensor  # what a Colorizer call takes (and gives back)
HintLike = Hint | tuple[Any, ...]  # (x, y, (r, g, b)) or (x, y, (r, g, b), radius)
Hints = Sequence[HintLike] | Sequence[list[HintLike]]  # one picture's hints, or a list per picture of a batch
WorkingSize = int | Sequence[int] | None  # short side of the working resolution; several: their colors averaged


def working_sizes(size: WorkingSize) -> list[int | None]:
    """``size`` as a list of working sizes (``[None]``: the model's training size)."""
    if size is None:
        return [None]
    if isinstance(size, numbers.Integral):
        return [int(size)]
    if (
        not isinstance(size, Sequence)
        or isinstance(size, str)
        or not all(isinstance(one, numbers.Integral) for one in size)
    ):
        raise TypeError(f"size must be an integer or a sequence of integers, got {size!r}")
    sizes: list[int | None] = [int(one) for one in size]
    if not sizes:
        raise ValueError("size: give at least one working size")
    return sizes


class Colorizer:
    """Colorize gray (or color, made gray first) pictures: PIL images or tensor batches.

    >>> colorizer = ganforge.load("runs/quickstart/model.safetensors")  # doctest: +SKIP
    >>> colorizer(Image.open("old_photo.jpg")).save("colorized.png")    # doctest: +SKIP
    """

    def __init__(
        self,
        generator: nn.Module,
        color_space: ColorSpace,
        recipe: Recipe,
        *,
        mean_chroma: tuple[float, float] | None = None,
    ) -> None:
        self.generator = generator.eval()
        self.color_space = color_space
        self.recipe = recipe
        self.noise_dim = int(getattr(generator, "noise_dim", 0))
        self.mean_chroma = mean_chroma  # the training data's average a*b*, when the checkpoint carries it
        self._hints: list[list[Hint]] | None = None  # per picture of the call in progress (using_hints)
        self._hint_photo: tuple[int, int] = (0, 0)  # the (width, height) those hints' points refer to
        self.backend = "onnxruntime" if isinstance(generator, OnnxRuntimeGenerator) else "torch"

    @classmethod
    def from_checkpoint(cls, path: str | Path, prefer_ema: bool = True) -> Colorizer:
        checkpoint = read_checkpoint(path)
        color_space = build_color_space(checkpoint.recipe)
        weights = checkpoint.state_dict(prefer_ema)
        try:
            with torch.device("meta"):  # shapes first, no memory: the stored recipe may ask for a huge network
                skeleton = build_generator(checkpoint.recipe, color_space)
        except (RuntimeError, NotImplementedError):
            skeleton = None  # a plugin generator that computes values while it is built cannot live on meta
        if skeleton is None:
            generator = build_generator(checkpoint.recipe, color_space)
            check_weights_fit(generator, weights, checkpoint.path)
        else:
            check_weights_fit(skeleton, weights, checkpoint.path)  # before a byte is allocated for the network
            generator = build_generator(checkpoint.recipe, color_space)
        generator.load_state_dict(weights)
        return cls(generator, color_space, checkpoint.recipe, mean_chroma=checkpoint.mean_chroma)

    @classmethod
    def from_onnx(cls, path: str | Path) -> Colorizer:
        """A colorizer whose generator runs on ONNX Runtime, from a model ``ganforge export --format onnx`` wrote."""
        generator, recipe, metadata = load_onnx(path)
        mean_chroma = tuple(json.loads(metadata[MEAN_CHROMA])) if MEAN_CHROMA in metadata else None
        return cls(generator, build_color_space(recipe), recipe, mean_chroma=mean_chroma)

    def __repr__(self) -> str:
        parameters = sum(p.numel() for p in self.generator.parameters())
        generator = self.recipe.generator
        name = generator.get("name", "?") if isinstance(generator, dict) else generator
        return (
            f"Colorizer(recipe={self.recipe.name!r}, generator={name!r}, parameters={parameters / 1e6:.2f}M, "
            f"color_space={self.color_space.name!r}, size={self.recipe.data.size}, device={str(self.device)!r}, "
            f"dtype={str(self.dtype).removeprefix('torch.')})"
        )

    @property
    def device(self) -> torch.device:
        parameter = next(self.generator.parameters(), None)
        return torch.device("cpu") if parameter is None else parameter.device

    @property
    def gray_conversion(self) -> str:
        """How the model's training photos were made gray (``lstar``, ``rec601``, ...): what it expects."""
        return getattr(self.color_space, "gray", "lstar")

    @property
    def has_confidence(self) -> bool:
        """Whether :meth:`confidence` can answer: classification models and noise models can."""
        probe = self._predict(torch.zeros(1, 1, 16, 16, device=self.device), None)
        return (probe.logits is not None and hasattr(self.generator, "confidence")) or bool(self.noise_dim)

    @property
    def dtype(self) -> torch.dtype:
        parameter = next(self.generator.parameters(), None)
        return torch.float32 if parameter is None else parameter.dtype

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Colorizer:
        """Move the model, e.g. ``to("cuda", torch.bfloat16)``; color math stays in float32."""
        if self.backend == "onnxruntime":
            if (device is not None and torch.device(device).type != "cpu") or dtype not in (None, torch.float32):
                raise UsageError(
                    "the ONNX Runtime backend runs on the CPU in float32; load the .safetensors checkpoint for other devices"
                )
            return self
        self.generator.to(device=device, dtype=dtype)
        return self

    def fuse(self) -> Colorizer:
        """Fold every batch norm that follows a convolution in an ``nn.Sequential`` into that convolution.

        Exact up to float rounding in eval mode, and one pass over the activations fewer per block;
        the video ``--realtime`` path does this.
        """
        for module in list(self.generator.modules()):
            if not isinstance(module, nn.Sequential):
                continue
            for i in range(len(module) - 1):
                conv, norm = module[i], module[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                    module[i] = torch.nn.utils.fusion.fuse_conv_bn_eval(conv.eval(), norm.eval())
                    module[i + 1] = nn.Identity()
        return self

    def compile(self, **options: Any) -> Colorizer:
        """``torch.compile`` the generator (the first call then takes a while; later ones run faster)."""
        if self.backend == "onnxruntime":
            raise UsageError("compile() is for the PyTorch backend; ONNX Runtime optimises the graph itself")
        self.generator = cast(nn.Module, torch.compile(self.generator, **options))
        return self

    # ------------------------------------------------------------------ public

    @overload
    def __call__(
        self, images: Image.Image, *, noise: torch.Tensor | None = ..., temperature: float | None = ...,
        vividness: float | None = ..., size: WorkingSize = ..., desaturate_below: float | None = ..., upsample: str = ...,
        reference: Picture | None = ..., reference_strength: float = ..., hints: Hints | None = ...,
    ) -> Image.Image: ...  # fmt: skip
    @overload
    def __call__(
        self, images: np.ndarray, *, noise: torch.Tensor | None = ..., temperature: float | None = ...,
        vividness: float | None = ..., size: WorkingSize = ..., desaturate_below: float | None = ..., upsample: str = ...,
        reference: Picture | None = ..., reference_strength: float = ..., hints: Hints | None = ...,
    ) -> np.ndarray: ...  # fmt: skip
    @overload
    def __call__(
        self, images: torch.Tensor, *, noise: torch.Tensor | None = ..., temperature: float | None = ...,
        vividness: float | None = ..., size: WorkingSize = ..., desaturate_below: float | None = ..., upsample: str = ...,
        reference: Picture | None = ..., reference_strength: float = ..., hints: Hints | None = ...,
    ) -> torch.Tensor: ...  # fmt: skip

    def __call__(
        self,
        images: Image.Image | np.ndarray | torch.Tensor,
        *,
        noise: torch.Tensor | None = None,
        temperature: float | None = None,
        vividness: float | None = None,
        size: WorkingSize = None,
        desaturate_below: float | None = None,
        upsample: str = "guided",
        reference: Picture | None = None,
        reference_strength: float = 1.0,
        hints: Hints | None = None,
    ) -> Image.Image | np.ndarray | torch.Tensor:
        """Colorize a PIL image, a numpy array (``(H, W)`` or ``(H, W, 3)``, uint8 or float in [0, 1]) or a
        ``(B, 1 or 3, H, W)`` tensor batch in [0, 1]; the result is of the same kind (3 channels, same size).

        ``temperature``: annealed-mean temperature of classification models.
        ``vividness``: how far a classification model leans toward rare, saturated
        colors (0 as trained, up to 2; below 0 duller), see ``ColorClassifier``.
        ``size``: working resolution (short side); several, e.g. ``(128, 192)``, average the colors
        predicted at each (a little more accurate and colorful; one pass of the network per size).
        ``desaturate_below``: fade the colors toward gray where confidence is below this value (0..1).
        ``upsample``: how chroma reaches full resolution, ``"guided"`` (along the
        lightness's edges) or ``"bilinear"``.
        ``reference``: a color photo of the same kind of scene whose palette the colors lean toward
        (classification models; ``reference_strength`` 0 ignores it, 1 weighs the model's distribution
        by the reference's color histogram, more leans harder), see :meth:`using_reference`.
        ``hints``: the user's points of color for a hint model, ``[(x, y, (r, g, b)), ...]`` in the photo's
        pixels and 8-bit RGB (or :class:`~ganforge.inference.steering.Hint`, with a radius); a list of such
        lists for a batch, see :meth:`using_hints`.
        """
        gray = self._gray(images)
        photo = (gray.shape[-1], gray.shape[-2])
        with (
            self.using_decoding(temperature, vividness),
            self.using_reference(reference, reference_strength),
            self.using_hints(hints, photo, gray.shape[0]),
        ):
            chroma = self._chroma(gray, noise, size, upsample)
            if desaturate_below is not None:
                if not 0 < desaturate_below <= 1:
                    raise ValueError(f"desaturate_below must be in (0, 1], got {desaturate_below}")
                chroma = chroma * (self._confidence(gray, size) / desaturate_below).clamp(max=1.0)
        return self._output(gray_with_chroma(gray, chroma), images)

    def sample(self, images: Image.Image | torch.Tensor, n: int, *, seed: int = 0, **options: Any) -> list:
        """``n`` colorizations with different noise (noise models only; seeded, so repeatable)."""
        if not self.noise_dim:
            raise UsageError("this model takes no noise, so all its samples would be the same; use a noise recipe")
        batch = self._gray(images).shape[0]
        generator = torch.Generator().manual_seed(seed)
        return [
            self(images, noise=torch.randn(batch, self.noise_dim, generator=generator).to(self.device), **options)
            for _ in range(n)
        ]

    def confidence(self, images: Image.Image | torch.Tensor, *, size: WorkingSize = None) -> Image.Image | torch.Tensor:
        """Per-pixel confidence in [0, 1]: the chance that the true color is within 15 ab units of the one
        shown (a classification model's own probability; for noise models, the share of 8 samples that close
        to their mean). ``benchmarks/confidence_calibration.py`` measures how well it matches on photos."""
        gray = self._gray(images)
        result = self._confidence(gray, size)
        if isinstance(images, Image.Image):
            return to_pil(result[0])
        if isinstance(images, np.ndarray):
            return result[0, 0].cpu().numpy()
        return result

    # ------------------------------------------------------------------ steps

    def _gray(self, images: Image.Image | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Gray sRGB values ``(B, 1, H, W)`` at full resolution; color input is made gray the model's way."""
        images = self._pixels(images)
        if images.shape[1] == 3:
            images = to_gray(images, self.gray_conversion)
        return images

    def _pixels(self, images: Image.Image | np.ndarray | torch.Tensor) -> torch.Tensor:
        """sRGB values ``(B, 1 or 3, H, W)`` in float32 on the model's device, from any picture the call takes."""
        if isinstance(images, Image.Image):
            images = to_tensor(normalise_mode(images)).unsqueeze(0)
        elif isinstance(images, np.ndarray):
            array = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
            images = torch.from_numpy(array[:, :, None] if array.ndim == 2 else array).permute(2, 0, 1)[None, :3]
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"expected a PIL image or a (B, 1 or 3, H, W) tensor in [0, 1], got {shape}")
        if images.shape[0] == 0 or min(images.shape[-2:]) == 0:
            raise ValueError(f"the picture is empty: {tuple(images.shape)}; colorize pictures of at least 1 x 1 pixel")
        return images.to(self.device, torch.float32)

    def _working(self, gray: torch.Tensor, size: int | None) -> torch.Tensor:
        if size is not None and size < 1:
            raise ValueError(f"size (the working resolution's short side) must be at least 1, got {size}")
        size = size or self.recipe.data.size
        height, width = gray.shape[-2:]
        shape = working_shape(height, width, size)
        small = (
            gray
            if shape == (height, width)
            else F.interpolate(gray, size=shape, mode="area" if size < min(height, width) else "bilinear")
        )
        return self.color_space.encode_gray(small.clamp(0, 1)).to(self.dtype)

    def _predict(self, gray_input: torch.Tensor, noise: torch.Tensor | None) -> Prediction:
        with torch.inference_mode():
            if self._hints is not None:
                hints = self._hint_input((gray_input.shape[-2], gray_input.shape[-1])).to(self.device, gray_input.dtype)
                return Prediction.wrap(self.generator(gray_input, noise, hints=hints))
            return Prediction.wrap(
                self.generator(gray_input, noise) if noise is not None else self.generator(gray_input)
            )

    def _hint_input(self, working: tuple[int, int]) -> torch.Tensor:
        """The hint maps of the call's pictures at the working size ``(h, w)``, ``(B, C + 1, h, w)``."""
        maps = []
        for hints in self._hints or []:
            colors = torch.tensor([hint.color for hint in hints] or [[0, 0, 0]], dtype=torch.float32) / 255
            targets = self.color_space.split(colors[:, :, None, None])[1][:, :, 0, 0]
            maps.append(hint_map(hints, self._hint_photo, working, targets))
        return torch.cat(maps)

    def predict_rgb(
        self, gray: torch.Tensor, noise: torch.Tensor | None = None, size: int | None = None
    ) -> torch.Tensor:
        """The model's colorization ``(B, 3, h, w)`` at its working resolution, whatever its color space."""
        return self._rgb_at(self._working(gray, size), noise)

    def _rgb_at(self, gray_input: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """Colorize an already encoded working-resolution gray input; color math in float32."""
        target = self._predict(gray_input, None if noise is None else noise.to(self.device, self.dtype)).target.float()
        return self.color_space.merge(gray_input.float(), target)

    def _chroma(self, gray: torch.Tensor, noise: torch.Tensor | None, size: WorkingSize, upsample: str) -> torch.Tensor:
        """Predicted a*b* ``(B, 2, H, W)`` at full resolution."""
        ab, gray_small = self.working_chroma(gray, noise, size)
        return upsample_chroma(ab, gray_small, gray, upsample)

    def working_chroma(
        self, gray: torch.Tensor, noise: torch.Tensor | None = None, size: WorkingSize = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted a*b* ``(B, 2, h, w)`` at the working resolution, and the gray sRGB picture it was predicted for.

        With several working sizes the colors predicted at each are averaged on the finest one's grid.
        """
        results = [self._working_chroma_at(gray, noise, one) for one in working_sizes(size)]
        ab, gray_small = max(results, key=lambda result: result[0].shape[-2] * result[0].shape[-1])
        if len(results) > 1:
            ab = torch.stack(
                [F.interpolate(a, size=ab.shape[-2:], mode="bilinear", align_corners=False) for a, _ in results]
            ).mean(0)
        return ab, gray_small

    def _working_chroma_at(
        self, gray: torch.Tensor, noise: torch.Tensor | None, size: int | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        gray_input = self._working(gray, size)
        ab = rgb_to_lab(self._rgb_at(gray_input, noise))[:, 1:]
        return ab, self.color_space.decode_gray(gray_input.float())

    def _confidence(self, gray: torch.Tensor, size: WorkingSize) -> torch.Tensor:
        """Confidence ``(B, 1, H, W)`` at full resolution, the mean over the working sizes."""
        return torch.stack([self._confidence_at(gray, one) for one in working_sizes(size)]).mean(0)

    def _confidence_at(self, gray: torch.Tensor, size: int | None) -> torch.Tensor:
        gray_input = self._working(gray, size)
        logits = self._predict(gray_input, None).logits
        if logits is not None and hasattr(self.generator, "confidence"):
            confidence = getattr(self.generator, "confidence")(logits, CONFIDENCE_RADIUS)  # noqa: B009 - a classifier's method
        elif self.noise_dim:
            generator = torch.Generator().manual_seed(0)
            noises = torch.randn(CONFIDENCE_SAMPLES, gray.shape[0], self.noise_dim, generator=generator)
            ab = torch.stack([rgb_to_lab(self._rgb_at(gray_input, z))[:, 1:] for z in noises])
            near = (ab - ab.mean(0)).pow(2).sum(2, keepdim=True) <= CONFIDENCE_RADIUS**2
            confidence = near.float().mean(0)
        elif self.backend == "onnxruntime":
            raise UsageError(
                "on the ONNX Runtime backend only noise models give a confidence; load the .safetensors checkpoint"
            )
        else:
            raise UsageError(
                "this model gives no confidence: it neither classifies colors (generator 'zhang') nor takes noise"
            )
        return F.interpolate(confidence.float(), size=gray.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)

    @staticmethod
    def _output(
        rgb: torch.Tensor, like: Image.Image | np.ndarray | torch.Tensor
    ) -> Image.Image | np.ndarray | torch.Tensor:
        if isinstance(like, Image.Image):
            return to_pil(rgb[0])
        if isinstance(like, np.ndarray):
            array = rgb[0].permute(1, 2, 0).cpu().numpy()
            return (array * 255 + 0.5).astype(np.uint8) if like.dtype == np.uint8 else array
        return rgb

    @contextlib.contextmanager
    def using_decoding(self, temperature: float | None = None, vividness: float | None = None) -> Iterator[None]:
        """Decode a classification model at another annealed-mean ``temperature`` and/or ``vividness``
        inside the block (``None``: the model's own)."""
        requested = {name: value for name, value in zip(DECODING, (temperature, vividness)) if value is not None}
        if not requested:
            yield
            return
        if self.backend == "onnxruntime":
            for name, value in requested.items():
                fixed = getattr(self.generator, "fixed_decoding").get(name)  # noqa: B009 - the ONNX runtime generator's
                if fixed is None or abs(value - fixed) > 1e-9:
                    raise UsageError(
                        f"an ONNX model decodes at the {name} it was exported with ({fixed}); export it again with "
                        f"ganforge export --format onnx --{name} V, or use the .safetensors checkpoint"
                    )
            yield
            return
        for name in requested:
            if not hasattr(self.generator, name):
                raise UsageError(f"{name} applies to classification models (generator 'zhang') only")
        previous = {name: getattr(self.generator, name) for name in requested}
        try:
            self._set_decoding(requested)  # the generator refuses values outside its range
        except ValueError as exc:
            self._set_decoding(previous)
            raise UsageError(str(exc)) from None
        try:
            yield
        finally:
            self._set_decoding(previous)

    def suggest(
        self, photo: Picture, point: tuple[float, float], k: int = 6, *, size: WorkingSize = None
    ) -> list[Suggestion]:
        """The ``k`` most probable distinct colors at ``point`` (x, y in the photo's pixels) by the model's own
        distribution, as 8-bit RGB at that pixel's lightness with their probabilities, most probable first:
        the colors to offer where the model is unsure. Classification models; one photo."""
        centers = self._bin_centers("suggestions")
        gray = self._gray(photo)
        if gray.shape[0] != 1:
            raise UsageError(f"suggest() reads one photo at a time, got a batch of {gray.shape[0]}")
        shares = []
        for one in working_sizes(size):
            logits = self._predict(self._working(gray, one), None).logits
            assert logits is not None  # a classification model
            shares.append(probabilities_at(torch.softmax(logits.float(), 1), point, (gray.shape[-1], gray.shape[-2])))
        x, y = point
        return suggestions(torch.stack(shares).mean(0), centers, float(gray[0, 0, int(y), int(x)]), k)

    @contextlib.contextmanager
    def using_hints(self, hints: Hints | None, photo: tuple[int, int], batch: int = 1) -> Iterator[None]:
        """Give a hint model the user's points of color inside the block: ``hints`` for one picture
        (``[(x, y, (r, g, b)), Hint(...), ...]``), or a list of such lists, one per picture of a batch;
        ``photo`` is the (width, height) the points are in."""
        if hints is None:
            yield
            return
        expected = len(self.color_space.channels) + 1
        if int(getattr(self.generator, "hint_channels", 0)) != expected or self.backend != "torch":
            raise UsageError(
                "this model takes no hints: hints need a model trained with them (a generator with the option "
                f"hints: {expected}, e.g. from recipes/hints.yaml), on the PyTorch backend"
            )
        per_picture = list(hints) if hints and isinstance(hints[0], list) else [list(hints)]
        if len(per_picture) != batch:
            raise UsageError(f"{len(per_picture)} list(s) of hints for {batch} picture(s): give one list per picture")
        self._hints = [[as_hint(item, f"hint {i}") for i, item in enumerate(one)] for one in per_picture]
        self._hint_photo = photo
        try:
            yield
        finally:
            self._hints = None

    @contextlib.contextmanager
    def using_reference(self, reference: Picture | None, strength: float = 1.0) -> Iterator[None]:
        """Lean a classification model's colors toward the palette of a color ``reference`` photo inside the
        block: its ab-bin histogram over what the model predicts for the reference made gray, raised to
        ``strength``, weighs the model's distribution before the annealed mean (``None`` or strength 0:
        no change). One pass of the network over the reference."""
        if reference is None:
            yield
            return
        centers = self._bin_centers("a reference photo")
        rgb = self._pixels(reference)
        if rgb.shape[1] != 3:
            raise UsageError(
                "the reference is a gray picture: give a color photo whose colors the model should lean toward"
            )
        logits = self._predict(self._working(to_gray(rgb[:1], self.gray_conversion), None), None).logits
        assert logits is not None  # a classification model
        expected = torch.softmax(logits.float(), 1).mean((0, 2, 3))
        bias = palette_bias(palette(rgb[:1], centers), expected, strength)
        previous = self.generator.palette_bias
        self.generator.palette_bias = bias.to(self.device)
        try:
            yield
        finally:
            self.generator.palette_bias = previous

    def _bin_centers(self, what: str) -> torch.Tensor:
        """The ab centers ``(Q, 2)`` of a classification model's bins, or a one-line error saying who offers ``what``."""
        centers = getattr(self.generator, "bin_centers", None) if self.backend == "torch" else None
        if centers is None:
            raise UsageError(
                f"{what} need a classification model (generator 'zhang', as the default model) on the PyTorch backend"
            )
        return centers

    def _set_decoding(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            setattr(self.generator, name, value)


BACKENDS = ("torch", "onnxruntime")
DEFAULT = "default"
DEFAULT_MODEL = Path(__file__).parents[1] / "models" / "default.safetensors"  # provenance: models/README.md


MAX_ASPECT_RATIO = 20  # a long side over 20 short sides is a strip or a broken file, not a photo
MAX_WORKING_PIXELS = 4096 * 4096  # the network's input; a 24 MP photo is colorized at its working size, not this


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """The (height, width) the network sees for a ``height`` x ``width`` picture at short side ``size``.

    The work per picture is bounded: an elongated picture (a 1 x 5000 strip would become 128 x 640,000)
    or a working size beyond :data:`MAX_WORKING_PIXELS` is refused with a :class:`PictureSizeError`.
    """
    short, long = sorted((height, width))
    if long > MAX_ASPECT_RATIO * short:
        raise PictureSizeError(
            f"the picture is {width} x {height} pixels, more elongated than {MAX_ASPECT_RATIO}:1; crop it into parts first"
        )
    scale = size / short
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    if shape[0] * shape[1] > MAX_WORKING_PIXELS:
        raise PictureSizeError(
            f"working size {size} makes this {width} x {height} picture {shape[1]} x {shape[0]} pixels for the network, "
            f"over {MAX_WORKING_PIXELS:,}; choose a smaller size"
        )
    return shape


def resolve_checkpoint(path_or_repo: str | Path) -> Path:
    """``"default"`` (the model shipped in the package), a local file or folder (its ``model.safetensors``),
    or ``owner/name`` on the Hugging Face Hub (its ``model.safetensors``; cached, works offline)."""
    if str(path_or_repo) == DEFAULT and not Path(DEFAULT).exists():
        if not DEFAULT_MODEL.is_file():
            raise UsageError(
                f"the default model is missing from this installation ({DEFAULT_MODEL}); reinstall ganforge"
            )
        return DEFAULT_MODEL
    path = Path(path_or_repo)
    if path.is_dir():
        return model_in_folder(path)
    if path.exists() or path.suffix == ".safetensors" or str(path_or_repo).count("/") != 1:
        return path
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id=str(path_or_repo), filename=HUB_FILENAME))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        raise UsageError(
            f"'{path_or_repo}' is neither a local file nor a Hub model with {HUB_FILENAME} reachable or cached "
            f"({type(exc).__name__})"
        ) from None


def model_in_folder(folder: Path) -> Path:
    """The weights in a local folder laid out like a Hub model repository (``ganforge export`` writes one)."""
    if (folder / HUB_FILENAME).is_file():
        return folder / HUB_FILENAME
    found = sorted(folder.glob("*.safetensors"))
    if len(found) == 1:
        return found[0]
    listed = ", ".join(p.name for p in found) if found else "none"
    raise UsageError(
        f"folder '{folder}' holds no {HUB_FILENAME} (.safetensors files: {listed}); name the checkpoint file itself"
    )


def load(path_or_repo: str | Path = DEFAULT, backend: str | None = None) -> Colorizer:
    """Load a ganforge checkpoint (``"default"``, a ``.safetensors`` file, a folder holding ``model.safetensors``
    as ``ganforge export`` leaves it, or a Hub repo id) into a :class:`Colorizer`.

    ``backend``: ``"torch"`` (checkpoints) or ``"onnxruntime"`` (a ``.onnx`` file from
    ``ganforge export --format onnx``); by default chosen by the file's suffix.

    >>> import ganforge, numpy as np
    >>> colorizer = ganforge.load(ganforge_checkpoint)  # a checkpoint written by ganforge train
    >>> gray = np.linspace(0, 255, 64 * 48, dtype=np.float32).reshape(48, 64).astype(np.uint8)
    >>> colorizer(gray).shape
    (48, 64, 3)
    """
    path = resolve_checkpoint(path_or_repo)
    backend = backend or ("onnxruntime" if path.suffix == ".onnx" else "torch")
    if backend not in BACKENDS:
        raise UsageError(f"backend '{backend}' is not one of {', '.join(BACKENDS)}")
    if (backend == "onnxruntime") != (path.suffix == ".onnx"):
        raise UsageError(
            f"backend '{backend}' cannot load '{path}': ONNX Runtime runs .onnx files (make one with "
            "ganforge export CHECKPOINT --format onnx -o model.onnx), PyTorch runs .safetensors checkpoints"
        )
    return Colorizer.from_onnx(path) if backend == "onnxruntime" else Colorizer.from_checkpoint(path)
