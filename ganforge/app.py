"""``ganforge app``: a local web page on a loaded model (Gradio, the ``app`` extra).

Upload one or many photos and see each beside its colorization and, for models
that have one, the confidence map; download the results at full resolution.
Sliders set what the Python API takes: vividness and the annealed-mean temperature
(classification models), fading unsure colors toward gray, diverse samples (noise
models) and the working size.
A second tab colorizes short video clips. The server binds to 127.0.0.1 unless
told otherwise: what a user uploads stays on their machine. Every control is
also an HTTP endpoint (``/colorize``, ``/colorize_video``) for ``gradio_client``.
"""

from __future__ import annotations

import logging
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any

from ganforge.core.choices import VIVIDNESS_RANGE
from ganforge.core.errors import UsageError
from ganforge.core.images import UnreadableImage, open_image
from ganforge.data.sources import open_source
from ganforge.inference.colorizer import Colorizer
from ganforge.video.pipeline import VideoOptions

log = logging.getLogger(__name__)

EXAMPLES = "builtin:samples"


def _require_gradio() -> Any:
    try:
        import gradio
    except ImportError:
        raise UsageError("ganforge app needs Gradio: pip install 'ganforge[app]'") from None
    return gradio


def check_port(host: str, port: int) -> int:
    """``port`` if it is free on ``host`` (0: any free one); a one-line usage error when it is taken.

    IPv6 addresses are refused: Gradio writes its URLs as ``host:port``, which an IPv6 address breaks.
    """
    if ":" in host:
        raise UsageError(
            f"--host '{host}' is an IPv6 address, and the app serves on IPv4 only; pass 127.0.0.1, or 0.0.0.0 for every interface"
        )
    with socket.socket(socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port, or --port 0 for any free one"
            ) from None
        return probe.getsockname()[1]


class ColorizeApp:
    """What the page's controls do, on one loaded model; results go to a private folder served back to the page."""

    def __init__(self, colorizer: Colorizer, out_dir: Path | None = None) -> None:
        self.colorizer = colorizer
        self.out_dir = out_dir or Path(tempfile.mkdtemp(prefix="ganforge-app-"))
        self.has_decoding = colorizer.backend == "torch" and hasattr(
            colorizer.generator, "temperature"
        )  # a classification model
        self.has_confidence = colorizer.has_confidence

    def colorize(
        self,
        files: list[str] | None,
        temperature: float | None,
        vividness: float | None,
        desaturate_below: float,
        samples: int,
        size: int,
    ) -> tuple[list[tuple[str, str]], list[str], str]:
        """Colorize the uploaded files: gallery items (picture, caption), full-resolution results to download,
        and a status line naming what was skipped."""
        if not files:
            return [], [], "Upload one or more photos first."
        options = {
            "size": int(size), "desaturate_below": desaturate_below or None,
            "temperature": temperature if self.has_decoding else None,
            "vividness": vividness if self.has_decoding else None,
        }  # fmt: skip
        request = self.out_dir / uuid.uuid4().hex[:12]
        request.mkdir(parents=True)
        gallery, downloads, skipped = [], [], []
        for file in files:
            path = Path(file)
            try:
                image = open_image(path)
            except UnreadableImage as exc:
                skipped.append(f"{path.name} ({exc})")
                continue
            stem = path.stem
            gallery.append((str(path), f"{stem}: input"))
            results = (
                self.colorizer.sample(image, int(samples), **options) if self.colorizer.noise_dim and samples > 1
                else [self.colorizer(image, **options)]
            )  # fmt: skip
            for i, result in enumerate(results, start=1):
                target = request / (f"{stem}_colorized.png" if len(results) == 1 else f"{stem}_sample{i}.png")
                result.save(target)
                gallery.append((str(target), f"{stem}: colorized" + (f" (sample {i})" if len(results) > 1 else "")))
                downloads.append(str(target))
            if self.has_confidence:
                confidence = request / f"{stem}_confidence.png"
                self.colorizer.confidence(image, size=int(size)).save(confidence)
                gallery.append((str(confidence), f"{stem}: confidence (white = sure)"))
        status = f"Colorized {len(files) - len(skipped)} photo(s)."
        if skipped:
            status += f" Skipped {len(skipped)} file(s) that are not readable images: {', '.join(skipped)}."
        return gallery, downloads, status

    def colorize_video(self, video: str | None, smoothing: float, size: int) -> tuple[str | None, str]:
        """Colorize an uploaded clip; the colorized clip and a status line."""
        from ganforge.video.pipeline import colorize_video

        if not video:
            return None, "Upload a video first."
        source = Path(video)
        target = self.out_dir / uuid.uuid4().hex[:12] / f"{source.stem}_colorized{source.suffix or '.mp4'}"
        target.parent.mkdir(parents=True)
        try:
            report = colorize_video(self.colorizer, source, target, VideoOptions(size=int(size), smoothing=smoothing))
        except UsageError as exc:
            return None, f"Could not colorize the video: {exc}"
        return str(target), f"Colorized {report.summary()}."


def build_app(colorizer: Colorizer, title: str = "ganforge") -> Any:
    """The Gradio page for ``colorizer``."""
    gr = _require_gradio()
    app = ColorizeApp(colorizer)
    examples = open_source(EXAMPLES, "examples")
    temperature = float(getattr(colorizer.generator, "temperature", 0.38))
    vividness = float(getattr(colorizer.generator, "vividness", 0.0))
    with gr.Blocks(title=title, analytics_enabled=False) as page:
        gr.Markdown(
            f"# ganforge: colorize black-and-white photos\nModel: `{colorizer.recipe.name}` ({colorizer.backend}). "
            "Photos stay on this machine."
        )
        with gr.Tab("Photos"):
            with gr.Row():
                with gr.Column(scale=1):
                    files = gr.File(label="Photos", file_count="multiple", file_types=["image"])
                    vividness_slider = gr.Slider(
                        *VIVIDNESS_RANGE,
                        value=vividness,
                        step=0.05,
                        label="Vividness (higher: bolder, rarer colors, more often wrong)",
                        visible=app.has_decoding,
                    )
                    temperature_slider = gr.Slider(
                        0.05,
                        1.0,
                        value=temperature,
                        step=0.01,
                        label="Temperature (lower: commit to the likeliest color; higher: blend the candidates)",
                        visible=app.has_decoding,
                    )
                    desaturate = gr.Slider(
                        0.0,
                        1.0,
                        value=0.0,
                        step=0.05,
                        label="Fade colors toward gray where confidence is below",
                        visible=app.has_confidence,
                    )
                    samples = gr.Slider(
                        1,
                        8,
                        value=1,
                        step=1,
                        label="Diverse colorizations per photo",
                        visible=bool(colorizer.noise_dim),
                    )
                    size = gr.Slider(
                        64, 1024, value=colorizer.recipe.data.size, step=16, label="Working size (short side, px)"
                    )
                    run = gr.Button("Colorize", variant="primary")
                    gr.Examples(
                        [[[examples.describe(i)]] for i in range(len(examples))],
                        inputs=[files],
                        label="Or try a bundled photo",
                    )
                with gr.Column(scale=2):
                    gallery = gr.Gallery(label="Input, colorized, confidence", columns=3, height="auto")
                    downloads = gr.File(label="Full-resolution results", file_count="multiple")
                    status = gr.Markdown()
            run.click(
                app.colorize,
                [files, temperature_slider, vividness_slider, desaturate, samples, size],
                [gallery, downloads, status],
                api_name="colorize",
            )
        with gr.Tab("Video"):
            with gr.Row():
                with gr.Column():
                    clip = gr.Video(label="A short clip", sources=["upload"])
                    smoothing = gr.Slider(
                        0.0, 0.95, value=VideoOptions.smoothing, step=0.01, label="Temporal smoothing of colors"
                    )
                    video_size = gr.Slider(
                        64, 512, value=colorizer.recipe.data.size, step=16, label="Working size (short side, px)"
                    )
                    run_video = gr.Button("Colorize video", variant="primary")
                with gr.Column():
                    colorized = gr.Video(label="Colorized")
                    video_status = gr.Markdown()
            run_video.click(
                app.colorize_video, [clip, smoothing, video_size], [colorized, video_status], api_name="colorize_video"
            )
    return page


def start(colorizer: Colorizer, host: str = "127.0.0.1", port: int = 7860) -> tuple[Any, str]:
    """Serve the page on ``host:port`` in the background (``port`` 0: any free one); the Gradio app and its URL.
    ``app.block_thread()`` then waits until Ctrl+C, ``app.close()`` stops it."""
    page = build_app(colorizer)
    port = check_port(host, port)
    page.launch(server_name=host, server_port=port, prevent_thread_lock=True, share=False, quiet=True, show_error=True)
    return page, f"http://{host}:{port}/"
