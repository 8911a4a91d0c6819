"""Configuration dataclasses built from plain dicts (checkpoint cards, forms, CLI), unknown keys refused."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from geoapp.errors import InputError

__all__ = ["strict_from_dict"]

T = TypeVar("T")


def strict_from_dict(cls: type[T], values: Mapping[str, Any], what: str, keys: str = "option(s)", hint: str = "") -> T:
    """``cls(**values)`` for a dataclass ``cls``, refusing keys it does not have.

    Args:
        what: what is being configured, for messages (e.g. ``"yield-training"``).
        keys: how the keys are called in messages (``"option(s)"``, ``"config key(s)"``).
        hint: appended to the unknown-key message (a likely cause).

    Raises:
        InputError: ``values`` is not a mapping, or has keys ``cls`` lacks (naming them and the allowed
            ones, in field order).
    """
    if not isinstance(values, Mapping):
        raise InputError(f"{what} config must be a mapping; got {type(values).__name__}")
    allowed = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InputError(f"unknown {what} {keys} {unknown}; allowed: {allowed}{hint}")
    return cls(**dict(values))
