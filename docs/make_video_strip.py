"""Draw docs/video_strip.png: per-frame colors against still-pixel and motion-compensated smoothing.

    python docs/make_video_strip.py [--checkpoint default] [--out docs/video_strip.png]

The bundled sample clip (ganforge.video.clips.sample_clip: three shots made from the
sample photos, with known motion) is written as a gray video and colorized through
``ganforge colorize``'s video path three ways. Rows: the methods; columns: four
frames of the shot where a cat crosses a rocket, then how much each pixel's color
changed along the true motion over that shot (the warp error, brighter = more
flicker; black where no true match exists, e.g. behind the moving cat).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib
import torch

import ganforge
from ganforge.evaluation import metrics
from ganforge.training.plots import sample_grid, save_image
from ganforge.video.clips import read_video, sample_clip, write_video
from ganforge.video.pipeline import VideoOptions, colorize_video, rgb_to_cbcr

REPO = Path(__file__).resolve().parents[1]
SHOT = range(12, 24)  # the second shot of sample_clip(frames_per_shot=12)
SHOWN = (14, 17, 20, 23)
FOLLOWING = list(SHOT)[1:]  # the shot's frames that have a predecessor in it
METHODS = {
    "per-frame": VideoOptions(smoothing=0.0),
    "still-pixel 0.7": VideoOptions(smoothing=0.7, stabilize="still"),
    f"motion-compensated {VideoOptions.smoothing}\n(default)": VideoOptions(),
}


def heat(error: torch.Tensor, clip_valid: torch.Tensor, top: float = 6.0) -> torch.Tensor:
    """Mean warp error over the shot, ``(H, W)`` -> ``(3, H, W)`` magma colors, 0 to ``top`` code values."""
    valid = clip_valid[FOLLOWING]
    mean = (error[FOLLOWING] * valid).sum(0) / valid.sum(0).clamp_min(1)
    colors = matplotlib.colormaps["magma"]((mean / top).clamp(0, 1).numpy())[..., :3]
    return torch.from_numpy(colors).permute(2, 0, 1).float() * (valid.any(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "video_strip.png")
    args = parser.parse_args()
    clip = sample_clip((256, 160), frames_per_shot=12)
    colorizer = ganforge.load(args.checkpoint)
    rows, labels = [], []
    with tempfile.TemporaryDirectory() as tmp:
        gray = Path(tmp) / "gray.mp4"
        write_video(gray, clip.frames, gray=True)
        for label, options in METHODS.items():
            colorize_video(colorizer, gray, Path(tmp) / "out.mp4", options)
            frames = read_video(Path(tmp) / "out.mp4")
            error = metrics.warp_error(rgb_to_cbcr(frames), clip.flow)
            moving = float(error[FOLLOWING][clip.moving[FOLLOWING]].mean())
            rows.append([frames[t] for t in SHOWN] + [heat(error, clip.valid)])
            labels.append(f"{label}\nflicker on moving\npixels: {moving:.2f}")
    columns = {f"frame {t - SHOT[0]}": torch.stack([row[i] for row in rows]) for i, t in enumerate(SHOWN)}
    columns["color change along the motion (0-6 Cb/Cr code values)"] = torch.stack([row[-1] for row in rows])
    print(f"wrote {save_image(sample_grid(columns, row_labels=labels), args.out)}")


if __name__ == "__main__":
    main()
