"""Temporal stability of video colors on clips with known motion: per-frame vs still-pixel vs motion-compensated.

    python benchmarks/video_stability.py [--photos DIR] [--clips 6] [--threads 2]

1. Clips (ganforge.video.clips) made from color photos (``--photos``, default Kodak24 in
   ../shared/data when it is there, else the bundled samples), each a pan, an object
   crossing a background and a zoom with cuts between them, plus the bundled sample clip.
   Each is written as a gray video, colorized by the trained default model through
   ``ganforge colorize``'s video path, and decoded again. Per method: the chroma warp
   error (Cb/Cr code values, mean change along the true motion) on moving pixels, on
   still pixels and overall; colorfulness; AuC against the true colors. Target: motion-
   compensated >= 3x lower warp error on moving pixels than per-frame, AuC within 0.005
   and colorfulness within 5 %.
2. ``ganforge deflicker`` on (a) the true colors made to flicker (each frame's chroma
   turned by a random hue angle of +-``--hue`` degrees) and (b) the default model's
   per-frame output: warp error on moving pixels before and after, and the chroma
   error against the true colors (a) or AuC (b).
3. Speed of ``colorize --realtime`` (random-weight realtime U-Net) at 854x480, 30 fps, per
   stabilizer, as a multiple of real time, and what the flow costs per frame.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ganforge
from ganforge.core.build import build_color_space, build_generator
from ganforge.core.colormath import to_gray
from ganforge.core.config import load_recipe
from ganforge.evaluation import metrics
from ganforge.inference.colorizer import Colorizer
from ganforge.video.clips import (
    SAMPLES,
    Clip,
    hue_flicker,
    load_photo,
    moving_object,
    pan,
    read_video,
    sample_clip,
    write_video,
    zoom,
)
from ganforge.video.flow import FlowEstimator
from ganforge.video.pipeline import VideoOptions, colorize_video, deflicker_video, rgb_to_cbcr
from ganforge.video.temporal import MotionCompensatedSmoother

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "data" / "kodak24"
SIZE = (320, 192)


def photo_clip(first: torch.Tensor, second: torch.Tensor, frames: int, size: tuple[int, int] = SIZE) -> Clip:
    """A pan over ``first``, ``second``'s middle crossing ``first``, a zoom into ``second``."""
    return (
        pan(first, size, frames, (6.0, 2.0))
        + moving_object(first, second, size, frames, (7.0, -1.5), radius=size[1] / 4)
        + zoom(second, size, frames, 0.97)
    )


def scores(frames: torch.Tensor, clip: Clip) -> dict[str, float]:
    cbcr = rgb_to_cbcr(frames)
    error = metrics.warp_error(cbcr, clip.flow)
    still = clip.valid & ~clip.moving
    return {
        "moving": float(error[clip.moving].mean()),
        "still": float(error[still].mean()),
        "all": float(error[clip.valid].mean()),
        "colorfulness": float(metrics.colorfulness(frames).mean()),
        "auc": float(metrics.auc(frames, clip.frames).mean()),
        "cbcr_error": float((cbcr - rgb_to_cbcr(clip.frames)).abs().mean()),
    }


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def print_table(title: str, rows: dict[str, dict[str, float]], baseline: str, keys: tuple[str, ...]) -> None:
    print(f"\n{title}")
    header = {"moving": "warp err moving", "still": "warp err still", "all": "warp err all", "colorfulness": "colorfulness",
              "auc": "AuC", "cbcr_error": "CbCr err vs true"}  # fmt: skip
    print(f"{'method':<34}" + "".join(f"{header[k]:>17}" for k in keys) + f"{'moving: x steadier':>20}")
    for name, row in rows.items():
        ratio = rows[baseline]["moving"] / row["moving"]
        print(f"{name:<34}" + "".join(f"{row[k]:17.3f}" for k in keys) + f"{ratio:19.2f}x")


def speed(tmp: Path, seconds: float) -> None:
    recipe = load_recipe(REPO / "recipes" / "realtime.yaml")
    color_space = build_color_space(recipe)
    photo = load_photo(SAMPLES / "astronaut.jpg")
    big = torch.nn.functional.interpolate(photo[None], scale_factor=2.4, mode="bilinear", align_corners=False)[0]
    frames = int(30 * seconds)
    clip = pan(big, (854, 480), frames, (3.0, 1.0))
    source = tmp / "speed.mp4"
    write_video(source, clip.frames, gray=True)
    print(
        f"\n854x480 @ 30 fps, {frames} frames, colorize --realtime (random-weight realtime U-Net), decode + colorize + encode:"
    )
    for label, options in (("per-frame", VideoOptions(realtime=True, smoothing=0.0)),
                           ("still-pixel 0.7", VideoOptions(realtime=True, smoothing=0.7, stabilize="still")),
                           (f"motion-compensated {VideoOptions.smoothing}", VideoOptions(realtime=True))):  # fmt: skip
        colorizer = Colorizer(build_generator(recipe, color_space), color_space, recipe)
        report = colorize_video(colorizer, source, tmp / "speed-out.mp4", options)
        print(f"  {label:<24} {report.speed:5.2f}x real time ({report.frames / report.seconds:5.1f} fps)")
    small = torch.nn.functional.interpolate(to_gray(clip.frames, "rec601"), size=(128, 228), mode="area")[:, 0]
    lumas = [(frame * 255).round().to(torch.uint8).numpy() for frame in small]
    chroma = torch.full((2, 128, 228), 128.0)
    for preset in ("fast", "medium"):
        smoother = MotionCompensatedSmoother(VideoOptions.smoothing, flow=FlowEstimator(preset))
        smoother(small[0][None], chroma)
        start = time.perf_counter()
        for frame in small[1:]:
            smoother(frame[None], chroma)
        per_frame = (time.perf_counter() - start) / (len(small) - 1) * 1000
        flow = FlowEstimator(preset)
        start = time.perf_counter()
        for before, now in zip(lumas, lumas[1:]):
            flow(now, before), flow(before, now)
        flows = (time.perf_counter() - start) / (len(lumas) - 1) * 1000
        print(f"  motion compensation at the realtime working size (228x128), DIS {preset}: {per_frame:.1f} ms per frame, "
              f"of which the two flows {flows:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photos", type=Path, default=KODAK if KODAK.is_dir() else SAMPLES, help="color photos the clips are made from"
    )
    parser.add_argument("--clips", type=int, default=6, help="clips made from --photos (two photos each)")
    parser.add_argument("--frames", type=int, default=16, help="frames per shot")
    parser.add_argument("--hue", type=float, default=20.0, help="deflicker: largest random hue turn per frame, degrees")
    parser.add_argument(
        "--weights",
        type=float,
        nargs="+",
        default=[VideoOptions.smoothing],
        help="motion-compensated smoothing weights to measure",
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the speed clip")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--speed-only", action="store_true", help="only section 3")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.speed_only:
        with tempfile.TemporaryDirectory() as tmp:
            speed(Path(tmp), args.seconds)
        return
    paths = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    clips = [photo_clip(load_photo(paths[2 * i % len(paths)]), load_photo(paths[(2 * i + 1) % len(paths)]), args.frames)
             for i in range(args.clips)]  # fmt: skip
    clips.append(sample_clip(SIZE, args.frames))
    methods = {
        "per-frame": VideoOptions(smoothing=0.0),
        "still-pixel 0.7 (before)": VideoOptions(smoothing=0.7, stabilize="still"),
    }
    methods.update({f"motion-compensated {w}": VideoOptions(smoothing=w) for w in args.weights})
    methods["motion-compensated, --realtime"] = VideoOptions(realtime=True)  # its cheaper flow and encoder preset
    colorizer = ganforge.load("default")
    results: dict[str, list] = {name: [] for name in methods}
    deflickered: dict[str, list] = {name: [] for name in ("true colors", "true colors, hue flicker", "deflicker (still 0.7)",
                                                          f"deflicker (motion {args.weights[-1]})")}  # fmt: skip
    own: dict[str, list] = {name: [] for name in ("per-frame", "per-frame, then deflicker")}
    print(f"{len(clips)} clips of {clips[0].frames.shape[-1]}x{clips[0].frames.shape[-2]}, {len(clips[0])} frames; "
          f"moving pixels {float(torch.stack([c.moving.float().mean() for c in clips]).mean()):.0%} of all", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for index, clip in enumerate(clips):
            gray = tmp / f"gray-{index}.mp4"
            write_video(gray, clip.frames, gray=True)
            for name, options in methods.items():
                out = tmp / f"{index}-{name.replace(' ', '_').replace(',', '')}.mp4"
                colorize_video(colorizer, gray, out, options)
                results[name].append(scores(read_video(out), clip))
            flickering = tmp / f"flicker-{index}.mp4"
            write_video(flickering, hue_flicker(clip.frames, args.hue, seed=index), gray=False)
            truth = tmp / f"truth-{index}.mp4"
            write_video(truth, clip.frames, gray=False)
            deflickered["true colors"].append(scores(read_video(truth), clip))
            deflickered["true colors, hue flicker"].append(scores(read_video(flickering), clip))
            for name, options in ((f"deflicker (motion {args.weights[-1]})", VideoOptions(smoothing=args.weights[-1])),
                                  ("deflicker (still 0.7)", VideoOptions(smoothing=0.7, stabilize="still"))):  # fmt: skip
                deflicker_video(flickering, tmp / "steady.mp4", options)
                deflickered[name].append(scores(read_video(tmp / "steady.mp4"), clip))
            deflicker_video(tmp / f"{index}-per-frame.mp4", tmp / "own.mp4", VideoOptions(smoothing=args.weights[-1]))
            own["per-frame"].append(results["per-frame"][-1])
            own["per-frame, then deflicker"].append(scores(read_video(tmp / "own.mp4"), clip))
            print(f"clip {index + 1}/{len(clips)} done", flush=True)
        table = {name: mean_scores(rows) for name, rows in results.items()}
        print_table(
            "colorize (trained default model), mean over clips",
            table,
            "per-frame",
            ("moving", "still", "all", "colorfulness", "auc"),
        )
        base = table["per-frame"]
        for name, row in table.items():
            if name.startswith("motion"):
                print(f"{name}: moving {base['moving'] / row['moving']:.2f}x steadier (target >= 3x), AuC {row['auc'] - base['auc']:+.4f} "
                      f"(target within 0.005), colorfulness {row['colorfulness'] / base['colorfulness'] - 1:+.1%} (target within 5 %)")  # fmt: skip
        print_table(f"deflicker: true colors with hue flicker of +-{args.hue:g} degrees", {n: mean_scores(r) for n, r in deflickered.items()},
                    "true colors, hue flicker", ("moving", "still", "all", "cbcr_error"))  # fmt: skip
        print_table("deflicker: the default model's per-frame output", {n: mean_scores(r) for n, r in own.items()},
                    "per-frame", ("moving", "still", "all", "colorfulness", "auc"))  # fmt: skip
        speed(tmp, args.seconds)


if __name__ == "__main__":
    main()
