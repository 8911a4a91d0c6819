"""Checks of the arguments the data layer's public functions take: paths, text options, numbers.

Each returns the value in the form the function uses, or raises :class:`~geoapp.errors.InputError`
naming the argument, the type expected and what was given, so that a wrong type never surfaces as a
bare ``AttributeError`` or ``TypeError`` from deep inside pandas or pathlib.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from geoapp.errors import InputError

__all__ = ["as_path", "as_optional_path", "as_text", "as_optional_text", "as_number"]


def _given(value: object) -> str:
    shown = repr(value)
    return f"{shown[:60]}..." if len(shown) > 60 else shown


def as_path(value: object, name: str) -> Path:
    """``value`` (a str or os.PathLike) as a Path; refuses None, numbers, bytes and empty text."""
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        text = os.fspath(value)
        if isinstance(text, str) and text.strip():
            return Path(text)
        if isinstance(text, str):
            raise InputError(f"{name} is an empty path; expected the path of a file or folder")
    raise InputError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__} {_given(value)}")


def as_optional_path(value: object, name: str) -> Path | None:
    """:func:`as_path`, with None passed through."""
    return None if value is None else as_path(value, name)


def as_text(value: object, name: str) -> str:
    """``value`` as stripped, non-empty text; refuses anything but a str."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text (str), got {type(value).__name__} {_given(value)}")
    if not value.strip():
        raise InputError(f"{name} is empty; expected non-empty text")
    return value.strip()


def as_optional_text(value: object, name: str) -> str | None:
    """:func:`as_text`, with None passed through."""
    return None if value is None else as_text(value, name)


def as_number(value: object, name: str, unit: str) -> float:
    """``value`` as a finite float greater than 0; refuses bools (``True`` is not 1 ``unit``), text and NaN."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number of {unit}, got {type(value).__name__} {_given(value)}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise InputError(f"{name} must be a positive number of {unit}, got {value!r}")
    return number
