"""rgb -> lab and lab -> rgb on a 16 x 256 x 256 batch: ganforge (torch) against scikit-image.

    python benchmarks/colorspace.py [--threads 2] [--repeats 5]

Prints one table; ratios are scikit-image time / ganforge time measured in the
same run (higher is better for ganforge). kornia is measured too when installed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from ganforge.core.colormath import lab_to_rgb, rgb_to_lab


def best_of(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: allocator, thread pool
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from skimage import color as skcolor

    rgb = torch.rand(16, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    lab = rgb_to_lab(rgb)
    rgb_hwc = rgb.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float64)
    lab_hwc = skcolor.rgb2lab(rgb_hwc)

    rows = []
    candidates = {
        "rgb->lab": {
            "ganforge": lambda: rgb_to_lab(rgb),
            "scikit-image": lambda: skcolor.rgb2lab(rgb_hwc),
        },
        "lab->rgb": {
            "ganforge": lambda: lab_to_rgb(lab),
            "scikit-image": lambda: skcolor.lab2rgb(lab_hwc),
        },
    }
    try:
        import kornia.color

        candidates["rgb->lab"]["kornia"] = lambda: kornia.color.rgb_to_lab(rgb)
        candidates["lab->rgb"]["kornia"] = lambda: kornia.color.lab_to_rgb(lab)
    except ImportError:
        pass
    for direction, implementations in candidates.items():
        times = {name: best_of(fn, args.repeats) for name, fn in implementations.items()}
        for name, seconds in times.items():
            rows.append((direction, name, seconds, times["scikit-image"] / seconds))

    pixels = 16 * 256 * 256
    print(f"16 x 256 x 256 ({pixels / 1e6:.2f} Mpixel), torch threads = {args.threads}, best of {args.repeats}")
    print(f"{'direction':<10} {'implementation':<14} {'ms':>8} {'Mpix/s':>8} {'speed-up vs scikit-image':>26}")
    for direction, name, seconds, ratio in rows:
        print(f"{direction:<10} {name:<14} {seconds * 1e3:8.1f} {pixels / seconds / 1e6:8.1f} {ratio:25.2f}x")


if __name__ == "__main__":
    main()
