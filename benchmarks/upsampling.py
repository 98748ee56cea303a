"""Edge-aware (guided) against bilinear upsampling of predicted chroma, at full resolution.

    python benchmarks/upsampling.py [CHECKPOINT] [--data imagefolder:../shared/data/kodak24] [--size 128]

Each photo is colorized once at the working resolution ``--size`` (short side);
the same predicted chroma is then brought to the photo's full resolution both
ways and laid over the original lightness. Scored against the original photo:
AuC and PSNR over all pixels, and the ab error on *edge* pixels (where the
lightness changes by more than 10 L* units to a neighbour, i.e. where color
bleeds). Writes ``upsampling.png`` beside ``-o``: a crop of each way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import ganforge
from ganforge.core.choices import UPSAMPLING
from ganforge.core.colormath import gray_with_chroma, rgb_to_lab, to_gray
from ganforge.core.images import to_tensor
from ganforge.data.sources import open_source
from ganforge.evaluation.metrics import ab_error, auc, psnr
from ganforge.inference.upsample import GUIDED_EPS, GUIDED_RADIUS, upsample_chroma
from ganforge.training.plots import sample_grid, save_image


def edge_mask(rgb: torch.Tensor, step: float = 10.0) -> torch.Tensor:
    """Pixels whose L* differs from a 4-neighbour by more than ``step``, ``(B, H, W)``."""
    lightness = rgb_to_lab(rgb)[:, 0]
    mask = torch.zeros_like(lightness, dtype=torch.bool)
    dy = (lightness[:, 1:] - lightness[:, :-1]).abs() > step
    dx = (lightness[:, :, 1:] - lightness[:, :, :-1]).abs() > step
    mask[:, 1:] |= dy
    mask[:, :-1] |= dy
    mask[:, :, 1:] |= dx
    mask[:, :, :-1] |= dx
    return mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default="default")
    parser.add_argument("--data", default="imagefolder:../shared/data/kodak24")
    parser.add_argument(
        "--size", type=int, default=None, help="working resolution (default: the model's training size)"
    )
    parser.add_argument(
        "--radius", type=int, default=GUIDED_RADIUS, help=f"guided filter radius (default {GUIDED_RADIUS})"
    )
    parser.add_argument("--eps", type=float, default=GUIDED_EPS, help=f"guided filter eps (default {GUIDED_EPS})")
    parser.add_argument("-o", "--output", default="upsampling.png", help="where the crop comparison goes")
    args = parser.parse_args()
    torch.manual_seed(0)

    colorizer = ganforge.load(args.checkpoint)
    source = open_source(args.data, "--data")
    own_gray = colorizer.gray_conversion
    scores: dict[str, dict[str, list[float]]] = {
        way: {"auc": [], "psnr": [], "edge ab error": []} for way in UPSAMPLING
    }
    crops: dict[str, list[torch.Tensor]] = {"gray input": [], **{way: [] for way in UPSAMPLING}, "original": []}
    for index in tqdm(range(len(source)), desc="photos", unit="photo"):
        truth = to_tensor(source.load(index).convert("RGB"))[None]
        gray = to_gray(truth, own_gray)
        ab, gray_low = colorizer.working_chroma(gray, size=args.size)
        edges = edge_mask(truth)
        for way in UPSAMPLING:
            rgb = gray_with_chroma(gray, upsample_chroma(ab, gray_low, gray, way, args.radius, args.eps))
            scores[way]["auc"].append(float(auc(rgb, truth)))
            scores[way]["psnr"].append(float(psnr(rgb, truth)))
            scores[way]["edge ab error"].append(float(ab_error(rgb, truth)[edges].mean()))
            if index < 4:
                crops[way].append(F.interpolate(rgb[..., :192, :192], size=(384, 384), mode="nearest")[0])
        if index < 4:
            crops["gray input"].append(
                F.interpolate(gray[..., :192, :192], size=(384, 384), mode="nearest")[0].expand(3, -1, -1)
            )
            crops["original"].append(F.interpolate(truth[..., :192, :192], size=(384, 384), mode="nearest")[0])

    means = {way: {k: sum(v) / len(v) for k, v in s.items()} for way, s in scores.items()}
    print(
        f"{args.data}: {len(source)} photos at full resolution, chroma predicted at {args.size or colorizer.recipe.data.size} px"
    )
    print(f"{'upsampling':<10} {'AuC':>8} {'PSNR':>8} {'edge ab error':>14}")
    for way, values in means.items():
        print(f"{way:<10} {values['auc']:8.4f} {values['psnr']:8.2f} {values['edge ab error']:14.2f}")
    guided, bilinear = means["guided"], means["bilinear"]
    print(f"guided vs bilinear: AuC {guided['auc'] - bilinear['auc']:+.4f}, PSNR {guided['psnr'] - bilinear['psnr']:+.2f} dB, "
          f"edge ab error x{guided['edge ab error'] / bilinear['edge ab error']:.3f}")  # fmt: skip
    save_image(sample_grid({k: torch.stack(v) for k, v in crops.items()}), Path(args.output))
    print(f"wrote {args.output} (top-left 192 px of the first photos, enlarged 2x)")


if __name__ == "__main__":
    main()
