"""Synthetic video clips with known motion, made from color photographs.

Real footage has no ground truth for where each pixel moved, so temporal
stability cannot be measured on it except where the picture is still. These
clips move a photo in known ways (a pan, a zoom, an object crossing a
background, a cut between shots) and carry, for every frame, the true backward
flow and where it holds. That measures flicker on moving pixels (the chroma
change along the true motion) and color error against the true colors at once.
:func:`sample_clip` builds one from the photos bundled with ganforge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.core.colormath import lab_to_rgb, rgb_to_lab, to_gray
from ganforge.core.images import open_image

SAMPLES = Path(__file__).resolve().parents[2] / "plugins" / "data" / "samples"


@dataclass
class Clip:
    """``frames`` ``(T, 3, H, W)`` sRGB in [0, 1]; ``flow`` ``(T, 2, H, W)`` (x, y): pixel ``p`` of
    frame ``t`` shows what frame ``t - 1`` showed at ``p + flow[t](p)``; ``valid`` ``(T, H, W)``: where
    that holds (not occluded or disoccluded, inside the previous frame, no cut; never in frame 0)."""

    frames: torch.Tensor
    flow: torch.Tensor
    valid: torch.Tensor
    name: str = "clip"

    def __len__(self) -> int:
        return self.frames.shape[0]

    @property
    def moving(self) -> torch.Tensor:
        """``(T, H, W)``: valid pixels that move by more than half a pixel from the previous frame."""
        return self.valid & (self.flow.norm(dim=1) > 0.5)

    def __add__(self, other: Clip) -> Clip:
        """The two shots one after the other, with a cut between them."""
        if self.frames.shape[-2:] != other.frames.shape[-2:]:
            raise ValueError(
                f"clips of different sizes cannot be joined: {tuple(self.frames.shape[-2:])} and {tuple(other.frames.shape[-2:])}"
            )
        valid = other.valid.clone()
        valid[0] = False
        return Clip(torch.cat([self.frames, other.frames]), torch.cat([self.flow, other.flow]),
                    torch.cat([self.valid, valid]), f"{self.name}+{other.name}")  # fmt: skip


def load_photo(path: str | Path) -> torch.Tensor:
    """A photo as ``(3, H, W)`` sRGB in [0, 1]."""
    array = np.asarray(open_image(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _sample(photo: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``photo`` ``(3, H, W)`` at pixel coordinates ``points`` ``(T, h, w, 2)`` (bilinear) -> ``(T, 3, h, w)``."""
    height, width = photo.shape[-2:]
    scale = torch.tensor([2 / (width - 1), 2 / (height - 1)])
    grid = points * scale - 1
    return F.grid_sample(
        photo[None].expand(len(points), -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=True
    )


def _pixel_grid(size: tuple[int, int]) -> torch.Tensor:
    """``(h, w, 2)`` pixel coordinates (x, y) of a ``size`` = (width, height) frame."""
    width, height = size
    y, x = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    return torch.stack([x, y], dim=-1)


def _inside(points: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    width, height = size
    return (
        (points[..., 0] >= 0) & (points[..., 0] <= width - 1) & (points[..., 1] >= 0) & (points[..., 1] <= height - 1)
    )


def _first_frame_invalid(valid: torch.Tensor) -> torch.Tensor:
    valid[0] = False
    return valid


def pan(photo: torch.Tensor, size: tuple[int, int], frames: int, velocity: tuple[float, float]) -> Clip:
    """A camera panning over ``photo`` at ``velocity`` pixels per frame, starting at its top left corner."""
    grid = _pixel_grid(size)
    step = torch.tensor(velocity, dtype=torch.float32)
    lowest = torch.clamp(-step * (frames - 1), min=0)  # start far enough in that the window stays inside
    points = torch.stack([grid + lowest + t * step for t in range(frames)])
    _check_inside(photo, points, "pan")
    flow = step.view(1, 2, 1, 1).expand(frames, 2, size[1], size[0]).clone()
    flow[0] = 0
    valid = _first_frame_invalid(_inside(grid + step, size).expand(frames, -1, -1).clone())
    return Clip(_sample(photo, points), flow, valid, "pan")


def zoom(photo: torch.Tensor, size: tuple[int, int], frames: int, rate: float) -> Clip:
    """A zoom into the middle of ``photo``: each frame shows ``rate`` times the previous one's extent
    (``rate`` < 1 zooms in), starting with the largest view of ``size``'s shape that fits."""
    width, height = size
    extent = min(photo.shape[2] / width, photo.shape[1] / height)
    if extent > 1.25:  # shrink a large photo first (area average): sampling it sparsely would alias
        photo = F.interpolate(photo[None], scale_factor=1.25 / extent, mode="area")[0]
    grid = _pixel_grid(size)
    middle = torch.tensor([(width - 1) / 2, (height - 1) / 2])
    photo_middle = torch.tensor([(photo.shape[2] - 1) / 2, (photo.shape[1] - 1) / 2])
    # the largest view that fits, a hair inside so that float rounding cannot put its corners outside
    first = min((photo.shape[2] - 1) / (width - 1), (photo.shape[1] - 1) / (height - 1)) * (1 - 1e-5)
    scales = [first * rate**t for t in range(frames)]
    points = torch.stack([photo_middle + (grid - middle) * s for s in scales])
    _check_inside(photo, points, "zoom")
    previous = middle + (grid - middle) * rate  # where each pixel was one frame before
    flow = (previous - grid).permute(2, 0, 1).expand(frames, -1, -1, -1).clone()
    flow[0] = 0
    valid = _first_frame_invalid(_inside(previous, size).expand(frames, -1, -1).clone())
    return Clip(_sample(photo, points), flow, valid, "zoom")


def moving_object(
    background: torch.Tensor, foreground: torch.Tensor, size: tuple[int, int], frames: int,
    velocity: tuple[float, float], radius: float,
) -> Clip:  # fmt: skip
    """A disc cut from the middle of ``foreground`` crossing a still view of ``background``'s middle
    at ``velocity`` pixels per frame, starting so that it crosses the frame's middle halfway.

    Background pixels the disc covered in the previous frame are disoccluded (not valid),
    as are those within a pixel of its edge, where the antialiased edge mixes both.
    """
    width, height = size
    grid = _pixel_grid(size)
    step = torch.tensor(velocity, dtype=torch.float32)
    start = torch.tensor([(width - 1) / 2, (height - 1) / 2]) - step * (frames - 1) / 2
    centers = [start + t * step for t in range(frames)]
    still = _sample(background, (grid + _offset(background, size))[None]).expand(frames, -1, -1, -1)
    disc_middle = torch.tensor([(foreground.shape[2] - 1) / 2, (foreground.shape[1] - 1) / 2])
    disc_points = torch.stack([grid - c + disc_middle for c in centers])
    if radius + 1 > min(disc_middle):
        raise ValueError(f"moving_object: a disc of radius {radius} does not fit in the foreground photo")
    distance = torch.stack([(grid - c).norm(dim=-1) for c in centers])  # (T, h, w)
    cover = (radius + 0.5 - distance).clamp(0, 1)[:, None]  # antialiased edge, one pixel wide
    frames_rgb = cover * _sample(foreground, disc_points) + (1 - cover) * still
    inside_disc, edge = distance <= radius - 1, (distance - radius).abs() < 1.5
    flow = torch.zeros(frames, 2, height, width)
    flow[:, 0], flow[:, 1] = -step[0] * inside_disc, -step[1] * inside_disc
    covered_before = torch.cat([torch.zeros_like(distance[:1], dtype=torch.bool), distance[:-1] <= radius + 1.5])
    valid = ~edge & (inside_disc | ~covered_before)
    valid = _first_frame_invalid(valid & _inside(grid + flow.permute(0, 2, 3, 1), size))
    return Clip(frames_rgb, flow, valid, "object")


def _offset(photo: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Where a ``size`` window centered on ``photo`` starts."""
    return torch.tensor([(photo.shape[2] - size[0]) / 2, (photo.shape[1] - size[1]) / 2])


def _check_inside(photo: torch.Tensor, points: torch.Tensor, what: str) -> None:
    size = (photo.shape[2], photo.shape[1])
    if not bool(_inside(points, size).all()):
        raise ValueError(f"{what}: the photo ({size[0]}x{size[1]}) is too small for this clip's frames and motion")


def sample_clip(size: tuple[int, int] = (256, 160), frames_per_shot: int = 12) -> Clip:
    """Three shots from the bundled sample photos, with cuts between them: a pan across
    ``astronaut.jpg``, the middle of ``chelsea.jpg`` crossing ``rocket.jpg``, a zoom into ``coffee.jpg``."""
    photos = {name: load_photo(SAMPLES / f"{name}.jpg") for name in ("astronaut", "chelsea", "rocket", "coffee")}
    shot_pan = pan(photos["astronaut"], size, frames_per_shot, (4.0, 1.5))
    shot_object = moving_object(
        photos["rocket"], photos["chelsea"], size, frames_per_shot, (5.0, -1.0), radius=size[1] / 4
    )
    shot_zoom = zoom(photos["coffee"], size, frames_per_shot, 0.97)
    clip = shot_pan + shot_object + shot_zoom
    clip.name = "samples"
    return clip


def hue_flicker(frames: torch.Tensor, degrees: float, seed: int = 0) -> torch.Tensor:
    """``frames`` ``(T, 3, H, W)`` with each frame's chroma turned by its own random angle in +-``degrees``
    (lightness kept): flickering colors whose steady truth is known."""
    angles = (
        torch.from_numpy(np.random.default_rng(seed).uniform(-degrees, degrees, len(frames))).float() * math.pi / 180
    )
    lab = rgb_to_lab(frames)
    cos, sin = angles.cos()[:, None, None], angles.sin()[:, None, None]
    turned = torch.stack([lab[:, 0], cos * lab[:, 1] - sin * lab[:, 2], sin * lab[:, 1] + cos * lab[:, 2]], dim=1)
    return lab_to_rgb(turned).clamp(0, 1)


def write_video(path: str | Path, frames: torch.Tensor, fps: int = 30, gray: bool = False, crf: int = 8) -> None:
    """``frames`` ``(T, 3, H, W)`` sRGB in [0, 1] as an H.264 file (near-lossless by default), in color
    or made gray (Rec. 601 luma, as a black-and-white video holds it). Needs the ``video`` extra."""
    from ganforge.video.pipeline import _import_av

    av = _import_av()
    if gray:
        frames = to_gray(frames, "rec601").expand(-1, 3, -1, -1)
    height, width = frames.shape[-2:]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = height, width
        stream.pix_fmt = "yuv444p" if width % 2 or height % 2 else "yuv420p"
        stream.options = {"crf": str(crf), "preset": "fast"}
        for frame in (frames.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8).numpy():
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_video(path: str | Path) -> torch.Tensor:
    """Every frame of a video as ``(T, 3, H, W)`` sRGB in [0, 1]."""
    from ganforge.video.pipeline import _import_av

    with _import_av().open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
