"""Draw docs/confidence.png: what the confidence map shows and what desaturating unsure colors does.

    python docs/make_confidence_figure.py CHECKPOINT [--out docs/confidence.png] [--threshold 0.5]

CHECKPOINT must give confidence: a classification model (recipes/zhang_classification.yaml)
or a noise model (recipes/diverse.yaml). Rows: the bundled true black-and-white
photographs and sample photographs; columns: gray input | colorized |
confidence (white = sure) | colors faded toward gray where confidence < threshold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import ganforge
from ganforge.core.images import open_image, to_tensor
from ganforge.data.sources import center_crop
from ganforge.training.plots import sample_grid, save_image
from ganforge_plugins.builtin_data import SAMPLES_DIR, TRUE_BW_DIR

PICTURES = [
    TRUE_BW_DIR / "camera.png",
    TRUE_BW_DIR / "coins.png",
    SAMPLES_DIR / "coffee.jpg",
    SAMPLES_DIR / "rocket.jpg",
]


def square(path: Path, side: int = 192) -> torch.Tensor:
    return to_tensor(center_crop(open_image(path).convert("L"), side))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "confidence.png")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    colorizer = ganforge.load(args.checkpoint)
    gray = torch.stack([square(p) for p in PICTURES])
    columns = {
        "gray input": gray.expand(-1, 3, -1, -1),
        "colorized": colorizer(gray),
        "confidence": colorizer.confidence(gray).expand(-1, 3, -1, -1),
        f"faded where < {args.threshold}": colorizer(gray, desaturate_below=args.threshold),
    }
    print(f"wrote {save_image(sample_grid(columns), args.out)}")


if __name__ == "__main__":
    main()
