"""The held-out photographs the quality benchmarks score on, and their shared command-line options.

Five sets, none of them trained on (``../shared/data``, beside the repository; see its MANIFEST.md):

- ``unseen/pets``: Oxford-IIIT Pet photos, a source no training folder holds;
- ``unseen/streets``: CamVid frames of a camera sequence no training folder holds (drab, overcast);
- ``kodak24``: the Kodak suite, a classic evaluation set from elsewhere;
- ``everyday/val`` and ``photos/val``: held-out photos of the training *sources* (the same distribution,
  so they flatter a model; the first three say how it does on photos from elsewhere).
"""

from __future__ import annotations

import argparse
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FROM_ELSEWHERE = ("unseen/pets", "unseen/streets", "kodak24")
OWN_SOURCES = ("everyday/val", "photos/val")
HELD_OUT = [f"imagefolder:{SHARED / name}" for name in (*FROM_ELSEWHERE, *OWN_SOURCES)]


def add_held_out_options(parser: argparse.ArgumentParser, images: int = 300) -> None:
    """CHECKPOINT, ``--data SOURCE...`` (default: the five held-out sets) and ``--images N`` per source."""
    parser.add_argument("checkpoint", nargs="?", default="default")
    parser.add_argument(
        "--data",
        nargs="+",
        default=HELD_OUT,
        metavar="SOURCE",
        help="held-out color photographs (default: the five held-out sets)",
    )
    parser.add_argument("--images", type=int, default=images, help=f"at most this many per source (default {images})")
