"""Exceptions that carry a message a user can act on.

The CLI prints ``str(error)`` on one line and exits with ``exit_code``; nothing
else in ganforge formats errors for people.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any


class GanforgeError(Exception):
    """Base class: the message says what was wrong and what to do."""

    exit_code = 1


class UsageError(GanforgeError):
    """The user asked for something that cannot work (bad recipe, bad path, bad name)."""

    exit_code = 2


class RecipeError(UsageError):
    """A recipe key is unknown, has the wrong type or names a missing component."""


class UnknownComponentError(UsageError, KeyError):
    """A registry was asked for a name it does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(GanforgeError):
    """Two plugins registered the same name in one registry."""


class PluginLoadError(GanforgeError):
    """A plugin named by an entry point failed to import or to register."""


class PictureSizeError(UsageError, ValueError):
    """A picture, or the working size asked for it, would take unbounded time or memory."""


class CheckpointError(UsageError):
    """A file is not a readable ganforge checkpoint, or does not fit its recipe."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """An exception's message cut to its first line and ``limit`` characters (libraries' can be pages)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:limit]


def where(key: str) -> str:
    """How a message names what the user set: ``--data`` as the option typed, else ``recipe key 'data.val'``."""
    return key if key.startswith("-") else f"recipe key '{key}'"


_OS_ERROR_ADVICE = {
    errno.ENOSPC: "free some space and run it again (finished outputs and saved states are kept)",
    errno.EACCES: "choose a location you may write to",
    errno.EPERM: "choose a location you may write to",
    errno.EROFS: "the file system is read-only: choose another location",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EEXIST: "a file stands where a folder is needed: check the path",
}


def describe_os_error(error: OSError) -> str:
    """One line for a failed file operation: what, where, and what to do."""
    where = f" '{error.filename}'" if error.filename else ""
    advice = _OS_ERROR_ADVICE.get(error.errno) if error.errno is not None else None
    return f"{error.strerror or error}:{where}" + (f"; {advice}" if advice else "")


def read_user_json(path: Path, what: str, advice: str) -> Any:
    """A JSON file a user named (``what`` says which, e.g. "answers file"); a missing or unreadable one is a
    one-line :class:`UsageError` that ends with ``advice``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} '{path}' does not exist; {advice}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} '{path}' is not JSON ({exc}); {advice}") from None
    except RecursionError:
        raise UsageError(f"{what} '{path}' is nested too deeply to be what ganforge wrote; {advice}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} '{path}' is a folder; {advice}") from None
