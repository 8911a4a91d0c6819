"""Validation shared by the encoding and network registries and the encoder config.

One place turns a name into a class (the error lists the allowed names) and checks keyword options
against the class's signature (the error lists the allowed options), so that a typo in a config fails
loudly instead of being silently ignored.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from geoapp.errors import InputError

__all__ = ["check_choice", "check_kwargs", "check_int", "check_positive_float"]

T = TypeVar("T")


def check_choice(name: object, registry: Mapping[str, T], what: str) -> T:
    """Return ``registry[name]``; an unknown name raises InputError listing the allowed names."""
    if not isinstance(name, str) or name not in registry:
        raise InputError(f"unknown {what} {name!r}; expected one of {sorted(registry)}")
    return registry[name]


def check_kwargs(cls: type, kwargs: Mapping[str, Any], what: str, reserved: Iterable[str] = ()) -> None:
    """Reject keyword options that ``cls.__init__`` does not take, or that the builder sets itself.

    Args:
        cls: the class the options are for.
        kwargs: the options given.
        what: how to name the thing in the message, e.g. "encoding 'grid'".
        reserved: parameters of ``cls`` that the caller fills in (e.g. a network's ``in_dim``).
    """
    if not isinstance(kwargs, Mapping):
        raise InputError(f"options for {what} must be a mapping of name -> value; got {type(kwargs).__name__}")
    reserved = set(reserved)
    params = inspect.signature(cls.__init__).parameters
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    allowed = sorted(p.name for p in params.values() if p.kind in named and p.name != "self" and p.name not in reserved)
    given_reserved = sorted(set(kwargs) & reserved)
    if given_reserved:
        raise InputError(f"{what}: {given_reserved} are set by the builder and cannot be given; allowed: {allowed}")
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise InputError(f"unknown option(s) {unknown} for {what}; allowed: {allowed}")


def check_int(value: object, name: str, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer (not a bool) in [minimum, maximum]."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if not ok or (maximum is not None and value > maximum):  # type: ignore[operator]
        upper = "" if maximum is None else f" and at most {maximum}"
        raise InputError(f"{name} must be an integer of at least {minimum}{upper}; got {value!r}")
    return int(value)  # type: ignore[arg-type]


def check_positive_float(value: object, name: str, allow_zero: bool = False) -> float:
    """A finite real number > 0 (or >= 0 with ``allow_zero``)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"{name} must be a finite number {bound}; got {value!r}")
    return number
