"""How fast the command line answers when it has nothing heavy to do: help texts and usage errors.

    python benchmarks/cli_startup.py [--runs 5]

Each command runs ``--runs`` times in a fresh process (the median is reported), side by
side with ``python -c "import torch"``, the cost every command would pay if it imported
torch before parsing. Target: every row under 1 s on 2 cores, and well under the torch
import (ratio < 0.5).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "ganforge --help": ["--help"],
    "ganforge colorize --help": ["colorize", "--help"],
    "colorize missing.jpg (no such input)": ["colorize", "missing.jpg", "-o", "out.png"],
    "colorize --size 100000 (out of range)": ["colorize", "photo.jpg", "-o", "out.png", "--size", "100000"],
    "eval --metrics (missing value)": ["eval", "--metrics"],
    "app --port 70000 (out of range)": ["app", "--port", "70000"],
}


def seconds(argv: list[str], runs: int, cwd: Path) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        reference = seconds([sys.executable, "-c", "import torch"], args.runs, cwd)
        rows = [
            (name, seconds([sys.executable, "-m", "ganforge", *argv], args.runs, cwd))
            for name, argv in COMMANDS.items()
        ]
    print(f"| command | seconds (median of {args.runs}) | vs. importing torch ({reference:.2f} s) | target < 1 s |")
    print("|---|---:|---:|---|")
    for name, value in rows:
        print(f"| {name} | {value:.2f} | {value / reference:.2f}x | {'yes' if value < 1 else 'NO'} |")


if __name__ == "__main__":
    main()
