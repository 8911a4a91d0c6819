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

import numpy as np

from geoapp.errors import InputError

__all__ = ["as_path", "as_optional_path", "as_text", "as_optional_text", "as_number", "as_int", "as_bool", "given"]


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


def given(value: object) -> str:
    """``value`` as an error message shows it: its type and a repr cut to 60 characters."""
    return f"{type(value).__name__} {_given(value)}"


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def as_number(value: object, name: str, unit: str, *, zero_ok: bool = False) -> float:
    """``value`` as a finite float greater than 0 (at least 0 with ``zero_ok``); refuses bools, text and NaN.

    A bool is refused because ``True`` is not 1 ``unit``.
    """
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number of {unit}, got {given(value)}")
    number = float(value)
    if not (math.isfinite(number) and (number >= 0 if zero_ok else number > 0)):
        sign = "non-negative" if zero_ok else "positive"
        raise InputError(f"{name} must be a {sign} number of {unit}, got {value!r}")
    return number


def as_int(value: object, name: str, minimum: int | None = None) -> int:
    """``value`` as an int (a Python or NumPy integer); refuses bools, floats (even 2.0), text and None.

    With ``minimum``, a smaller value is refused too.
    """
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be a whole number, got {given(value)}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise InputError(f"{name} must be a whole number of at least {minimum}, got {number}")
    return number


def as_bool(value: object, name: str) -> bool:
    """``value`` as a bool; only ``True`` and ``False`` (or NumPy's) are accepted, never 1, "no" or None."""
    if not _is_bool(value):
        raise InputError(f"{name} must be True or False (a bool), got {given(value)}")
    return bool(value)
