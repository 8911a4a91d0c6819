"""Metrics as JSON lines: one object per epoch (or step), appended and flushed as training goes.

The job runner and the Training page read these files while training runs, so every line is a
complete JSON object written in one call.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from geoapp.data.args import as_int, as_path
from geoapp.errors import InputError

__all__ = ["MetricsLog", "read_metrics", "keep_epochs_before"]


class MetricsLog:
    """Append-only JSON-lines log at ``path`` (created with its folder); a path that is not one is an InputError."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = as_path(path, "path")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: Any) -> dict[str, Any]:
        """Append ``record`` plus a ``time`` stamp (Unix seconds); returns what was written.

        Values are JSON values or numbers (NumPy numbers and one-element tensors are written as numbers).

        Raises:
            InputError: a value is neither (an object, an array), naming its key; nothing is written.
        """
        record = {"time": round(time.time(), 3), **record}
        try:
            line = json.dumps(record, default=_number) + "\n"
        except (TypeError, ValueError) as exc:
            bad = [k for k, v in record.items() if not _writable(v)]
            raise InputError(
                f"metrics record: the value(s) of {bad or list(record)!r} must be numbers or JSON values ({exc}); "
                "nothing was written"
            ) from None
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
        except OSError as exc:
            from geoapp.training.checkpoint import write_error

            raise write_error(self.path, exc) from exc
        return record


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All complete records of a metrics file (a torn last line, or a line that is not a JSON object, is skipped).

    Raises:
        InputError: ``path`` is not a path.
    """
    path = as_path(path, "path")
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def keep_epochs_before(path: str | os.PathLike[str], epoch: int) -> None:
    """Drop the records of ``epoch`` and later (1-based) from a metrics file, atomically.

    A run resumed after epoch ``epoch - 1`` redoes those epochs; a worker killed after logging an
    epoch but before saving it would otherwise leave the epoch twice in the file. A record whose
    ``epoch`` is not a whole number is dropped with them.

    Raises:
        InputError: ``path`` is not a path, or ``epoch`` not a whole number of at least 1.
    """
    from geoapp.fileio import atomic_write_text

    path = as_path(path, "path")
    epoch = as_int(epoch, "epoch", minimum=1)
    if not path.exists():
        return
    kept = [r for r in read_metrics(path) if _epoch_of(r) < epoch]
    atomic_write_text(path, "".join(json.dumps(r, default=_number) + "\n" for r in kept))


def _number(value: Any) -> float | int:
    """A number JSON cannot write as it is (a NumPy scalar, a one-element tensor) as a Python number."""
    try:
        number = value.item()
    except (AttributeError, TypeError, ValueError, RuntimeError):
        number = None
    if isinstance(number, (int, float)):
        return number
    raise TypeError(f"{type(value).__name__} {repr(value)[:60]} is not a number")


def _writable(value: Any) -> bool:
    try:
        json.dumps(value, default=_number)
    except (TypeError, ValueError):
        return False
    return True


def _epoch_of(record: dict[str, Any]) -> float:
    """A record's epoch (0 when it has none), or infinity when it is not a whole number (never kept)."""
    value = record.get("epoch", 0)
    if isinstance(value, bool) or not isinstance(value, int):
        return float("inf")
    return value
