"""Pictures of a run: sample grids of colorizations and loss curves."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from ganforge.core.atomic import atomic_path
from ganforge.core.images import to_pil
from ganforge.training.tracking import read_metrics


def _wrap(draw: ImageDraw.ImageDraw, text: str, width: int) -> list[str]:
    """Break a label into lines that fit ``width`` pixels: at spaces, after underscores, else mid-word."""
    pieces = [piece for piece in re.split(r"(?<=_)| ", text) if piece]
    lines: list[str] = []
    for piece in pieces:
        joiner = "" if lines and lines[-1].endswith("_") else " "
        if lines and draw.textlength(f"{lines[-1]}{joiner}{piece}") <= width:
            lines[-1] = f"{lines[-1]}{joiner}{piece}"
            continue
        while draw.textlength(piece) > width and len(piece) > 1:  # a word wider than the column
            cut = max(1, next((i for i in range(len(piece), 0, -1) if draw.textlength(piece[:i]) <= width), 1))
            lines.append(piece[:cut])
            piece = piece[cut:]
        lines.append(piece)
    return lines or [""]


def sample_grid(columns: dict[str, torch.Tensor], pad: int = 2, row_labels: list[str] | None = None) -> Image.Image:
    """One row per image, one labelled column per tensor batch ``(B, 3, H, W)`` in [0, 1]; ``row_labels``
    (lines split by newlines) go in a margin on the left."""
    batches = list(columns.values())
    count, _, height, width = batches[0].shape
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    labels = [_wrap(measure, label, width - 2) for label in columns]
    label_height = 2 + 11 * max(len(lines) for lines in labels)
    margin = 0
    if row_labels:
        margin = 4 + int(max(measure.textlength(line) for label in row_labels for line in label.splitlines()))
    grid = Image.new(
        "RGB", (margin + len(batches) * (width + pad) + pad, label_height + count * (height + pad) + pad), "white"
    )
    draw = ImageDraw.Draw(grid)
    for row, label in enumerate(row_labels or []):
        draw.multiline_text((2, label_height + pad + row * (height + pad) + 2), label, fill="black", spacing=1)
    for col, (lines, batch) in enumerate(zip(labels, batches)):
        x = margin + pad + col * (width + pad)
        draw.multiline_text((x + 1, 1), "\n".join(lines), fill="black", spacing=1)
        for row in range(count):
            grid.paste(to_pil(batch[row]), (x, label_height + pad + row * (height + pad)))
    return grid


def save_image(image: Image.Image, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format=path.suffix.lstrip(".").upper().replace("JPG", "JPEG"))
    return path


def plot_loss_curves(metrics_path: str | Path, out_path: str | Path) -> Path | None:
    """Plot every ``loss/...`` series of a metrics file; ``None`` when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for record in read_metrics(metrics_path):
        for key, value in record.items():
            if key.startswith("loss/") and isinstance(value, (int, float)):
                series[key[len("loss/") :]].append((record["step"], value))
    if not series:
        return None
    figure, axis = plt.subplots(figsize=(8, 4.5), dpi=100)
    for name, points in sorted(series.items()):
        steps, values = zip(*points)
        axis.plot(steps, values, label=name, linewidth=1, marker="o" if len(points) == 1 else None)  # one point: a dot
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_yscale("symlog", linthresh=1e-2)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
    return out_path
