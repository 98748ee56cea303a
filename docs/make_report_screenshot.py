"""Save a PNG of a comparison report as headless Chromium renders it.

    python docs/make_report_screenshot.py REPORT_DIR [--out REPORT_DIR/screenshot.png] [--width 1280] [--height 2400]

Needs Chromium (Debian: apt-get install chromium). Prints how many of the page's
pictures loaded, so a report moved without its folder is noticed.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ganforge.evaluation.browser import rendered_dom, screenshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a folder written by ganforge compare")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    page = args.report / "report.html"
    loaded = re.search(r'data-images-loaded="(\d+)"', rendered_dom(page))
    total = len(re.findall(r"<img ", page.read_text()))
    out = screenshot(page, args.out or args.report / "screenshot.png", args.width, args.height)
    print(f"wrote {out} ({loaded.group(1) if loaded else 0} of {total} pictures loaded)")


if __name__ == "__main__":
    main()
