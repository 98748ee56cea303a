"""Colors at one working size against several averaged (``colorize --size 128,192``), on held-out photos.

    python benchmarks/working_sizes.py [CHECKPOINT] [--data SOURCE ...] [--images 300] [--sizes 128,160 128,192]

The same 256 px center crops are colorized at the model's own working size and at
each set of ``--sizes`` (the colors predicted at every size averaged, as
``Colorizer(..., size=(128, 192))`` does), and scored beside each other: AuC,
rebalanced AuC, PSNR, colorfulness ratio and color cast, with the change against
the single size. Speed: ``benchmarks/inference.py --sizes-only``.
"""

from __future__ import annotations

import argparse

import torch
from held_out import add_held_out_options

import ganforge
from ganforge.data.crops import load_eval_images
from ganforge.evaluation.evaluate import MODEL, metric_directions, score_prediction
from ganforge.evaluation.report import Table

METRICS = ["auc", "auc_rebalanced", "psnr", "colorfulness_ratio", "color_cast_b"]


def sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_held_out_options(parser)
    parser.add_argument(
        "--sizes",
        type=sizes,
        nargs="+",
        default=[(128, 160), (128, 192)],
        metavar="PX,PX",
        help="sets of working sizes to average",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    colorizer = ganforge.load(args.checkpoint)
    own = colorizer.recipe.data.size
    for source in args.data:
        images = load_eval_images(source, size=256, count=args.images, upscale=True)
        gray = images.gray(colorizer.gray_conversion)
        rows = {}
        for size in [own, *args.sizes]:
            prediction = torch.cat(
                [colorizer(gray[start : start + 16], size=size) for start in range(0, len(gray), 16)]
            )
            label = f"--size {size}" if isinstance(size, int) else "--size " + ",".join(map(str, size))
            rows[label] = score_prediction(images, prediction, metrics=METRICS, baselines=False).table[MODEL]
        single = rows[f"--size {own}"]
        for label, values in list(rows.items())[1:]:
            rows[f"change, {label}"] = {name: values[name] - single[name] for name in METRICS}
        print(f"\n{source}: {len(images)} photos, 256 px center crops\n")
        print(
            Table(
                rows,
                baselines=tuple(label for label in rows if label.startswith("change")),
                **metric_directions(METRICS),
            ).markdown()
        )


if __name__ == "__main__":
    main()
