"""Safe file writing: write to a temporary name beside the target, then rename.

A reader never sees a half-written file, and a failure leaves any previous file untouched. The new
content is flushed to disk (fsync) before the rename, so a power loss leaves the old version or the
new one, never an empty file under the target's name.

Temporaries are named after their target and their owner: ``.<name>.tmp-<pid>-<host>-<random>``
(and ``.<name>.old-<pid>-<host>`` for the previous version of a folder while it is swapped), where
``<host>`` is a short hash of the machine's name. A process killed while writing (SIGKILL, a power
cut) leaves its temporary behind; the next write of the same target on the same machine removes it
once its owner process is gone (:func:`remove_stale_temporaries`). A temporary of a live process, or
of another machine sharing the folder, is never touched.

Running out of space (``ENOSPC``, ``EDQUOT``) while writing raises :class:`~geoapp.errors.DiskFullError`
naming the target, after the temporary is removed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from geoapp.errors import DataFileError, DiskFullError, GeoappError, InputError

__all__ = [
    "sha256_file",
    "atomic_path",
    "atomic_folder",
    "atomic_write_text",
    "recover_folder",
    "remove_stale_temporaries",
    "check_writable",
    "link_or_copy",
]

_FULL = (errno.ENOSPC, errno.EDQUOT)
"""errnos of a full device or an exhausted quota."""

_LOW_SPACE_BYTES = 1 << 20
"""Free space under which a writer's failure without an errno is taken for a full device."""

_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
"""This machine's tag in temporary names (a temporary of another machine is never removed)."""


def _owner() -> str:
    """``<pid>-<host>``: who owns the temporaries this process creates."""
    return f"{os.getpid()}-{_HOST}"


def _name(target: Path) -> str:
    """``target``'s last component; refuses a path with none (``.``, ``/``)."""
    if target.name in ("", ".", ".."):
        raise InputError(f"cannot write to {str(target)!r}: give a file or folder name, not the current folder or a root")
    return target.name


def _pid_alive(pid: int) -> bool:
    """True unless ``pid`` certainly names no running process (a process of another user counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: it runs under another user
    return True


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove what a killed writer of ``target`` left beside it; returns the paths removed (or restored).

    Only this machine's temporaries (``.<name>.tmp-<pid>-<host>-*``) whose process is gone are
    removed. A previous version (``.<name>.old-<pid>-<host>``) left by a process killed while
    swapping folders is put back when ``target`` is missing, and removed when ``target`` exists.
    Temporaries without an owner tag (written by older geoapp versions) are left alone. Errors while
    removing are ignored: this is housekeeping, never a reason to fail a write.
    """
    target = Path(target)
    if target.name in ("", ".", "..") or not target.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-(\d+)-([0-9a-f]{{8}})(?:-|$)")
    done: list[Path] = []
    try:
        siblings = sorted(target.parent.iterdir(), key=lambda p: p.name)
    except OSError:
        return []
    for path in siblings:
        match = pattern.match(path.name)
        if not match or match.group(3) != _HOST or _pid_alive(int(match.group(2))):
            continue
        try:
            if match.group(1) == "old" and not target.exists() and path.is_dir():
                os.replace(path, target)  # the kill fell between the two renames: the old version is the current one
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        done.append(path)
    return done


def check_writable(target: str | os.PathLike[str]) -> Path:
    """Refuse early a ``target`` geoapp could not create: its folder (or the nearest one that exists) is not writable.

    Creates and removes a probe file there, so the check also sees a read-only filesystem. Returns
    the folder probed.

    Raises:
        DataFileError: the folder cannot be written (naming it and the reason), or a parent is a file.
    """
    target = Path(target).absolute()
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise DataFileError(f"cannot write {str(target)!r}: {str(folder)!r} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".geoapp-write-probe-", dir=folder)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DataFileError(
            f"cannot write to folder {str(folder)!r} ({reason}): choose another output location, or fix its permissions"
        ) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return folder


def _fsync(path: Path) -> None:
    """Flush a file, or every file below a folder and the folder itself, to disk.

    A full device or an I/O error reported by fsync is raised (the data did not reach the disk); a
    filesystem that cannot fsync a folder is tolerated (the rename is still atomic).
    """
    if path.is_dir():
        for child in path.rglob("*"):
            if child.is_file():
                _fsync(child)
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return  # e.g. a filesystem that cannot open folders: the rename is still atomic
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno in (*_FULL, errno.EIO):
            raise
    finally:
        os.close(fd)


def _as_disk_full(exc: BaseException, target: Path) -> DiskFullError | None:
    """``exc`` as a :class:`DiskFullError` for ``target`` when the device is full, else None.

    An OSError with ENOSPC/EDQUOT is one; so is any other writer failure (HDF5 reports a full disk as
    a RuntimeError) when under 1 MiB is left on the device. geoapp's own errors never are.
    """
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return DiskFullError(target, exc.errno)
    if isinstance(exc, (GeoappError, KeyboardInterrupt, SystemExit, GeneratorExit)) or not isinstance(exc, Exception):
        return None
    try:
        low = shutil.disk_usage(target.parent).free < _LOW_SPACE_BYTES
    except OSError:
        return None
    return DiskFullError(target) if low else None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; on success rename it onto ``target``.

    The temporary file keeps ``target``'s suffix (writers such as GDAL and netCDF pick the format
    from it). On any exception the temporary file is removed and ``target`` is left as it was; a
    full device raises :class:`~geoapp.errors.DiskFullError`. Stale temporaries of ``target`` left by
    killed processes are removed first (:func:`remove_stale_temporaries`).

    Raises:
        DataFileError: ``target`` is an existing folder.
        InputError: ``target`` names none (``.``, ``/``).
    """
    target = Path(target)
    name = _name(target)
    if target.is_dir():  # an OSError too: callers that fall back on a write failure still do
        raise DataFileError(f"{str(target)!r} is a folder; give the path of a file to write (e.g. {str(target / 'out')!r})")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{name}.tmp-{_owner()}-", suffix=target.suffix if suffix is None else suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers expect to create the file themselves
    try:
        yield tmp
        if tmp.exists():
            _fsync(tmp)
        os.replace(tmp, target)
        _fsync(target.parent)
    except BaseException as exc:
        full = _as_disk_full(exc, target)
        if full is not None:
            raise full from exc
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _umask() -> int:
    """The umask of this process, read without changing it (Linux ``/proc``; else 077, the strictest: private)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o077


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` (a folder) whole.

    On any exception the temporary folder is removed and an existing ``target`` is left as it was; a
    full device raises :class:`~geoapp.errors.DiskFullError`. Stale temporaries of ``target`` left by
    killed processes are removed first (:func:`remove_stale_temporaries`). The caller decides whether
    ``target`` may be replaced (see :func:`geoapp.data.dataset.check_output_folder`).
    """
    target = Path(target)
    name = _name(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-{_owner()}-", dir=target.parent))
    # mkdtemp makes the folder 0700 (kept while it is written: even a read-only folder can be replaced); the
    # result must read like any folder the user makes (their umask), or keep the mode of the folder it replaces
    mode = target.stat().st_mode & 0o7777 if target.is_dir() else 0o777 & ~_umask()
    try:
        yield tmp
        os.chmod(tmp, mode)
        _fsync(tmp)
        if target.exists():
            old = target.with_name(f".{name}.old-{_owner()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        _fsync(target.parent)
    except BaseException as exc:
        full = _as_disk_full(exc, target)
        if full is not None:
            raise full from exc
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def recover_folder(target: str | os.PathLike[str]) -> Path:
    """Undo an :func:`atomic_folder` replacement cut between its two renames (process killed there).

    If ``target`` is missing but the previous version waits beside it as ``.<name>.old-*``, that
    version is put back (never one whose owner process still runs on this machine). Returns ``target``.
    """
    target = Path(target)
    if not target.exists() and target.parent.is_dir():
        olds = [p for p in target.parent.glob(f".{target.name}.old-*") if not _owned_by_live_process(p)]
        olds.sort(key=lambda p: p.stat().st_mtime)
        if olds:
            os.replace(olds[-1], target)
    return target


def _owned_by_live_process(path: Path) -> bool:
    """True when ``path``'s name carries this machine's tag and a pid that still runs."""
    match = re.search(r"\.(?:tmp|old)-(\d+)-([0-9a-f]{8})(?:-|$)", path.name)
    return bool(match) and match.group(2) == _HOST and _pid_alive(int(match.group(1)))


def link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Hard-link the file ``src`` (symbolic links followed) to the new path ``dst``; copy it where links fail.

    A hard link shares the file's bytes: writers that replace a file by renaming a new one over it
    (every geoapp writer) leave the other name's bytes as they were.
    """
    real = Path(src).resolve(strict=True)
    try:
        os.link(real, dst)
    except OSError:
        shutil.copy2(real, dst)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 (hex) of a file's bytes, read in 1 MiB blocks.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
