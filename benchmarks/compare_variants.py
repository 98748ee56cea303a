"""Train every research recipe on the same small CPU budget and compare them in one table.

    python benchmarks/compare_variants.py [--steps 200] [--data shapes samples] [--out report_dir]

Per recipe and training set: colorfulness ratio (prediction / ground truth,
Hasler & Suesstrunk), AuC of the per-pixel ab error over 0..150 (Zhang et al.),
PSNR, diversity (mean pairwise ab distance over 8 noise samples; 0 for models
without noise), training steps per second, and on ``shapes`` the *circle chroma
ratio*: predicted / true ab magnitude on the circles, which are red or blue at
the same lightness, so a loss that averages the two modes leaves them grayish. Models are small (U-Net width
16, 64 px crops) and trained for minutes: the table shows the *shape* of the
differences, not state-of-the-art numbers.

Evaluation images: ``shapes`` is evaluated on 32 fresh procedural images (a
seed the training never saw); ``samples`` (4 bundled photos) on the first 16
BSDS500 validation photos when ../shared/data is present, else on the 4
training photos themselves (then the numbers measure fitting, not generalising).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import ganforge
from ganforge import metrics
from ganforge.colormath import rgb_to_lab
from ganforge.config import load_recipe
from ganforge.data import ColorizationDataset, image_folder
from ganforge.plots import sample_grid, save_image
from ganforge.plugins import get_registries
from ganforge.train import train_from_recipe_file

REPO = Path(__file__).resolve().parents[1]
BSDS_VAL = REPO.parent / "shared" / "data" / "bsds500" / "val"
SMALL = ["data.size=64", "data.batch_size=8", "data.num_workers=1", "data.val_images=4", "train.checkpoint_every=100000",
         "train.sample_every=100000"]  # fmt: skip
VARIANTS = [
    ("L2 regression", "l2_regression", []),
    ("Zhang classification", "zhang_classification", []),
    ("Zhang then GAN", "zhang_then_gan", []),
    ("GAN (pix2pix)", "gan", []),
    ("EBGAN", "ebgan", []),
    ("per-channel GAN (LAB)", "per_channel", []),
    ("per-channel GAN (RGB)", "per_channel_rgb", []),
    ("noise GAN, no mode seeking", "diverse", ["phases.0.losses={l1: 10.0, nonsaturating: 1.0}"]),
    ("noise GAN + mode seeking", "diverse", []),
    ("unconditional pretraining", "unconditional_pretrain", []),
]


def narrow(recipe_path: Path) -> list[str]:
    """Overrides that shrink the generator of any shipped recipe to CPU size."""
    generator = load_recipe(recipe_path).generator
    if isinstance(generator, dict) and generator.get("name") == "zhang":
        return ["generator.backbone.width=16", "generator.features=32"]
    return ["generator.width=16"]


def evaluation_images(data: str) -> tuple[torch.Tensor, str]:
    lab = get_registries().color_spaces.create("lab")
    if data == "shapes":
        source = get_registries().sources.create("shapes", count=32, seed=1)
        where = "32 unseen procedural images"
    elif BSDS_VAL.is_dir():
        source = image_folder(BSDS_VAL)
        where = "16 BSDS500 validation photos"
    else:
        source = get_registries().sources.create("samples")
        where = "the 4 training photos (BSDS500 not found)"
    dataset = ColorizationDataset(source, lab, 64, seed=0, train=False)
    items = [dataset[i] for i in range(min(len(dataset), 16 if data == "samples" else 32))]
    rgb = torch.cat([lab.merge(item["gray"][None], item["target"][None]) for item in items if item is not None])
    return rgb, where


def circle_chroma_ratio(prediction: torch.Tensor, truth: torch.Tensor) -> float:
    """Predicted / true chroma on builtin:shapes' circles (L* = 50, strongly colored); NaN elsewhere."""
    lab_true, lab_pred = rgb_to_lab(truth), rgb_to_lab(prediction)
    true_chroma, pred_chroma = lab_true[:, 1:].norm(dim=1), lab_pred[:, 1:].norm(dim=1)
    circles = ((lab_true[:, 0] - 50).abs() < 1.0) & (true_chroma > 40)
    return float(pred_chroma[circles].mean() / true_chroma[circles].mean()) if circles.any() else float("nan")


def evaluate(colorizer: ganforge.Colorizer, truth: torch.Tensor) -> tuple[dict[str, float], torch.Tensor]:
    prediction = colorizer(truth, size=64)
    diversity = 0.0
    if colorizer.noise_dim:
        diversity = float(metrics.diversity(torch.stack(colorizer.sample(truth, 8, size=64))).mean())
    row = {
        "colorfulness ratio": float(metrics.colorfulness(prediction).mean() / metrics.colorfulness(truth).mean()),
        "AuC": float(metrics.auc(prediction, truth).mean()),
        "PSNR": float(metrics.psnr(prediction, truth).mean()),
        "diversity": diversity,
        "circle chroma": circle_chroma_ratio(prediction, truth),
    }
    return row, prediction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per recipe (default 200)")
    parser.add_argument("--data", nargs="+", default=["shapes", "samples"], choices=["shapes", "samples"])
    parser.add_argument("--out", type=Path, default=Path("runs/compare_variants"), help="where the table and grids go")
    parser.add_argument("--only", nargs="+", metavar="RECIPE", help="only these recipe files (e.g. l2_regression zhang_classification)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for data in args.data:
        truth, where = evaluation_images(data)
        columns: dict[str, torch.Tensor] = {"gray": truth.mean(1, keepdim=True).expand(-1, 3, -1, -1)}
        baseline = {"colorfulness ratio": 0.0, "AuC": float(metrics.auc(columns["gray"], truth).mean()),
                    "PSNR": float(metrics.psnr(columns["gray"], truth).mean()), "diversity": 0.0,
                    "circle chroma": circle_chroma_ratio(columns["gray"], truth)}  # fmt: skip
        results.append({"data": data, "recipe": "(gray input, no color)", "steps/s": float("nan"), **baseline})
        for label, recipe_name, extra in VARIANTS:
            if args.only and recipe_name not in args.only:
                continue
            path = REPO / "recipes" / f"{recipe_name}.yaml"
            with tempfile.TemporaryDirectory() as tmp:
                overrides = [*SMALL, *narrow(path), *extra, f"data.train=builtin:{data}", f"data.val=builtin:{data}",
                             f"train.out_dir={tmp}/run"]  # fmt: skip
                if data == "shapes" and "zhang" in recipe_name:  # rebalance with the weights of the data trained on
                    overrides += [f"phases.{i}.losses.zhang.rebalance=builtin:shapes" for i in range(len(load_recipe(path).phases))]
                start = time.perf_counter()
                model = train_from_recipe_file(path, overrides, max_steps=args.steps)
                seconds = time.perf_counter() - start
                row, prediction = evaluate(ganforge.load(model), truth)
            columns[label] = prediction
            results.append({"data": data, "recipe": label, "steps/s": args.steps / seconds, **row})
        columns["ground truth"] = truth
        save_image(sample_grid({k: v[:8] for k, v in columns.items()}), args.out / f"grid_{data}.png")
        results.append({"data": data, "recipe": f"evaluated on {where}", "steps/s": float("nan"), "colorfulness ratio": float("nan"),
                        "AuC": float("nan"), "PSNR": float("nan"), "diversity": float("nan"), "circle chroma": float("nan")})  # fmt: skip

    header = f"{'data':<8} {'recipe':<28} {'colorful':>9} {'AuC':>7} {'PSNR':>7} {'diversity':>10} {'steps/s':>8} {'circles':>8}"
    lines = [f"budget: {args.steps} steps per recipe, U-Net width 16, 64 px, batch 8, {torch.get_num_threads()} CPU threads", header]
    for r in results:
        if r["recipe"].startswith("evaluated on"):
            lines.append(f"{'':<8} ({r['recipe']})")
            continue
        lines.append(f"{r['data']:<8} {r['recipe']:<28} {r['colorfulness ratio']:9.2f} {r['AuC']:7.3f} {r['PSNR']:7.2f} "
                     f"{r['diversity']:10.2f} {r['steps/s']:8.2f} {r['circle chroma']:8.2f}")  # fmt: skip
    table = "\n".join(lines)
    print(table)
    (args.out / "table.txt").write_text(table + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
