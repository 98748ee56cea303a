"""Checks on the files a user names as inputs, cheap enough to run before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path

from ganforge.core.errors import UsageError


def check_inputs(inputs: list[Path]) -> None:
    """Every input exists and is a regular file or a folder, else a one-line :class:`UsageError` naming it."""
    for item in inputs:
        if not item.exists():
            raise UsageError(f"input '{item}' does not exist")
        if not (item.is_file() or item.is_dir()):
            raise UsageError(
                f"input '{item}' is neither a regular file nor a folder (a device, pipe or socket); name picture or video files, or folders"
            )
