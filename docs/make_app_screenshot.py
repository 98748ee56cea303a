"""Save a PNG of the ``ganforge app`` page as headless Chromium renders it (README's picture of it).

    python docs/make_app_screenshot.py [CHECKPOINT] [--out docs/app.png] [--width 1280] [--height 900]

Needs the app extra (Gradio) and Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import ganforge
from ganforge.app import start
from ganforge.evaluation.browser import screenshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default="default")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "app.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    page, url = start(ganforge.load(args.checkpoint), "127.0.0.1", 0)
    try:
        print(f"wrote {screenshot(url, args.out, args.width, args.height)}")
    finally:
        page.close()


if __name__ == "__main__":
    main()
