"""Draw docs/before_after.png: two models side by side on photos from elsewhere and true black-and-white ones.

    python docs/make_before_after.py BEFORE.safetensors AFTER.safetensors [--out docs/before_after.png]
                                     [--labels "previous default" "new default"]

Rows: 4 Oxford-IIIT pets and 3 CamVid street frames (``unseen/``: sources no training folder holds),
3 Kodak photos (when ``../shared/data`` is there) and the bundled true black-and-white photographs,
12 in all; columns: gray input | BEFORE | AFTER | the original colors (blank for photographs that never
had any). Every photo is a 256 px center crop colorized at each model's own working size. The previous
default is in git history: ``git show REV:ganforge/models/default.safetensors > before.safetensors``.
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

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PICKS = {  # every n-th photo of a sorted folder: a spread, not a choice
    "unseen/pets": (4, 97),
    "unseen/streets": (3, 31),
    "kodak24": (3, 7),
}


def photos() -> list[tuple[torch.Tensor, bool]]:
    """(256 px crop in [0, 1], whether it was ever in color) for each row."""
    rows = []
    for folder, (count, step) in PICKS.items():
        files = sorted((SHARED / folder).iterdir()) if (SHARED / folder).is_dir() else []
        rows += [(crop(path), True) for path in files[::step][:count]]
    rows += [(crop(path), False) for path in sorted(TRUE_BW_DIR.glob("*.png"))][: 12 - len(rows)]
    return rows


def crop(path: Path) -> torch.Tensor:
    return to_tensor(center_crop(normalise_mode(open_image(path)).convert("RGB"), 256))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--labels", nargs=2, default=["previous default", "new default"])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("before_after.png"))
    args = parser.parse_args()
    rows = photos()
    truth = torch.stack([pixels for pixels, _ in rows])
    columns = {"gray input": to_gray(truth).expand(-1, 3, -1, -1)}
    for label, checkpoint in zip(args.labels, (args.before, args.after)):
        colorizer = ganforge.load(checkpoint)
        columns[label] = torch.cat([colorizer(to_gray(pixels[None], colorizer.gray_conversion)) for pixels, _ in rows])
    columns["original"] = torch.stack([pixels if color else torch.ones_like(pixels) for pixels, color in rows])
    save_image(sample_grid(columns), args.out)
    print(f"wrote {args.out}: {len(rows)} photos")


if __name__ == "__main__":
    main()
