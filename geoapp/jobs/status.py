"""A job's state on disk: ``status.json`` (what the Training page shows) and the log's tail.

Several processes write a job's status: the runner before its worker starts and after it has died
(any process of the app, the command line or the experiments queue may find it dead), and the worker
while it runs. :func:`write_status` reads the file, merges its updates in and writes the result back;
that read-merge-write happens under an exclusive ``flock`` on the job's ``status.lock``
(:func:`geoapp.jobs.guard.guarded`), so two writers never interleave and neither loses the other's
update. A writer that decides on what it read earlier (the runner marking a job it judged dead as
failed) writes with :func:`write_status_if`: its condition is checked on the status as it is under the
lock, so a change made since its judgement (a resume of the job, the worker's own final state) is
never overwritten. Every write replaces the file atomically, so a reader (who takes no lock) never
sees half a file.

Fields (all optional but ``job_id``, ``state`` and ``updated``): ``state`` (see :data:`STATES`),
``kind``, ``name``, ``device``, ``world_size``, ``pid`` (the worker or torchrun launcher),
``pid_start`` (its start time in clock ticks, to tell it from a later process with the same pid),
``created`` / ``started`` / ``updated`` / ``finished`` (Unix seconds), ``epoch`` / ``epochs`` (1-based
epoch in progress, total), ``step`` / ``steps`` (in the epoch), ``loss`` (last step's training loss),
``metrics`` (the last epoch's record), ``eta_s`` (seconds left, estimated from the steps so far),
``checkpoint`` (the best checkpoint folder once there is one), ``error`` (why it failed),
``attempts`` (how many times it was started: resumes add one), ``out`` (the run folder).

Status files are read here and nowhere else, defensively: a file that is not JSON, not an object, or
holds a field of the wrong type (``"pid": "abc"``) never raises; :func:`read_status` returns a
*broken* status instead (state :data:`BROKEN`, the reason in ``error``, kind and name from the job's
spec when it can be read), so a list of jobs shows it beside the others. :func:`load_status` is
the strict reading, raising :class:`~geoapp.errors.DataFileError` with the reason.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geoapp.data.args import as_int, as_path
from geoapp.errors import DataFileError, InputError
from geoapp.fileio import atomic_write_text
from geoapp.jobs.guard import guarded

__all__ = [
    "STATES",
    "ACTIVE_STATES",
    "BROKEN",
    "status_problem",
    "load_status",
    "broken_status",
    "spec_kind_and_name",
    "STARTING_TIMEOUT_S",
    "read_status",
    "write_status",
    "write_status_if",
    "log_tail",
    "STATUS_FILE",
    "LOG_FILE",
    "SPEC_FILE",
    "CANCEL_FILE",
    "STATUS_LOCK_FILE",
]

STATES = ("starting", "running", "cancelling", "finished", "cancelled", "failed")
"""starting: spawned, not yet training; running; cancelling: a cancel was asked, the worker has not
stopped yet; finished; cancelled; failed (an error, or the worker died: killed, out of memory)."""
ACTIVE_STATES = ("starting", "running", "cancelling")
BROKEN = "broken"
"""The state :func:`read_status` gives a job whose status file cannot be read (never written to disk)."""
KINDS = ("yield", "location")
STARTING_TIMEOUT_S = 60.0
"""A job (or lock) still 'starting' without a worker after this long was orphaned by the process starting it."""

STATUS_FILE, LOG_FILE, SPEC_FILE, CANCEL_FILE = "status.json", "log.txt", "spec.json", "cancel.request"
STATUS_LOCK_FILE = "status.lock"
"""In a job's folder: held (``flock``) by :func:`write_status` while it reads, merges and writes ``status.json``."""


_NUMBER = (int, float)
_FIELDS: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("job_id", "state", "kind", "name", "device", "out", "checkpoint", "error"), (str,)),
    **dict.fromkeys(("pid", "pid_start", "world_size", "workers", "attempts", "epoch", "epochs", "step", "steps"), (int,)),
    **dict.fromkeys(("created", "started", "updated", "finished", "eta_s", "loss"), _NUMBER),
    "metrics": (dict,),
    "stopped_early": (bool,),
}
"""The type of each known field (None is allowed for all); fields not named here are kept as they are."""
_TIMES = ("created", "started", "updated", "finished", "eta_s")
"""Fields in seconds, which must be finite (a NaN ``updated`` would make every age comparison false)."""
REQUIRED = ("state",)
"""Fields every status file written by geoapp has from its first write on."""


def _field_problem(key: str, value: Any) -> str | None:
    types = _FIELDS.get(key)
    if types is None or value is None:
        return None
    if isinstance(value, bool) and bool not in types:
        return f"field {key!r} is {value!r}, expected {' or '.join(t.__name__ for t in types)}"
    if not isinstance(value, types):
        return f"field {key!r} is {value!r}, expected {' or '.join(t.__name__ for t in types)}"
    if key == "state" and value not in STATES:
        return f"field 'state' is {value!r}, expected one of {list(STATES)}"
    if key == "kind" and value not in KINDS:
        return f"field 'kind' is {value!r}, expected one of {list(KINDS)}"
    if key in _TIMES and not _finite_seconds(value):
        return f"field {key!r} is {value!r}, expected a finite number of seconds"
    return None


def _finite_seconds(value: int | float) -> bool:
    """True if ``value`` is finite as a float (an int beyond float's range, which JSON allows, is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def status_problem(status: Any) -> str | None:
    """Why a parsed status cannot be used (not an object, a field of the wrong type), or None when it can."""
    if not isinstance(status, dict):
        return f"it holds a JSON {type(status).__name__}, expected an object with 'job_id', 'state', ..."
    for key, value in status.items():
        if problem := _field_problem(key, value):
            return problem
    missing = [key for key in REQUIRED if status.get(key) is None]
    if missing:
        return f"it lacks {', '.join(repr(k) for k in missing)} (every status written by geoapp has {list(REQUIRED)})"
    return None


def _read_raw(path: Path) -> tuple[Any, str | None]:
    """(parsed JSON, None), (None, None) when there is no file, or (None, why it cannot be read)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror or exc}"
    except UnicodeDecodeError:
        return None, "it is not text (binary data, or a crash while the disk was writing it)"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"it is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}; truncated?)"
    except RecursionError:
        return None, "it is not valid JSON (nested too deeply)"


def _contradictions(job_dir: Path, status: dict[str, Any]) -> dict[str, str]:
    """The fields of the status that contradict the job it sits in (its folder's name, its ``spec.json``), with why.

    A status names its job id, kind and name; a status copied from another job, or edited, would
    have a page show (and a resume act on) another job's run.
    """
    found = {}
    job_id = status.get("job_id")
    if job_id is not None and job_id != job_dir.name:
        found["job_id"] = f"it names job {job_id!r}, but it is in the folder of job {job_dir.name!r}"
    kind, name = spec_kind_and_name(job_dir)
    for key, own in (("kind", kind), ("name", name)):
        if own is not None and status.get(key) is not None and status[key] != own:
            found[key] = f"its {key} {status[key]!r} contradicts the job's spec.json ({key} {own!r})"
    return found


def load_status(job_dir: str | Path) -> dict[str, Any]:
    """The job's last written status, checked ({} when it has none yet).

    Besides each field's type (and finite times), the status must agree with its job: the folder's
    job id, and the kind and name of the job's ``spec.json`` when it can be read.

    Raises:
        DataFileError: the file cannot be read, is not JSON, not an object, a field has the wrong type or
            a time is not finite, or it contradicts the job's folder or spec.
        InputError: ``job_dir`` is not a path.
    """
    path = as_path(job_dir, "job_dir") / STATUS_FILE
    raw, problem = _read_raw(path)
    if problem is None and raw is not None:
        problem = status_problem(raw) or next(iter(_contradictions(Path(job_dir), raw).values()), None)
    if problem is not None:
        raise DataFileError(
            f"job status {str(path)!r} is damaged: {problem}. The job cannot be watched, resumed or cancelled; "
            "start a new job (and remove this job's folder once its worker has stopped)"
        )
    return raw if raw is not None else {}


def spec_kind_and_name(job_dir: str | Path) -> tuple[str | None, str | None]:
    """The job's kind and name as its ``spec.json`` records them (None for what cannot be read).

    Raises:
        InputError: ``job_dir`` is not a path.
    """
    spec, _ = _read_raw(as_path(job_dir, "job_dir") / SPEC_FILE)
    if not isinstance(spec, dict):
        return None, None
    kind = spec.get("kind") if spec.get("kind") in KINDS else None
    return kind, spec.get("name") if isinstance(spec.get("name"), str) else None


def broken_status(job_dir: str | Path, reason: str) -> dict[str, Any]:
    """The status shown for a job whose status file cannot be read: state :data:`BROKEN` and the reason.

    Kind and name come from the job's ``spec.json`` when it can be read; ``created`` from the job id.

    Raises:
        InputError: ``job_dir`` is not a path.
    """
    job_dir = as_path(job_dir, "job_dir")
    kind, name = spec_kind_and_name(job_dir)
    try:
        created = time.mktime(time.strptime(job_dir.name[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        created = 0.0
    return {
        "job_id": job_dir.name,
        "state": BROKEN,
        "kind": kind or "?",
        "name": name or "?",
        "created": created,
        "error": reason,
    }


def read_status(job_dir: str | Path) -> dict[str, Any]:
    """The job's last written status ({} when it has none yet); never raises for what the file holds.

    A status file that cannot be used gives :func:`broken_status` (state :data:`BROKEN`, the reason
    in ``error``), so a caller listing jobs shows it as broken and goes on.

    Raises:
        InputError: ``job_dir`` is not a path (a caller's mistake, not the file's).
    """
    as_path(job_dir, "job_dir")
    try:
        return load_status(job_dir)
    except DataFileError as exc:
        return broken_status(job_dir, str(exc))


def write_status(job_dir: str | Path, *, guard_timeout_s: float | None = None, **updates: Any) -> dict[str, Any]:
    """Merge ``updates`` into the job's status, stamp ``updated``, and replace the file atomically.

    The read, the merge and the write happen under the job's ``status.lock`` (see the module's
    docstring): a concurrent writer's update is merged, never overwritten with what was there before it.
    Fields of a damaged status file that cannot be used are dropped, so the write leaves a readable file:
    those of the wrong type, and a job id, kind or name that contradicts the job's folder or spec.

    Raises:
        InputError: ``job_dir`` is not a path.
        GuardTimeoutError: another process held the job's ``status.lock`` longer than ``guard_timeout_s``
            (default :data:`~geoapp.jobs.guard.GUARD_TIMEOUT_S`).
    """
    return write_status_if(job_dir, lambda current: True, guard_timeout_s=guard_timeout_s, **updates)[0]


def write_status_if(
    job_dir: str | Path,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    guard_timeout_s: float | None = None,
    **updates: Any,
) -> tuple[dict[str, Any], bool]:
    """As :func:`write_status`, but only if ``predicate`` holds for the status as it is under the lock.

    ``predicate`` gets the current status (``{}`` when there is none; fields that cannot be used
    dropped, as :func:`write_status` drops them) inside the job's ``status.lock``, so no other writer
    can change the status between its answer and the write. It must be quick and must not write the
    status itself (the lock is held: that write would wait for itself until it times out).

    Returns:
        ``(status, written)``: the status as written, or as it was when ``predicate`` said no (unchanged).

    Raises:
        InputError: ``job_dir`` is not a path, or ``predicate`` is not callable.
        GuardTimeoutError: another process held the job's ``status.lock`` longer than ``guard_timeout_s``.
    """
    job_dir = as_path(job_dir, "job_dir")
    if not callable(predicate):
        raise InputError(f"predicate must be a function of the current status, got {type(predicate).__name__}")
    job_dir.mkdir(parents=True, exist_ok=True)  # for the lock file (the status write made the folder before)
    with guarded(job_dir / STATUS_LOCK_FILE, f"the status of job {job_dir.name!r}", timeout_s=guard_timeout_s):
        raw, _ = _read_raw(job_dir / STATUS_FILE)
        old = {k: v for k, v in raw.items() if _field_problem(k, v) is None} if isinstance(raw, dict) else {}
        for key in _contradictions(job_dir, old):
            del old[key]
        if not predicate(dict(old)):
            return old, False
        status = {**old, **updates, "updated": round(time.time(), 3)}
        atomic_write_text(job_dir / STATUS_FILE, json.dumps(status, indent=1, default=float))
    return status, True


def log_tail(job_dir: str | Path, lines: int = 40, max_bytes: int = 64_000) -> list[str]:
    """The last ``lines`` lines of the job's log (reads at most ``max_bytes`` from its end); none for ``lines=0``.

    Raises:
        InputError: ``job_dir`` is not a path, ``lines`` not a whole number >= 0, or ``max_bytes`` not one >= 1.
    """
    path = as_path(job_dir, "job_dir") / LOG_FILE
    lines = as_int(lines, "lines", minimum=0)
    max_bytes = as_int(max_bytes, "max_bytes", minimum=1)
    if lines <= 0 or not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        text = f.read().decode("utf-8", errors="replace")
    # Progress bars rewrite their line with carriage returns: keep what the line showed last.
    out = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return [line for line in out if line.strip()][-lines:]
