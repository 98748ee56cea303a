"""Colorize videos with PyAV (the ``video`` extra): decode, colorize in batches, encode.

Colors are laid into the video's own Y'CbCr planes: the decoded luma plane
goes to the encoder untouched (only the lossy re-encode changes it) and only
the chroma planes (half resolution in 4:2:0) are predicted, so the
full-resolution work per frame is a copy. Temporal
stability: one noise vector for the whole video, and an exponential moving
average of the chroma over frames that restarts at scene cuts.
Audio streams are copied without re-encoding.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .atomic import atomic_path
from .colorize import Colorizer
from .errors import UsageError

log = logging.getLogger("ganforge.video")

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
REALTIME_SIZE = 128  # working resolution (short side) of the --realtime path


@dataclass
class VideoOptions:
    batch_size: int = 8
    size: int | None = None
    realtime: bool = False
    smoothing: float = 0.7  # weight of the previous frame's chroma; 0 = every frame on its own
    scene_cut: float = 0.12  # mean absolute luma change (0..1) that counts as a new shot
    seed: int = 0


@dataclass
class VideoReport:
    frames: int
    corrupt_frames: int
    seconds: float
    fps: float
    lost_frames: int = 0  # frames the container's duration promises that the demuxer never delivered

    @property
    def speed(self) -> float:
        """Processing speed relative to playback (>= 1 keeps up with the video)."""
        return self.frames / self.seconds / self.fps if self.seconds else float("inf")

    def summary(self) -> str:
        """One line: frames, speed, and what damage cost."""
        rate = self.frames / self.seconds if self.seconds else float("inf")
        parts = [f"{self.frames} frames at {rate:.1f} fps ({self.speed:.2f}x real time)"]
        if self.corrupt_frames:
            parts.append(f"{self.corrupt_frames} corrupt packet(s) skipped")
        if self.lost_frames:
            parts.append(f"about {self.lost_frames} more frame(s) lost where the file is damaged")
        return ", ".join(parts)


def _import_av():
    try:
        import av
    except ImportError:
        raise UsageError("video needs PyAV: pip install 'ganforge[video]'") from None
    return av


def rgb_to_cbcr(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> BT.601 limited-range Cb, Cr in code values (16..240)."""
    r, g, b = rgb.unbind(1)
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack((128 + 224 * (b - luma) / 1.772, 128 + 224 * (r - luma) / 1.402), dim=1)


class ChromaSmoother:
    """Motion-aware exponential moving average of chroma over frames, restarted at scene cuts.

    A pixel keeps ``weight`` of its previous chroma where its luma is still, and
    less as its luma changes (none beyond a change of ``motion``), so still
    regions stop flickering while moving objects do not drag color trails.
    """

    def __init__(self, weight: float, scene_cut: float, motion: float = 0.05) -> None:
        if not 0.0 <= weight < 1.0:
            raise UsageError(f"smoothing must be in [0, 1), got {weight}")
        self.weight, self.scene_cut, self.motion = weight, scene_cut, motion
        self._previous: tuple[torch.Tensor, torch.Tensor] | None = None
        self.cuts = 0

    def __call__(self, luma: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
        """``luma`` ``(1, h, w)`` in [0, 1] and ``chroma`` ``(2, h, w)`` of one frame -> smoothed chroma."""
        if self._previous is not None:
            previous_luma, previous_chroma = self._previous
            change = (luma - previous_luma).abs()
            if change.mean() > self.scene_cut:
                self.cuts += 1
            else:
                keep = self.weight * (1 - change / self.motion).clamp(0, 1)
                chroma = keep * previous_chroma + (1 - keep) * chroma
        self._previous = (luma, chroma)
        return chroma


def colorize_video(colorizer: Colorizer, source: Path, target: Path, options: VideoOptions) -> VideoReport:
    """Colorize ``source`` into ``target`` (written atomically); corrupt frames are skipped and counted."""
    av = _import_av()
    try:
        container = av.open(str(source))
    except (av.error.FFmpegError, OSError) as exc:
        raise UsageError(f"'{source}' is not a readable video: {exc}") from None
    if not container.streams.video:
        container.close()
        raise UsageError(f"'{source}' has no video stream")
    size = min(options.size or REALTIME_SIZE, REALTIME_SIZE) if options.realtime else options.size
    if options.realtime:
        colorizer.fuse().generator.to(memory_format=torch.channels_last)
    noise = None
    if colorizer.noise_dim:  # one noise vector for every frame: colors do not jump between frames
        noise = torch.randn(1, colorizer.noise_dim, generator=torch.Generator().manual_seed(options.seed))
    smoother = ChromaSmoother(options.smoothing, options.scene_cut)
    video_in = container.streams.video[0]
    video_in.thread_type = "AUTO"
    audio_in = list(container.streams.audio)
    rate = video_in.average_rate or Fraction(30)
    width, height = video_in.codec_context.width, video_in.codec_context.height
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    # 4:2:0 halves the chroma planes, which needs even sides; odd-sized video keeps its size in 4:4:4
    pixels = "yuv420p" if not (width % 2 or height % 2) else "yuv444p"
    if pixels == "yuv444p" and codec != "libx264":
        container.close()
        raise UsageError(f"'{source}' is {width}x{height}: odd sides need 4:4:4 video, which needs FFmpeg with libx264")
    total = video_in.frames or None
    corrupt = frames = 0
    started = time.perf_counter()
    with atomic_path(target) as tmp:
        output = av.open(str(tmp), "w", format=_format_for(target))
        video_out = output.add_stream(codec, rate=rate)
        video_out.width, video_out.height, video_out.pix_fmt = width, height, pixels
        video_out.codec_context.time_base = 1 / Fraction(rate)
        timing = FrameTiming(video_out.codec_context.time_base)
        if codec == "libx264":
            video_out.options = {"preset": "ultrafast" if options.realtime else "medium", "crf": "20"}
        audio_out = {stream.index: output.add_stream_from_template(stream) for stream in audio_in}
        pending: list[np.ndarray] = []
        times: list[float | None] = []  # each pending frame's presentation time in seconds
        progress = tqdm(total=total, desc=source.name, unit="frame", disable=None)

        def flush() -> None:
            for frame, seconds in zip(_colorize_batch(colorizer, pending, noise, size, smoother), times):
                picture = av.VideoFrame.from_ndarray(frame, format=pixels)
                picture.pts = timing.pts(seconds)
                for packet in video_out.encode(picture):
                    output.mux(packet)
            progress.update(len(pending))
            pending.clear()
            times.clear()

        def take(frame) -> None:
            nonlocal frames
            pending.append(frame.to_ndarray(format=pixels))
            times.append(frame.time)
            frames += 1
            if len(pending) == options.batch_size:
                flush()

        try:
            for packet in container.demux(video_in, *audio_in):
                if packet.stream.index in audio_out:
                    if packet.dts is not None:
                        packet.stream = audio_out[packet.stream.index]
                        output.mux(packet)
                    continue
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    corrupt += 1
                    continue
                for frame in decoded:
                    take(frame)
            try:  # a demuxer stopped by damage sends no final empty packet: drain the decoder's held frames
                for frame in video_in.codec_context.decode(None):
                    take(frame)
            except av.error.EOFError:
                pass  # already drained by the final packet
            if pending:
                flush()
            for packet in video_out.encode():
                output.mux(packet)
            lost = _lost_frames(container, video_in, rate, frames + corrupt)
        finally:
            progress.close()
            output.close()
            container.close()
        if frames == 0:
            raise UsageError(f"'{source}' has no decodable video frames")
    if corrupt:
        log.warning("%s: skipped %d corrupt packet(s)", source, corrupt)
    if lost:
        log.warning("%s: the file ends early (damaged?): about %d frame(s) its duration promises were never read", source, lost)
    return VideoReport(frames, corrupt, time.perf_counter() - started, float(rate), lost)


class FrameTiming:
    """Output timestamps that keep each frame at its input time, so frames after a skipped packet
    do not move up and drift away from the copied audio; strictly increasing, as encoders require."""

    def __init__(self, time_base: Fraction) -> None:
        self.time_base = time_base
        self.last = -1

    def pts(self, seconds: float | None) -> int:
        known = seconds is not None and math.isfinite(seconds)  # a drained frame may carry no time
        wanted = round(Fraction(seconds) / self.time_base) if known else self.last + 1
        self.last = max(wanted, self.last + 1)
        return self.last


def _lost_frames(container, stream, rate: Fraction, read: int) -> int:
    """Frames the duration promises beyond those read (0 when no duration is known, or within rounding).

    A damaged Matroska cluster makes the demuxer stop early without an error; this is how it shows."""
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / 1_000_000  # microseconds: may include a longer audio track
    else:
        return 0
    expected = round(seconds * float(rate))
    return expected - read if expected - read > max(2, expected // 20) else 0


def _format_for(target: Path) -> str:
    return {".mkv": "matroska", ".mov": "mov", ".avi": "avi", ".webm": "webm"}.get(target.suffix.lower(), "mp4")


def _colorize_batch(
    colorizer: Colorizer, frames: list[np.ndarray], noise: torch.Tensor | None, size: int | None, smoother: ChromaSmoother
) -> list[np.ndarray]:
    """yuv420p frames (``(H * 3/2, W)`` uint8) or yuv444p frames (``(3, H, W)``) -> the same frames with
    predicted chroma planes (half or full resolution)."""
    full = frames[0].ndim == 3  # 4:4:4
    height, width = frames[0].shape[1:] if full else (frames[0].shape[0] * 2 // 3, frames[0].shape[1])
    luma = torch.from_numpy(np.stack([f[0] if full else f[:height] for f in frames])).float()[:, None]
    gray = ((luma - 16) / 219).clamp(0, 1)  # BT.601 limited range
    batch_noise = noise.expand(len(frames), -1).to(colorizer.device) if noise is not None else None
    rgb = colorizer.predict_rgb(gray.to(colorizer.device), batch_noise, size).cpu()
    small_luma = F.interpolate(gray, size=rgb.shape[-2:], mode="area")
    chroma = torch.stack([smoother(l, c) for l, c in zip(small_luma, rgb_to_cbcr(rgb))])
    planes = F.interpolate(chroma, size=(height, width) if full else (height // 2, width // 2), mode="bilinear", align_corners=False)
    planes = planes.round().clamp(16, 240).to(torch.uint8).numpy()
    if full:
        return [np.concatenate([frame[:1], chroma_planes]) for frame, chroma_planes in zip(frames, planes)]
    out = []
    for frame, (cb, cr) in zip(frames, planes):
        frame = frame.copy()
        frame[height:] = np.concatenate([cb.reshape(-1), cr.reshape(-1)]).reshape(-1, width)
        out.append(frame)
    return out
