"""What points of color buy a hint model: PSNR and AuC against the number of points, placed at random or
where the model is least sure.

    python benchmarks/hints.py HINT_MODEL [--data SOURCE ...] [--images 100] [--points 0 1 2 5 10 20 50]
                               [--out docs/hints.png]

Each point is the mean true color of the 3x3 patch under it, as a user who knows the color would give
it (``Hint(x, y, color, radius=1)``). *random*: uniformly over the photo; *least sure*: the pixels the
model's own confidence map ranks lowest, 8 px apart. 256 px center crops of the held-out sets
(``benchmarks/held_out.py``). ``--out``: PSNR against points, one line per set and placement.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from held_out import add_held_out_options  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import ganforge  # noqa: E402
from ganforge.core.colormath import to_gray  # noqa: E402
from ganforge.data.crops import load_eval_images  # noqa: E402
from ganforge.evaluation.evaluate import MODEL, score_prediction  # noqa: E402
from ganforge.inference.steering import Hint  # noqa: E402

SPACING = 8  # px between least-sure points


def points(truth: torch.Tensor, count: int, order: np.ndarray) -> list[Hint]:
    """``count`` hints at the first positions of ``order`` (flat pixel indices), each the 3x3 mean there."""
    _, height, width = truth.shape
    hints = []
    for flat in order[:count]:
        y, x = divmod(int(flat), width)
        patch = truth[:, max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].reshape(3, -1).mean(1)
        hints.append(Hint(x, y, tuple(int(round(float(c) * 255)) for c in patch), radius=1))  # type: ignore[arg-type]
    return hints


def least_sure(confidence: torch.Tensor, count: int) -> np.ndarray:
    """Flat indices of the least confident pixels, greedily at least SPACING px apart."""
    height, width = confidence.shape
    chosen: list[int] = []
    for flat in confidence.flatten().argsort().tolist():
        y, x = divmod(flat, width)
        if all(max(abs(y - cy), abs(x - cx)) >= SPACING for cy, cx in (divmod(c, width) for c in chosen)):
            chosen.append(flat)
        if len(chosen) == count:
            break
    return np.array(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_held_out_options(parser, images=100)
    parser.add_argument("--points", type=int, nargs="+", default=[0, 1, 2, 5, 10, 20, 50])
    parser.add_argument("--out", type=Path, help="the plot (PNG)")
    args = parser.parse_args()
    colorizer = ganforge.load(args.checkpoint)
    rng = np.random.default_rng(0)
    curves: dict[tuple[str, str], list[float]] = {}
    print("| set | placement | " + " | ".join(f"{n} points PSNR / AuC" for n in args.points) + " |")
    print("|---|---|" + "---:|" * len(args.points))
    for spec in args.data:
        images = load_eval_images(spec, size=256, count=args.images, upscale=True)
        assert images.truth is not None
        gray = to_gray(images.truth, colorizer.gray_conversion)
        confidence = colorizer.confidence(gray)[:, 0]
        orders = {
            "random": [rng.permutation(256 * 256) for _ in range(len(images))],
            "least sure": [least_sure(c, max(args.points)) for c in confidence],
        }
        for placement, order in orders.items():
            cells = []
            for count in tqdm(args.points, desc=f"{Path(spec).name} {placement}", leave=False):
                predicted = torch.cat([
                    colorizer(gray[i : i + 1], hints=points(images.truth[i], count, order[i]) or None)
                    for i in range(len(images))
                ])  # fmt: skip
                table = score_prediction(images, predicted, metrics=["psnr", "auc"], baselines=False).table[MODEL]
                curves.setdefault((spec, placement), []).append(table["psnr"])
                cells.append(f"{table['psnr']:.2f} / {table['auc']:.3f}")
            print(f"| {Path(spec.split(':', 1)[1]).name} ({len(images)}) | {placement} | " + " | ".join(cells) + " |")
    if args.out:
        figure, axis = plt.subplots(figsize=(7, 4.5))
        for (spec, placement), values in curves.items():
            axis.plot(
                args.points,
                values,
                marker="o",
                linestyle="-" if placement == "random" else "--",
                label=f"{Path(spec.split(':', 1)[1]).name}, {placement}",
            )
        axis.set_xscale("symlog", linthresh=1)
        axis.set(xlabel="points of color", ylabel="PSNR (dB)", title="What points of color buy")
        axis.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(args.out, dpi=120)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
