"""What the baselines' configuration dataclasses share: validation (one place, one set of messages) and card I/O."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from geoapp.config import strict_from_dict
from geoapp.errors import InputError

__all__ = ["BaselineConfig", "check_config", "sized"]

MAX_INT = 1 << 16
"""Largest size a baseline config may ask for (far above the paper's; beyond it a model no longer fits in memory)."""


def check_config(config: Any) -> None:
    """Refuse a config dataclass field of the wrong type or range, naming it.

    ints: whole numbers in 1..65,536; tuples: non-empty tuples of such ints (lists become tuples);
    floats: finite numbers >= 0 (``target_mean`` may be negative), ``dropout`` below 1, ``target_std`` above 0;
    bools: true or false.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind = str(f.type)
        if kind == "bool":
            if not isinstance(value, bool):
                raise InputError(f"config field {f.name!r} must be true or false; got {value!r}")
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INT:
                raise InputError(f"config field {f.name!r} must be a whole number in 1..{MAX_INT}; got {value!r}")
        elif kind.startswith("tuple"):
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(config, f.name, value)
            ok = isinstance(value, tuple) and len(value) > 0
            ok = ok and all(not isinstance(v, bool) and isinstance(v, int) and 1 <= v <= MAX_INT for v in value)
            if not ok:
                raise InputError(
                    f"config field {f.name!r} must be a non-empty list of whole numbers in 1..{MAX_INT}; got {value!r}"
                )
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InputError(f"config field {f.name!r} must be a finite number; got {value!r}")
            object.__setattr__(config, f.name, float(value))
            if f.name != "target_mean" and value < 0:
                raise InputError(f"config field {f.name!r} must be >= 0; got {value!r}")
    if getattr(config, "dropout", 0.0) >= 1:
        raise InputError(f"config field 'dropout' must be in [0, 1); got {config.dropout!r}")
    if getattr(config, "target_std", 1.0) <= 0:
        raise InputError(f"config field 'target_std' must be > 0 (bu/acre); got {config.target_std!r}")


def sized(cls: type, sizes: dict[str, dict[str, Any]], size: str, **values: Any) -> Any:
    """``cls`` at a named size (``demo`` or ``paper``) with the inputs' shape and output scale in ``values``.

    Raises:
        InputError: an unknown size.
    """
    if not isinstance(size, str) or size not in sizes:
        raise InputError(f"unknown model size {size!r}; expected one of {list(sizes)}")
    return cls(**{**sizes[size], **values})


class BaselineConfig:
    """Base of a baseline's frozen config dataclass: checked on creation, written to and read from its card.

    A subclass is a ``@dataclass(frozen=True)`` with its fields and ``model_name`` (the model's name in
    messages). Lists in a card become tuples for tuple fields (:func:`check_config`).
    """

    model_name: ClassVar[str] = "baseline"

    def __post_init__(self) -> None:
        check_config(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (checkpoint cards)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """From a card's ``model_config``; unknown keys raise ``InputError``."""
        return strict_from_dict(cls, values, cls.model_name, keys="config key(s)")
