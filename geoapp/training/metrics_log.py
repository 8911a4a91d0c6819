"""Metrics as JSON lines: one object per epoch (or step), appended and flushed as training goes.

The job runner and the Training page read these files while training runs, so every line is a
complete JSON object written in one call.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "read_metrics", "keep_epochs_before"]


class MetricsLog:
    """Append-only JSON-lines log at ``path`` (created with its folder)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: Any) -> dict[str, Any]:
        """Append ``record`` plus a ``time`` stamp (Unix seconds); returns what was written."""
        record = {"time": round(time.time(), 3), **record}
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, default=float) + "\n")
                f.flush()
        except OSError as exc:
            from geoapp.training.checkpoint import write_error

            raise write_error(self.path, exc) from exc
        return record


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All complete records of a metrics file (a torn last line, if any, is skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError):
            continue
    return out


def keep_epochs_before(path: str | os.PathLike[str], epoch: int) -> None:
    """Drop the records of ``epoch`` and later (1-based) from a metrics file, atomically.

    A run resumed after epoch ``epoch - 1`` redoes those epochs; a worker killed after logging an
    epoch but before saving it would otherwise leave the epoch twice in the file.
    """
    from geoapp.fileio import atomic_write_text

    path = Path(path)
    if not path.exists():
        return
    kept = [r for r in read_metrics(path) if int(r.get("epoch", 0)) < epoch]
    atomic_write_text(path, "".join(json.dumps(r, default=float) + "\n" for r in kept))
