"""Headless Chromium, to check that a report renders and to take pictures of it.

Chromium is not a Python dependency: Debian ships it as ``chromium``
(``apt-get install chromium``). These flags keep it from touching the network,
a GPU or a sandbox that containers do not allow.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ganforge.core.errors import UsageError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-extensions", "--disable-sync", "--no-first-run", "--mute-audio", "--hide-scrollbars",
    "--virtual-time-budget=10000",  # let onload scripts finish before the page is dumped or shot
)  # fmt: skip


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _address(page: Path | str) -> str:
    """A served page's URL as it is, a file as a ``file://`` URI."""
    return page if isinstance(page, str) and page.startswith(("http://", "https://")) else Path(page).resolve().as_uri()


def _run(page: Path | str, *arguments: str) -> str:
    browser = find_browser()
    if browser is None:
        raise UsageError("no Chromium found; install it (Debian: apt-get install chromium)")
    result = subprocess.run(
        [browser, *FLAGS, *arguments, _address(page)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise UsageError(f"Chromium failed on {page} (exit {result.returncode}): {result.stderr.strip()[-300:]}")
    return result.stdout


def rendered_dom(page: Path | str) -> str:
    """The page's DOM after it loaded and its scripts ran."""
    return _run(page, "--dump-dom")


def screenshot(page: Path | str, out: Path, width: int = 1280, height: int = 2400) -> Path:
    """A PNG of the page (a file, or the URL of a served one) as a ``width`` x ``height`` browser window shows it."""
    _run(page, f"--screenshot={out.resolve()}", f"--window-size={width},{height}")
    return out
