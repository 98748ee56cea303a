"""Atomic writes: the real name only ever holds a whole file, and a killed writer's temporary is cleared."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ganforge.core.atomic import atomic_path, write_text


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(child.stdout)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_the_next_write_clears_temporaries_of_killed_writers_but_not_of_running_ones(tmp_path):
    orphan = tmp_path / f".out.png.tmp-{_dead_pid()}"
    orphan.write_bytes(b"half a picture")
    running = tmp_path / f".out.png.tmp-{os.getppid()}"  # a live process that is not this one
    running.write_bytes(b"being written")
    other = tmp_path / f".other.png.tmp-{_dead_pid()}"
    other.write_bytes(b"another file's")
    write_text(tmp_path / "out.png", "whole")
    assert not orphan.exists()
    assert running.exists() and other.exists()
    assert (tmp_path / "out.png").read_text() == "whole"
