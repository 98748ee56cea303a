"""`ganforge app`: the page's functions, the served page driven over HTTP, and the page rendered in Chromium."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.evaluation.browser import find_browser, screenshot

from .helpers import checkpoint

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from ganforge.app import ColorizeApp, check_port, start  # noqa: E402

ZHANG = {"name": "zhang", "backbone": {"name": "unet", "width": 8, "depth": 2}, "features": 16}


@pytest.fixture(autouse=True)
def _no_analytics(monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "uploads"
    folder.mkdir()
    Image.fromarray(rng.integers(0, 255, (45, 70), dtype=np.uint8), "L").save(folder / "old.png")
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(folder / "color.jpg")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_the_page_colorizes_uploads_at_full_resolution_with_confidence_and_skips_non_images(tmp_path, photos):
    app = ColorizeApp(ganforge.load(checkpoint(tmp_path, ZHANG)), tmp_path / "out")
    files = [str(photos / name) for name in ("old.png", "notes.txt", "color.jpg")]
    gallery, downloads, status = app.colorize(files, 0.3, 0.5, 0.5, 1, 64)
    assert [caption for _, caption in gallery] == [
        "old: input", "old: colorized", "old: confidence (white = sure)", "color: input", "color: colorized", "color: confidence (white = sure)",
    ]  # fmt: skip
    assert [Image.open(path).size for path in downloads] == [
        (70, 45),
        (30, 30),
    ]  # full resolution, not the working size
    assert all(Image.open(path).mode == "RGB" for path in downloads)
    assert "Colorized 2 photo(s)" in status and "Skipped 1 file(s) that are not readable images: notes.txt" in status
    assert app.colorize([], 0.3, 0.0, 0.0, 1, 64) == ([], [], "Upload one or more photos first.")


def test_a_noise_model_gives_several_samples_per_photo(tmp_path, photos):
    app = ColorizeApp(
        ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3, "noise": 4})), tmp_path / "out"
    )
    _, downloads, _ = app.colorize([str(photos / "old.png")], None, None, 0.0, 3, 64)
    assert [os.path.basename(p) for p in downloads] == ["old_sample1.png", "old_sample2.png", "old_sample3.png"]
    pixels = [np.asarray(Image.open(p), dtype=int) for p in downloads]
    assert np.abs(pixels[0] - pixels[1]).max() > 0


@pytest.fixture
def served(tmp_path):
    page, url = start(ganforge.load(checkpoint(tmp_path, ZHANG)), "127.0.0.1", 0)
    yield url
    page.close()


@pytest.mark.slow
def test_the_served_page_answers_over_http_with_the_colorized_photo(served, photos):
    client = gradio_client.Client(served, verbose=False)
    gallery, downloads, status = client.predict(
        files=[gradio_client.handle_file(str(photos / "old.png"))], temperature=0.38, vividness=0.0, desaturate_below=0.0, samples=1, size=64,
        api_name="/colorize",
    )  # fmt: skip
    assert "Colorized 1 photo(s)" in status and len(gallery) == 3
    [result] = downloads
    colorized = Image.open(result if isinstance(result, str) else result["path"])
    assert colorized.size == (70, 45) and colorized.mode == "RGB"
    assert np.asarray(colorized, dtype=int).std(axis=2).max() > 0  # channels differ: it has color


needs_browser = pytest.mark.skipif(
    find_browser() is None and not os.environ.get("GANFORGE_REQUIRE_BROWSER"),
    reason="no Chromium here (CI installs it and sets GANFORGE_REQUIRE_BROWSER=1)",
)


@pytest.mark.slow
@needs_browser
def test_the_page_renders_in_chromium(served, tmp_path):
    shot = screenshot(served, tmp_path / "app.png", width=1200, height=900)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10  # text, buttons and panels drawn, not a blank page
    assert (pixels < 128).mean() > 0.005


def test_a_port_in_use_is_one_line_with_exit_code_2(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert check_port("127.0.0.1", 0) > 0


def test_the_video_tab_colorizes_a_clip_and_explains_a_file_that_is_not_one(tmp_path):
    pytest.importorskip("av")
    import av

    from .test_video import make_video

    make_video(tmp_path / "clip.mp4", frames=6)
    app = ColorizeApp(ganforge.load(checkpoint(tmp_path, ZHANG)), tmp_path / "out")
    colorized, status = app.colorize_video(str(tmp_path / "clip.mp4"), 0.7, 32)
    assert status.startswith("Colorized 6 frames")
    with av.open(colorized) as container:
        assert container.streams.video[0].frames in (0, 6) and sum(1 for _ in container.decode(video=0)) == 6
    (tmp_path / "fake.mp4").write_text("not a video")
    assert app.colorize_video(str(tmp_path / "fake.mp4"), 0.7, 32)[0] is None
    assert "Could not colorize the video" in app.colorize_video(str(tmp_path / "fake.mp4"), 0.7, 32)[1]
    assert app.colorize_video(None, 0.7, 32) == (None, "Upload a video first.")
