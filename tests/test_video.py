from __future__ import annotations

import itertools
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge import metrics
from ganforge.video import ChromaSmoother, rgb_to_cbcr

av = pytest.importorskip("av", reason="video needs the 'video' extra (PyAV)")

from .test_colorize import checkpoint  # noqa: E402


def make_video(
    path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), fps: int = 10, audio: bool = True, pixels: str = "yuv420p"
) -> None:
    """A gray clip of a bright square sliding over a gradient, with a sine-wave soundtrack."""
    width, height = size
    container = av.open(str(path), "w")
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = width, height, pixels
    sound = container.add_stream("aac", rate=16000) if audio else None
    background = np.linspace(40, 200, width, dtype=np.float32)[None].repeat(height, 0)
    for i in range(frames):
        gray = background.copy()
        gray[10:26, 4 + 3 * i : 20 + 3 * i] = 235
        rgb = np.repeat(gray[:, :, None], 3, axis=2).astype(np.uint8)
        for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    if sound is not None:
        samples = (0.2 * np.sin(np.arange(16000 * frames // fps) / 16000 * 2 * np.pi * 440)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024][None]
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = 16000
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    container.close()


def test_a_video_is_colorized_with_its_frame_count_size_rate_and_audio(tmp_path):
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3})
    make_video(tmp_path / "clip.mp4")
    result = subprocess.run(
        [sys.executable, "-m", "ganforge", "colorize", str(model), str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "out.mp4"),
         "--batch-size", "5"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "clip.mp4: 12 frames at" in result.stdout
    with av.open(str(tmp_path / "out.mp4")) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (64, 48)
        assert video.average_rate == Fraction(10)
        assert len(container.streams.audio) == 1
        frames = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    assert len(frames) == 12
    chroma = np.stack([f[48:] for f in frames]).astype(np.float32)
    assert np.abs(chroma - 128).mean() > 2  # colored: the chroma planes are no longer neutral


def test_smoothing_reduces_flicker_and_resets_at_cuts():
    torch.manual_seed(0)
    luma = torch.full((1, 8, 8), 0.5)
    noisy = [torch.full((2, 8, 8), 128.0) + 10 * torch.randn(2, 8, 8) for _ in range(6)]
    raw = torch.stack(noisy)
    smoother = ChromaSmoother(0.7, scene_cut=0.1)
    smoothed = torch.stack([smoother(luma, c) for c in noisy])
    gray = luma.expand(6, 1, 8, 8)
    assert metrics.flicker(smoothed, gray) < 0.5 * metrics.flicker(raw, gray)
    cut = torch.full((1, 8, 8), 0.9)
    after_cut = smoother(cut, torch.zeros(2, 8, 8))
    assert smoother.cuts == 1 and torch.equal(after_cut, torch.zeros(2, 8, 8))  # no color bleeds across the cut
    moved = cut.clone()
    moved[:, :2] = 0.7  # an object moves through the top rows only
    out = smoother(moved, torch.ones(2, 8, 8))
    assert torch.equal(out[:, :2], torch.ones(2, 2, 8))  # moving pixels take the new color at once
    torch.testing.assert_close(out[:, 2:], torch.full((2, 6, 8), 0.3))  # still pixels keep 70% of the old one


def test_cbcr_of_gray_is_neutral_and_of_red_is_red():
    gray = torch.full((1, 3, 1, 1), 0.5)
    torch.testing.assert_close(rgb_to_cbcr(gray), torch.full((1, 2, 1, 1), 128.0))
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    cb, cr = rgb_to_cbcr(red)[0, :, 0, 0]
    assert cr > 200 and cb < 128


def test_not_a_video_is_a_clear_error(tmp_path):
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3})
    (tmp_path / "fake.mp4").write_bytes(b"this is not a video")
    result = subprocess.run(
        [sys.executable, "-m", "ganforge", "colorize", str(model), str(tmp_path / "fake.mp4"), "-o", str(tmp_path / "o.mp4")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("ganforge: error: ") and "is not a readable video" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".o.mp4*"))


def open_with_demux(monkeypatch, name: str, change) -> None:
    """Make ``av.open`` of files called ``name`` return a container whose ``demux`` goes through ``change``."""
    real_open = av.open

    class Container:
        def __init__(self, container):
            self._container = container

        def __getattr__(self, attribute):
            return getattr(self._container, attribute)

        def demux(self, *streams):
            return change(self._container.demux(*streams))

    monkeypatch.setattr(av, "open", lambda path, *a, **k: Container(real_open(path, *a, **k)) if str(path).endswith(name) else real_open(path, *a, **k))


def test_corrupt_packets_are_skipped_and_counted(tmp_path, monkeypatch):
    """A packet whose decoding fails is skipped; the rest of the video is still colorized."""
    import ganforge
    import ganforge.video
    from ganforge.video import VideoOptions, colorize_video

    make_video(tmp_path / "clip.mp4", audio=False)
    real_open = av.open

    class BrokenPacket:
        def __init__(self, packet):
            self._packet = packet
            self.stream, self.dts = packet.stream, packet.dts

        def decode(self):
            raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    def break_fourth(packets):
        for i, packet in enumerate(packets):
            yield BrokenPacket(packet) if i == 3 else packet

    open_with_demux(monkeypatch, "clip.mp4", break_fourth)
    colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}))
    report = colorize_video(colorizer, tmp_path / "clip.mp4", tmp_path / "out.mp4", VideoOptions(batch_size=4))
    assert report.corrupt_frames == 1
    assert 0 < report.frames < 12
    with real_open(str(tmp_path / "out.mp4")) as container:
        kept = [round(frame.time, 3) for frame in container.decode(video=0)]
    with real_open(str(tmp_path / "clip.mp4")) as container:
        original = [round(frame.time, 3) for frame in container.decode(video=0)]
    assert len(kept) == report.frames
    # frames after the gap keep their times (audio stays in sync), instead of moving up one by one
    assert set(kept) <= set(original) and kept != original[: len(kept)]


def test_a_file_that_ends_early_without_an_error_is_counted_as_damaged(tmp_path, monkeypatch, capsys):
    """A damaged Matroska cluster makes the demuxer stop early and silently: the frames the duration
    promises are counted as lost, and the command says so."""
    from ganforge.cli import main

    make_video(tmp_path / "clip.mkv", frames=48, audio=False)
    open_with_demux(monkeypatch, "clip.mkv", lambda packets: itertools.islice(packets, 5))  # stops, no error
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3})
    assert main(["colorize", str(model), str(tmp_path / "clip.mkv"), "-o", str(tmp_path / "out.mkv")]) == 0
    printed = capsys.readouterr().out
    lost = int(printed.split("about ")[1].split(" more frame(s) lost where the file is damaged")[0])
    assert 40 <= lost <= 44  # 48 frames promised, about 5 read (the encoder may hold the last ones back)


def test_an_odd_sized_video_keeps_its_size_and_gets_colors(tmp_path):
    """4:2:0 needs even sides; a 101x57 clip is colorized in 4:4:4 at its own size instead of refused."""
    import ganforge
    from ganforge.video import VideoOptions, colorize_video

    make_video(tmp_path / "odd.mp4", frames=6, size=(101, 57), audio=False, pixels="yuv444p")  # 4:2:0 cannot hold it
    colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3}))
    report = colorize_video(colorizer, tmp_path / "odd.mp4", tmp_path / "out.mp4", VideoOptions(batch_size=4))
    with av.open(str(tmp_path / "out.mp4")) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert report.frames == len(frames) == 6 and frames[0].shape == (57, 101, 3)
    assert np.abs(frames[0].astype(int) - frames[0].mean(2, keepdims=True)).max() > 2  # not gray: colors were laid in
