"""What vividness and temperature trade: colorfulness against accuracy, on held-out photos.

    python benchmarks/vividness.py [CHECKPOINT] [--data SOURCE ...] [--images 300]
                                   [--vividness -0.5 0 0.25 0.5 0.75] [--temperature 0.2 0.3 1.0]
                                   [--semantic WEIGHTS] [--out docs/vividness.png] [--strip docs/vividness_strip.jpg]

A classification model decodes its per-pixel distribution over ab bins with two
knobs. This decodes the same 256 px center crops with each setting, the
vividness values at the model's own temperature and the temperatures at
vividness 0, and prints per data source the metrics beside the gray and
mean-color baselines: AuC, rebalanced AuC, PSNR, colorfulness ratio (1 = as
colorful as the originals), color cast (mean b* the model puts on pixels that are
near-neutral in the original) and, with ``--semantic``, how often an ImageNet
classifier agrees on the colorized photo and the original.

``--out``: per data source, PSNR against colorfulness ratio, one point per
setting, the baselines as lines. ``--strip``: a few photos across the vividness
values, to look at rather than read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from held_out import add_held_out_options

import ganforge
from ganforge.core.colormath import to_gray
from ganforge.data.crops import EvalImages, load_eval_images
from ganforge.evaluation.evaluate import GRAY, MEAN_COLOR, MODEL, baseline_chroma, evaluate, metric_directions
from ganforge.evaluation.report import Table
from ganforge.training.plots import sample_grid, save_image

METRICS = ["auc", "auc_rebalanced", "psnr", "colorfulness_ratio", "color_cast_b"]
STRIP_PHOTOS = 3  # per data source
STRIP_SIZE = 160  # px: the strip is for looking, not measuring


def settings(
    colorizer: ganforge.Colorizer, vividness: list[float], temperatures: list[float]
) -> list[tuple[float, float]]:
    """(temperature, vividness) pairs: the vividness values at the model's temperature, then the temperatures at 0."""
    own = float(colorizer.generator.temperature)
    pairs = [(own, v) for v in vividness] + [(t, 0.0) for t in temperatures]
    return list(dict.fromkeys(pairs))


def sweep(
    colorizer: ganforge.Colorizer,
    images: EvalImages,
    pairs: list[tuple[float, float]],
    metrics: list[str],
    options: dict,
) -> tuple[dict[str, dict[str, float]], dict[tuple[float, float], dict[str, float]]]:
    """The baselines' metrics, and the model's for each (temperature, vividness)."""
    baselines, rows = {}, {}
    for index, (temperature, vividness) in enumerate(pairs):
        evaluation = evaluate(
            colorizer, images, metrics=metrics, temperature=temperature, vividness=vividness,
            mean_chroma=baseline_chroma(colorizer), baselines=index == 0, metric_options=options,
        )  # fmt: skip
        if index == 0:
            baselines = {row: evaluation.table[row] for row in (GRAY, MEAN_COLOR) if row in evaluation.table}
        rows[(temperature, vividness)] = evaluation.table[MODEL]
        print(
            f"  T {temperature:g}, vividness {vividness:g}: "
            + ", ".join(f"{m} {evaluation.table[MODEL][m]:.3f}" for m in metrics),
            flush=True,
        )
    return baselines, rows


def table(
    baselines: dict[str, dict[str, float]], rows: dict[tuple[float, float], dict[str, float]], metrics: list[str]
) -> str:
    """The markdown table ``ganforge eval`` prints, one row per decoding."""
    labelled = {
        f"T {temperature:g}, vividness {vividness:g}": values for (temperature, vividness), values in rows.items()
    }
    return Table({**baselines, **labelled}, baselines=tuple(baselines), **metric_directions(metrics)).markdown()


def plot(results: dict[str, tuple[dict, dict]], own_temperature: float, out: Path) -> None:
    """PSNR against colorfulness ratio per data source: the vividness curve, the temperature curve, the baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4.2), dpi=100, squeeze=False)
    for axis, (source, (baselines, rows)) in zip(axes[0], results.items()):
        for label, keep, key, marker in (
            (f"vividness (T {own_temperature:g})", lambda t, v: t == own_temperature, 1, "o"),
            ("temperature (vividness 0)", lambda t, v: v == 0.0, 0, "s"),
        ):
            points = sorted(((k, r) for k, r in rows.items() if keep(*k)), key=lambda item: item[0][key])
            axis.plot(
                [r["colorfulness_ratio"] for _, r in points], [r["psnr"] for _, r in points], marker=marker, label=label
            )
            for setting, r in points:
                axis.annotate(
                    f"{setting[key]:g}",
                    (r["colorfulness_ratio"], r["psnr"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        for name, style in ((GRAY, ":"), (MEAN_COLOR, "--")):
            if name in baselines:
                axis.axhline(baselines[name]["psnr"], color="gray", linestyle=style, label=f"{name} PSNR")
        axis.axvspan(0.8, 1.2, color="green", alpha=0.08, label="as colorful as photos (0.8-1.2)")
        axis.set_title("/".join(Path(source.split(":", 1)[-1]).parts[-2:]), fontsize=10)
        axis.set_xlabel("colorfulness ratio")
        axis.set_ylabel("PSNR (dB)")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize="x-small", loc="lower left")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    plt.close(figure)


def strip(colorizer: ganforge.Colorizer, sources: list[EvalImages], vividness: list[float], out: Path) -> None:
    """A few photos of each source: the original, then the colorization at each vividness."""
    truth = F.interpolate(torch.cat([images.truth[:STRIP_PHOTOS] for images in sources]), size=STRIP_SIZE, mode="area")
    gray = to_gray(truth, colorizer.gray_conversion)
    columns = {"original": truth}
    for value in vividness:
        columns[f"vividness {value:g}"] = colorizer(gray, vividness=value)
    save_image(sample_grid(columns), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_held_out_options(parser)
    parser.add_argument("--vividness", type=float, nargs="+", default=[-0.5, 0.0, 0.25, 0.5, 0.75])
    parser.add_argument("--temperature", type=float, nargs="+", default=[0.2, 0.3, 1.0], help="tried at vividness 0")
    parser.add_argument(
        "--semantic", metavar="WEIGHTS", help="also score ImageNet top-1 agreement with this MobileNetV2 weights file"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/vividness.png"))
    parser.add_argument("--strip", type=Path, default=Path("docs/vividness_strip.jpg"))
    args = parser.parse_args()
    torch.manual_seed(0)
    colorizer = ganforge.load(args.checkpoint)
    if not hasattr(colorizer.generator, "vividness"):
        parser.error(f"'{args.checkpoint}' is not a classification model: it has no vividness to vary")
    metrics = METRICS + (["semantic_agreement"] if args.semantic else [])
    options = {"semantic_agreement": {"weights": args.semantic}} if args.semantic else {}
    pairs = settings(colorizer, args.vividness, args.temperature)
    results, sources = {}, []
    for source in args.data:
        images = load_eval_images(source, size=256, count=args.images, upscale=True)
        print(f"{source}: {len(images)} photos, 256 px center crops", flush=True)
        results[source] = sweep(colorizer, images, pairs, metrics, options)
        sources.append(images)
    for source, (baselines, rows) in results.items():
        print(f"\n{source}\n\n{table(baselines, rows, metrics)}")
    plot(results, float(colorizer.generator.temperature), args.out)
    strip(colorizer, sources, args.vividness, args.strip)
    print(f"\nwrote {args.out} and {args.strip}")


if __name__ == "__main__":
    main()
