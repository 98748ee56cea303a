"""Draw docs/gallery.png: the default model on validation photos and true black-and-white ones.

    python docs/make_gallery.py [--checkpoint default] [--val ../shared/data/bsds500/val]
                                [--kodak ../shared/data/kodak24] [--out docs/gallery.png]

Rows: 4 BSDS500 validation photos and 4 Kodak photos (when the folders are
there; the model never trained on either) and the bundled true black-and-white
photographs; columns:
gray input | colorized | confidence (white = sure) | the original colors
(blank for photographs that never had any).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import ganforge
from ganforge.core.colormath import to_gray
from ganforge.core.images import normalise_mode, open_image, to_tensor
from ganforge.data.sources import center_crop
from ganforge.training.plots import sample_grid, save_image
from ganforge_plugins.builtin_data import TRUE_BW_DIR

REPO = Path(__file__).resolve().parents[1]
VAL_PHOTOS = ["3096.jpg", "42049.jpg", "69015.jpg", "210088.jpg"]  # BSDS500 val: plane, eagle, koala, fish
KODAK_PHOTOS = ["kodim03.png", "kodim05.png", "kodim15.png", "kodim23.png"]  # hats, motorbikes, a girl, parrots


def crop(path: Path, side: int = 224) -> torch.Tensor:
    """An RGB center crop (gray photographs repeated over three channels)."""
    return to_tensor(center_crop(normalise_mode(open_image(path)).convert("RGB"), side))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--val", type=Path, default=REPO.parent / "shared" / "data" / "bsds500" / "val")
    parser.add_argument("--kodak", type=Path, default=REPO.parent / "shared" / "data" / "kodak24")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "gallery.png")
    args = parser.parse_args()
    colorizer = ganforge.load(args.checkpoint)
    photos = [args.val / name for name in VAL_PHOTOS if (args.val / name).is_file()]
    photos += [args.kodak / name for name in KODAK_PHOTOS if (args.kodak / name).is_file()]
    photos += sorted(TRUE_BW_DIR.glob("*.png"))
    originals = torch.stack([crop(p) for p in photos])
    gray = to_gray(originals, colorizer.gray_conversion)  # what the model sees
    never_colored = torch.tensor([p.parent == TRUE_BW_DIR for p in photos]).view(-1, 1, 1, 1)
    columns = {
        "gray input": gray.expand(-1, 3, -1, -1),
        "colorized": colorizer(gray),
        "confidence": colorizer.confidence(gray).expand(-1, 3, -1, -1),
        "original (blank: never in color)": torch.where(never_colored, torch.ones_like(originals), originals),
    }
    print(f"wrote {save_image(sample_grid(columns), args.out)}")


if __name__ == "__main__":
    main()
