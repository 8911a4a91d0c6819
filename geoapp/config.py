"""Configuration dataclasses built from plain dicts (checkpoint cards, forms, CLI), unknown keys refused."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from geoapp.errors import InputError

__all__ = ["strict_from_dict"]

T = TypeVar("T")


def strict_from_dict(cls: type[T], values: Mapping[str, Any], what: str) -> T:
    """``cls(**values)`` for a dataclass ``cls``, refusing keys it does not have (naming them and the allowed ones)."""
    if not isinstance(values, Mapping):
        raise InputError(f"{what} options must be a mapping, got {type(values).__name__}")
    allowed = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise InputError(f"unknown {what} option(s) {unknown!r}; allowed: {sorted(allowed)!r}")
    return cls(**dict(values))
