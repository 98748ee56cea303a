"""A reference photo against none: colors of one photo steered by another of the same kind of scene.

    python benchmarks/reference.py [CHECKPOINT] [--pairs 12] [--strength 0.5 1 2] [--out docs/reference_strip.jpg]

Pairs are two photos of one category of a held-out set (``everyday/val``: faces, food, grocery
shelves, scenes, streets...; ``unseen/pets``: cats and dogs): the first is colorized, the second is
its reference. Each pair is scored (256 px center crops) without a reference and at each
``--strength``: AuC, PSNR, colorfulness ratio, beside the gray baseline; and, as a control, with the
reference of *another* category, which should help less or hurt. ``--out`` writes a strip of a few
pairs to look at: reference, gray input, no reference, with the reference, original.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from held_out import SHARED
from PIL import Image
from tqdm.auto import tqdm

import ganforge
from ganforge.core.colormath import to_gray
from ganforge.core.images import normalise_mode, to_tensor
from ganforge.data.crops import EvalImages
from ganforge.data.sources import center_crop
from ganforge.evaluation.evaluate import GRAY, MODEL, metric_directions, score_prediction
from ganforge.evaluation.report import Table
from ganforge.training.plots import sample_grid, save_image

METRICS = ["auc", "psnr", "colorfulness_ratio"]


def pairs(count: int) -> list[tuple[str, Path, Path]]:
    """(category, photo, reference): consecutive photos of each category folder, ``count`` per set."""
    found = []
    for root in (SHARED / "everyday" / "val", SHARED / "unseen"):
        folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name != "streets")
        per_folder = max(1, count // len(folders))
        for folder in folders:
            files = sorted(folder.iterdir())
            found += [(folder.name, files[2 * i], files[2 * i + 1]) for i in range(min(per_folder, len(files) // 2))]
    return found


def crop(path: Path) -> torch.Tensor:
    """The photo's 256 px center crop, ``(1, 3, 256, 256)`` in [0, 1]."""
    return to_tensor(center_crop(normalise_mode(Image.open(path)).convert("RGB"), 256))[None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default="default")
    parser.add_argument("--pairs", type=int, default=12, help="pairs per set (spread over its categories)")
    parser.add_argument("--strength", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--out", type=Path, help="a strip of pairs to look at (JPEG or PNG)")
    args = parser.parse_args()
    colorizer = ganforge.load(args.checkpoint)
    chosen = pairs(args.pairs)
    photos = torch.cat([crop(path) for _, path, _ in chosen])
    references = torch.cat([crop(ref) for _, _, ref in chosen])
    others = references.roll(len(chosen) // 2, 0)  # a reference from another category (the list is grouped)
    images = EvalImages("pairs", 256, photos, None, [str(path) for _, path, _ in chosen])
    gray = to_gray(photos, colorizer.gray_conversion)
    rows, columns = {}, {"reference": references, "gray input": gray.expand(-1, 3, -1, -1)}
    settings = {"no reference": (None, 0.0), **{f"reference, strength {s:g}": (references, s) for s in args.strength}}
    settings["another category's reference, strength 1"] = (others, 1.0)
    for name, (given, strength) in tqdm(settings.items(), desc="settings"):
        predicted = torch.cat([
            colorizer(gray[i : i + 1], reference=None if given is None else given[i : i + 1], reference_strength=strength)
            for i in range(len(chosen))
        ])  # fmt: skip
        result = score_prediction(images, predicted, metrics=METRICS, baselines=given is None)
        rows[name] = result.table[MODEL]
        rows.update({GRAY: result.table[GRAY]} if GRAY in result.table else {})
        if given is None or (given is references and strength == 1.0):
            columns[name] = predicted
    columns["original"] = photos
    print(f"{len(chosen)} pairs ({', '.join(sorted({c for c, _, _ in chosen}))}), 256 px center crops")
    print(Table(rows, baselines=(GRAY,), **metric_directions(METRICS)).markdown())
    if args.out:
        picks = torch.linspace(0, len(chosen) - 1, min(6, len(chosen))).long()
        save_image(sample_grid({k: v[picks] for k, v in columns.items()}), args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
