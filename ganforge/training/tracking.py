"""A JSON-lines tracker for Accelerate: one line per logged step, always written.

Every run has ``metrics.jsonl`` whatever else is installed; it is what the loss
plot and resumption read. On resume, lines past the resumed step (written after
the last checkpoint of a killed run) are dropped so the file tells one history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from accelerate.tracking import GeneralTracker

from ganforge.core.atomic import write_text


class JSONLinesTracker(GeneralTracker):
    """Appends ``{"step": N, **values}`` to ``metrics.jsonl`` on the main process."""

    name = "jsonl"
    requires_logging_directory = True
    main_process_only = True

    def __init__(self, run_name: str, logging_dir: str | Path, **kwargs: Any) -> None:
        super().__init__()
        self.path = Path(logging_dir) / "metrics.jsonl"
        self._handle: Any = None  # opened at the first log, after a resume has truncated the file

    @property
    def tracker(self) -> Path:
        return self.path

    def store_init_configuration(self, values: dict[str, Any]) -> None:
        """The resolved recipe lives in recipe.yaml beside this file; nothing to repeat here."""

    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in finish()
        self._handle.write(json.dumps({"step": step, **values}) + "\n")
        self._handle.flush()

    def finish(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics file, skipping a torn last line from a killed run."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_metrics(path: str | Path, last_step: int) -> None:
    """Drop records logged after ``last_step`` (they belong to the part of a killed run being redone)."""
    path = Path(path)
    if path.exists():
        kept = [r for r in read_metrics(path) if r.get("step") is not None and r["step"] <= last_step]
        write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
