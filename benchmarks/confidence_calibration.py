"""Does confidence mean what it says? Predicted confidence against how often the color shown is right.

    python benchmarks/confidence_calibration.py [CHECKPOINT] [--data SOURCE] [--images 200] [--size 128]
                                                [--out docs/confidence_calibration.png] [--fit]

A pixel's confidence claims the chance that its true color lies within 15 ab
units of the color shown (``ganforge.inference.colorizer.CONFIDENCE_RADIUS``). Over the
pixels of held-out photographs (made gray, colorized, compared with the
originals at the working resolution) this prints, per confidence decile, the
mean claimed confidence beside the share of pixels that really are that close,
and the expected calibration error (the pixel-weighted mean gap). A
reliability diagram is written to ``--out``: bars on the diagonal are honest.

``--fit`` (classification models) first tries confidence temperatures from 0.3
to 1.5, keeps the one with the lowest calibration error, reports with it and
prints the ``ganforge export --confidence-temperature`` that ships it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

import ganforge
from ganforge.core.colormath import rgb_to_lab, to_gray
from ganforge.data.crops import load_eval_images
from ganforge.inference.colorizer import CONFIDENCE_RADIUS
from ganforge.training.plots import save_image

BINS = 10
FIT_TEMPERATURES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 1.5)


def reliability(
    colorizer: ganforge.Colorizer, truth: torch.Tensor, batch_size: int = 16
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per confidence decile: mean claimed confidence, share of pixels within the radius, pixel count."""
    claimed, hits, counts = torch.zeros(BINS), torch.zeros(BINS), torch.zeros(BINS)
    conversion = colorizer.gray_conversion
    for start in tqdm(range(0, len(truth), batch_size), desc="colorizing", unit="batch"):
        originals = truth[start : start + batch_size]
        gray = to_gray(originals, conversion)
        shown = rgb_to_lab(colorizer(gray))[:, 1:]
        confidence = colorizer.confidence(gray).flatten()
        near = ((shown - rgb_to_lab(originals)[:, 1:]).pow(2).sum(1).flatten() <= CONFIDENCE_RADIUS**2).float()
        decile = (confidence * BINS).long().clamp(max=BINS - 1)
        claimed += torch.zeros(BINS).index_add(0, decile, confidence)
        hits += torch.zeros(BINS).index_add(0, decile, near)
        counts += torch.bincount(decile, minlength=BINS).float()
    occupied = counts.clamp_min(1)
    return claimed / occupied, hits / occupied, counts


def calibration_error(claimed: torch.Tensor, actual: torch.Tensor, counts: torch.Tensor) -> float:
    """Expected calibration error: the pixel-weighted mean gap between claimed and actual, over deciles."""
    return float(((claimed - actual).abs() * counts).sum() / counts.sum())


def diagram(claimed: torch.Tensor, actual: torch.Tensor, counts: torch.Tensor, side: int = 360) -> Image.Image:
    """Bars of the actual share per decile over the diagonal of perfect calibration; bar shade = pixel share."""
    margin = 40
    image = Image.new("RGB", (side + 2 * margin, side + 2 * margin), "white")
    draw = ImageDraw.Draw(image)
    width = side / BINS
    share = counts / counts.sum()
    for i in range(BINS):
        if counts[i] == 0:
            continue
        shade = int(220 - 180 * float(share[i] / share.max()))
        top = margin + side * (1 - float(actual[i]))
        draw.rectangle(
            [margin + i * width + 2, top, margin + (i + 1) * width - 2, margin + side], fill=(shade, shade, 255)
        )
    draw.line([margin, margin + side, margin + side, margin], fill=(200, 0, 0), width=2)
    draw.rectangle([margin, margin, margin + side, margin + side], outline="black")
    draw.text((margin, margin + side + 8), "claimed confidence (deciles) ->", fill="black")
    draw.text(
        (4, 8),
        f"share of pixels within {CONFIDENCE_RADIUS:g} ab units of the true color (red: perfect calibration)",
        fill="black",
    )
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default="default")
    parser.add_argument("--data", default="imagefolder:../shared/data/photos/val", help="held-out color photographs")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=128, help="center crops of this size, colorized at it")
    parser.add_argument("--out", type=Path, default=Path("docs/confidence_calibration.png"))
    parser.add_argument(
        "--fit", action="store_true", help="find the confidence temperature with the lowest calibration error"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    colorizer = ganforge.load(args.checkpoint)
    images = load_eval_images(args.data, size=args.size, count=args.images, upscale=True)
    if args.fit:
        errors = {}
        for temperature in FIT_TEMPERATURES:
            colorizer.generator.confidence_temperature = temperature
            errors[temperature] = calibration_error(*reliability(colorizer, images.truth))
            print(f"confidence temperature {temperature:.2f}: calibration error {errors[temperature]:.3f}", flush=True)
        colorizer.generator.confidence_temperature = min(errors, key=errors.get)
    claimed, actual, counts = reliability(colorizer, images.truth)
    print(f"{args.checkpoint} on {args.data}: {len(images)} photos, {int(counts.sum())} pixels\n")
    print("| confidence | mean claimed | share within radius | pixels |\n|---|---:|---:|---:|")
    for i in range(BINS):
        print(
            f"| {i / BINS:.1f}-{(i + 1) / BINS:.1f} | {claimed[i]:.3f} | {actual[i]:.3f} | {counts[i] / counts.sum():.1%} |"
        )
    overall = float((actual * counts).sum() / counts.sum())
    error = calibration_error(claimed, actual, counts)
    print(
        f"\nexpected calibration error {error:.3f}; pixels within {CONFIDENCE_RADIUS:g} ab units overall: {overall:.1%}"
    )
    if args.fit:
        best = colorizer.generator.confidence_temperature
        print(f"to ship it: ganforge export MODEL -o OUT --confidence-temperature {best:g}")
    save_image(diagram(claimed, actual, counts), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
