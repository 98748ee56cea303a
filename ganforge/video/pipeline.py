"""Colorize and deflicker videos with PyAV (the ``video`` extra): decode, recolor in batches, encode.

Both work in the video's own Y'CbCr planes: the decoded luma plane goes to the
encoder untouched (only the lossy re-encode changes it) and only the chroma
planes (half resolution in 4:2:0) are replaced, so the full-resolution work per
frame is a copy. Temporal stability: one noise vector for the whole video, and
a moving average of the chroma along the motion (:mod:`ganforge.video.temporal`)
that restarts at scene cuts. Audio streams are copied without re-encoding.
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

from ganforge.core.atomic import atomic_path
from ganforge.core.choices import SMOOTHING
from ganforge.core.errors import UsageError
from ganforge.inference.colorizer import Colorizer
from ganforge.video.temporal import make_smoother

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
REALTIME_SIZE = 128  # working resolution (short side) of the --realtime path


@dataclass
class VideoOptions:
    batch_size: int = 8
    size: int | None = None
    realtime: bool = False
    # weight of the previous frame's chroma (0 = every frame on its own): the strongest that kept colorfulness
    # within 5 % of per-frame colors on benchmarks/video_stability.py's clips (moving pixels 3.1x steadier)
    smoothing: float = SMOOTHING
    stabilize: str = "motion"  # where the previous chroma is looked up: along the motion, or only where still
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


def colorize_video(colorizer: Colorizer, source: Path, target: Path, options: VideoOptions) -> VideoReport:
    """Colorize ``source`` into ``target`` (written atomically); corrupt frames are skipped and counted."""
    size = min(options.size or REALTIME_SIZE, REALTIME_SIZE) if options.realtime else options.size
    # --realtime takes the cheaper flow: half the cost per frame, moving colors 3.6x instead of 4.7x steadier
    preset = "fast" if options.realtime else "medium"
    smoother = make_smoother(options.stabilize, options.smoothing, options.scene_cut, preset)
    if options.realtime:
        colorizer.fuse().generator.to(memory_format=torch.channels_last)
    noise = None
    if colorizer.noise_dim:  # one noise vector for every frame: colors do not jump between frames
        noise = torch.randn(1, colorizer.noise_dim, generator=torch.Generator().manual_seed(options.seed))

    def recolor(frames: list[np.ndarray]) -> list[np.ndarray]:
        return _colorize_batch(colorizer, frames, noise, size, smoother)

    return _transcode(source, target, recolor, options.batch_size, fast=options.realtime)


def deflicker_video(source: Path, target: Path, options: VideoOptions) -> VideoReport:
    """Steady the chroma of an already colorized video (any tool's), keeping its luma; ``target`` is
    written atomically. The smoothing runs at the chroma planes' own resolution."""
    smoother = make_smoother(options.stabilize, options.smoothing, options.scene_cut)

    def steady(frames: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for frame in frames:
            luma, chroma = split_planes(frame)
            gray = luma_to_gray(luma)
            if gray.shape[-2:] != chroma.shape[-2:]:  # 4:2:0: the luma at the chroma planes' resolution
                gray = F.avg_pool2d(gray[None], 2, ceil_mode=True)[0]
            out.append(join_planes(frame, smoother(gray, chroma)))
        return out

    return _transcode(source, target, steady, options.batch_size, fast=False)


def _transcode(source: Path, target: Path, recolor, batch_size: int, fast: bool) -> VideoReport:
    """Decode ``source``, pass its frames (yuv420p, or yuv444p for odd sides) through ``recolor`` in
    batches, encode them into ``target`` at their input times, and copy the audio; atomic."""
    av = _import_av()
    try:
        container = av.open(str(source))
    except (av.error.FFmpegError, OSError) as exc:
        raise UsageError(f"'{source}' is not a readable video: {exc}") from None
    if not container.streams.video:
        container.close()
        raise UsageError(f"'{source}' has no video stream")
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
        # the input's own time base where it is finer than one frame: a variable frame rate keeps its times
        video_out.codec_context.time_base = min(video_in.time_base or 1 / Fraction(rate), 1 / Fraction(rate))
        timing = FrameTiming(video_out.codec_context.time_base, Fraction(rate))
        if codec == "libx264":
            video_out.options = {"preset": "ultrafast" if fast else "medium", "crf": "20"}
        audio_out = {stream.index: output.add_stream_from_template(stream) for stream in audio_in}
        pending: list[np.ndarray] = []
        times: list[float | None] = []  # each pending frame's presentation time in seconds
        progress = tqdm(total=total, desc=source.name, unit="frame", disable=None)

        def flush() -> None:
            for frame, seconds in zip(recolor(pending), times):
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
            if len(pending) == batch_size:
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
            lost = _lost_frames(container, video_in, rate, timing.seconds)
        finally:
            progress.close()
            output.close()
            container.close()
        if frames == 0:
            raise UsageError(f"'{source}' has no decodable video frames")
    if corrupt:
        log.warning("%s: skipped %d corrupt packet(s)", source, corrupt)
    if lost:
        log.warning(
            "%s: the file ends early (damaged?): about %d frame(s) its duration promises were never read", source, lost
        )
    return VideoReport(frames, corrupt, time.perf_counter() - started, float(rate), lost)


class FrameTiming:
    """Output timestamps that keep each frame at its input time, so frames after a skipped packet
    do not move up and drift away from the copied audio; strictly increasing, as encoders require."""

    def __init__(self, time_base: Fraction, rate: Fraction) -> None:
        self.time_base = time_base
        self.frame_ticks = max(1, round(1 / (rate * time_base)))  # one frame interval, for frames without a time
        self.last = -self.frame_ticks

    @property
    def seconds(self) -> float | None:
        """The time of the last frame given out (None before the first)."""
        return float(self.last * self.time_base) if self.last >= 0 else None

    def pts(self, seconds: float | None) -> int:
        known = seconds is not None and math.isfinite(seconds)  # a drained frame may carry no time
        wanted = round(Fraction(seconds) / self.time_base) if known else self.last + self.frame_ticks
        self.last = max(wanted, self.last + 1)
        return self.last


def _lost_frames(container, stream, rate: Fraction, last_time: float | None) -> int:
    """Frames that would fill the time between the last frame read and the end the duration promises
    (0 when no duration is known, or within rounding); measured in time rather than counted, so a
    variable frame rate does not look like loss.

    A damaged Matroska cluster makes the demuxer stop early without an error; this is how it shows."""
    if stream.duration and stream.time_base:
        start = float((stream.start_time or 0) * stream.time_base)
        end = start + float(stream.duration * stream.time_base)
    elif container.duration:  # microseconds: may include a longer audio track
        end = ((container.start_time or 0) + container.duration) / 1_000_000
    else:
        return 0
    expected = round(end * float(rate))
    missing = round((end - (last_time or 0.0)) * float(rate)) - 1  # the last frame read fills one interval
    return missing if missing > max(2, expected // 20) else 0


def _format_for(target: Path) -> str:
    return {".mkv": "matroska", ".mov": "mov", ".avi": "avi", ".webm": "webm"}.get(target.suffix.lower(), "mp4")


def split_planes(frame: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """A yuv420p ``(H * 3/2, W)`` or yuv444p ``(3, H, W)`` uint8 frame -> luma ``(1, H, W)`` and chroma
    ``(2, h, w)`` (half or full resolution), both float code values."""
    if frame.ndim == 3:
        return torch.from_numpy(frame[:1]).float(), torch.from_numpy(frame[1:]).float()
    height, width = frame.shape[0] * 2 // 3, frame.shape[1]
    chroma = frame[height:].reshape(2, height // 2, width // 2)
    return torch.from_numpy(frame[:height][None]).float(), torch.from_numpy(chroma).float()


def join_planes(frame: np.ndarray, chroma: torch.Tensor) -> np.ndarray:
    """A copy of ``frame`` with ``chroma`` ``(2, h, w)`` (code values) laid into its chroma planes."""
    cbcr = chroma.round().clamp(16, 240).to(torch.uint8).numpy()
    if frame.ndim == 3:
        return np.concatenate([frame[:1], cbcr])
    height, width = frame.shape[0] * 2 // 3, frame.shape[1]
    copy = frame.copy()
    copy[height:] = cbcr.reshape(-1, width)
    return copy


def luma_to_gray(luma: torch.Tensor) -> torch.Tensor:
    """BT.601 limited-range luma code values (16..235) -> gray in [0, 1]."""
    return ((luma - 16) / 219).clamp(0, 1)


def _colorize_batch(
    colorizer: Colorizer, frames: list[np.ndarray], noise: torch.Tensor | None, size: int | None, smoother
) -> list[np.ndarray]:
    """yuv420p or yuv444p frames -> the same frames with predicted, smoothed chroma planes."""
    split = [split_planes(frame) for frame in frames]
    luma = torch.stack([y for y, _ in split])
    chroma_size = split[0][1].shape[-2:]
    gray = luma_to_gray(luma)
    batch_noise = noise.expand(len(frames), -1).to(colorizer.device) if noise is not None else None
    rgb = colorizer.predict_rgb(gray.to(colorizer.device), batch_noise, size).cpu()
    small_luma = F.interpolate(gray, size=rgb.shape[-2:], mode="area")
    chroma = torch.stack([smoother(lum, c) for lum, c in zip(small_luma, rgb_to_cbcr(rgb))])
    planes = F.interpolate(chroma, size=chroma_size, mode="bilinear", align_corners=False)
    return [join_planes(frame, cbcr) for frame, cbcr in zip(frames, planes)]
