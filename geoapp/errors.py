"""The exceptions geoapp raises.

Every error geoapp raises derives from :class:`GeoappError`, so a caller (a page, the CLI) can catch
them all in one place. Each subclass also derives from the builtin that fits (``ValueError`` for bad
values, ``OSError`` for files), so generic callers can catch those instead.

A message names the bad value, what was expected, and the likely cause when one can be guessed.
"""

from __future__ import annotations

__all__ = [
    "GeoappError",
    "InputError",
    "DataFileError",
    "CRSError",
    "MissingDataError",
    "OutputExistsError",
    "DiskFullError",
    "DatasetChangedError",
]


class GeoappError(Exception):
    """Root of every exception raised by geoapp."""


class InputError(GeoappError, ValueError):
    """An argument or a value read from a user's file is not what was expected."""


class DataFileError(GeoappError, OSError):
    """A file is missing, unreadable, garbled, or not of the expected kind."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown, or does not overlap the grid."""


class MissingDataError(GeoappError, FileNotFoundError):
    """A dataset or asset geoapp needs has not been built or installed yet."""


class OutputExistsError(InputError):
    """The output already holds a result geoapp would replace only when told to (``--force``)."""


class DiskFullError(DataFileError):
    """The device ran out of space (or quota) while geoapp wrote ``target``; nothing half-written was left.

    ``errno`` is ``ENOSPC`` (or ``EDQUOT``), so callers that test ``OSError.errno`` still see it.
    """

    def __init__(self, target: object, errno_: int | None = None):
        import errno as _errno

        self.target = str(target)
        super().__init__(
            f"no space left on device while writing {self.target!r}: free space or choose another output location "
            "(the previous output, if any, is intact)"
        )
        self.errno = errno_ if errno_ is not None else _errno.ENOSPC


class DatasetChangedError(DataFileError):
    """A dataset's files no longer match the fingerprint its card recorded (replaced or edited since the build)."""
