"""Decode any image file into the RGB (or gray) picture a person would see.

Handles EXIF orientation, palette and alpha (composited on white, as viewers
show them), CMYK, and 16-bit or float grayscale; an unreadable file raises
:class:`UnreadableImage` with the reason, for callers that skip and count.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class UnreadableImage(Exception):
    """The file could not be decoded as an image; the message says why."""


def open_image(source: str | Path | bytes) -> Image.Image:
    """Open and fully decode an image as mode ``RGB`` or ``L``, upright."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            opened.load()  # decode now: truncated files fail here, not later
            image = ImageOps.exif_transpose(opened)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"{type(exc).__name__}: {exc}") from None
    return normalise_mode(image)


def normalise_mode(image: Image.Image) -> Image.Image:
    """Any PIL mode -> ``RGB`` (color) or ``L`` (single channel)."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        base = "RGB" if image.mode.startswith(("RGB", "P")) else "L"
        background = Image.new(base, image.size, "white")
        background.paste(image.convert(base), mask=image.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        return Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode in ("1", "L"):
        return image.convert("L")
    return image.convert("RGB")  # RGB, CMYK, YCbCr, LAB, HSV


def is_grayscale(image: Image.Image, tolerance: int = 3) -> bool:
    """True when nearly every pixel is neutral: such a photo teaches a colorizer to output gray."""
    if image.mode == "L":
        return True
    thumb = np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR), dtype=np.int16)
    spread = thumb.max(axis=2) - thumb.min(axis=2)
    return bool(np.percentile(spread, 99) <= tolerance)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL ``RGB``/``L`` -> float tensor ``(C, H, W)`` in [0, 1]."""
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor ``(3 or 1, H, W)`` in [0, 1] -> PIL image."""
    array = (tensor.detach().float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array, "L" if array.shape[2] == 1 else "RGB")
