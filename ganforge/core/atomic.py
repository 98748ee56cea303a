"""Write files so that a crash never leaves a half-written one under the real name."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ganforge.core.errors import UsageError


def check_new_output(path: Path, overwrite: bool, what: str = "-o") -> None:
    """The rule for every file a user names as an output: an existing file is replaced only with ``--overwrite``,
    and a folder never stands where a file is to be written."""
    if path.is_dir():
        raise UsageError(f"{what} '{path}' is a folder; name the file to write (e.g. '{path / 'model.safetensors'}')")
    if path.exists() and not overwrite:
        raise UsageError(f"'{path}' exists; pass --overwrite to replace it")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success it is renamed over ``path``.

    Works for files and directories. On failure the temporary is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    _remove_orphaned_temporaries(path)
    try:
        try:
            yield tmp
        except OSError as exc:  # name the file the caller asked for, not its temporary
            if exc.filename is not None and Path(exc.filename).name == tmp.name:
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            raise
        if tmp.is_file():
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # a writer may create it private (0600); outputs get the usual mode
        if path.is_dir() and tmp.is_dir():  # os.replace cannot overwrite a non-empty directory
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove_orphaned_temporaries(path: Path) -> None:
    """Temporaries of ``path`` whose writer was killed (its process is gone): the next write clears them."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _running(int(pid)):
            _remove(stale)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or a platform that cannot tell: leave its file alone
    return True


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
