"""A job's state on disk: ``status.json`` (what the Training page shows) and the log's tail.

One writer at a time: the runner writes a job's status before its worker starts and after it has
died; the worker writes it while it runs. Every write replaces the file atomically, so a reader
never sees half a file.

Fields (all optional but ``job_id``, ``state`` and ``updated``): ``state`` (see :data:`STATES`),
``kind``, ``name``, ``device``, ``world_size``, ``pid`` (the worker or torchrun launcher),
``pid_start`` (its start time in clock ticks, to tell it from a later process with the same pid),
``created`` / ``started`` / ``updated`` / ``finished`` (Unix seconds), ``epoch`` / ``epochs`` (1-based
epoch in progress, total), ``step`` / ``steps`` (in the epoch), ``loss`` (last step's training loss),
``metrics`` (the last epoch's record), ``eta_s`` (seconds left, estimated from the steps so far),
``checkpoint`` (the best checkpoint folder once there is one), ``error`` (why it failed),
``attempts`` (how many times it was started: resumes add one), ``out`` (the run folder).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from geoapp.fileio import atomic_write_text

__all__ = [
    "STATES",
    "ACTIVE_STATES",
    "STARTING_TIMEOUT_S",
    "read_status",
    "write_status",
    "log_tail",
    "STATUS_FILE",
    "LOG_FILE",
    "SPEC_FILE",
    "CANCEL_FILE",
]

STATES = ("starting", "running", "cancelling", "finished", "cancelled", "failed")
"""starting: spawned, not yet training; running; cancelling: a cancel was asked, the worker has not
stopped yet; finished; cancelled; failed (an error, or the worker died: killed, out of memory)."""
ACTIVE_STATES = ("starting", "running", "cancelling")
STARTING_TIMEOUT_S = 60.0
"""A job (or lock) still 'starting' without a worker after this long was orphaned by the process starting it."""

STATUS_FILE, LOG_FILE, SPEC_FILE, CANCEL_FILE = "status.json", "log.txt", "spec.json", "cancel.request"


def read_status(job_dir: str | Path) -> dict[str, Any]:
    """The job's last written status ({} when it has none yet or the file is unreadable)."""
    path = Path(job_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def write_status(job_dir: str | Path, **updates: Any) -> dict[str, Any]:
    """Merge ``updates`` into the job's status, stamp ``updated``, and replace the file atomically."""
    status = {**read_status(job_dir), **updates, "updated": round(time.time(), 3)}
    atomic_write_text(Path(job_dir) / STATUS_FILE, json.dumps(status, indent=1, default=float))
    return status


def log_tail(job_dir: str | Path, lines: int = 40, max_bytes: int = 64_000) -> list[str]:
    """The last ``lines`` lines of the job's log (reads at most ``max_bytes`` from its end)."""
    path = Path(job_dir) / LOG_FILE
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        text = f.read().decode("utf-8", errors="replace")
    # Progress bars rewrite their line with carriage returns: keep what the line showed last.
    out = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return [line for line in out if line.strip()][-lines:]
