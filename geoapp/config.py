"""Configuration dataclasses: built from plain dicts (checkpoint cards, forms, CLI), unknown keys refused.

A config field declared with :func:`setting` carries its own help text and, where the config accepts a
fixed set of values, those values (``choices``). The dataclass is then the one place that says what a
field means: :func:`check_choices` validates against it, :func:`config_fields` describes it to the
command line (:mod:`geoapp.config_cli`) and to forms.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from geoapp.errors import InputError

__all__ = ["DEVICES", "ConfigField", "setting", "config_fields", "check_choices", "strict_from_dict"]

T = TypeVar("T")

DEVICES: tuple[str, ...] = ("auto", "cuda", "cpu")
"""Devices a training config accepts: ``auto`` (the GPU when there is one, else the CPU), ``cuda``, ``cpu``."""


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    choices: Sequence[Any] | None = None,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    keys_from: type | None = None,
) -> Any:
    """A dataclass field that documents itself.

    Args:
        default: the field's default (or give ``default_factory``).
        help: what the field means, with units; shown by ``--help`` and forms.
        choices: the only values the field accepts (validated by :func:`check_choices`; ``None`` is also
            accepted when the field's type is optional); for a dict field, the only keys.
        default_factory: builds the default (for dicts and lists).
        keys_from: for a dict field, a dataclass whose fields name the allowed keys and their types
            (the command line parses ``KEY=VALUE`` items by them).

    Returns:
        A :func:`dataclasses.field` whose metadata holds ``help``, ``choices`` and ``keys_from``.
    """
    if not help:
        raise TypeError("a config setting needs a help text (what it means, with units)")
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None, "keys_from": keys_from}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class ConfigField:
    """One field of a config dataclass, as the command line and forms need it.

    Attributes:
        name: the field name (``r_n_km``).
        type: the value type: ``int``, ``float``, ``str``, ``bool`` or ``dict``.
        optional: whether ``None`` is allowed (``str | None``).
        default: the default value (a fresh one for factory defaults).
        help: the help text from :func:`setting` (empty for a plain field).
        choices: the allowed values, or None for any value of ``type``.
        keys_from: for a dict field, the dataclass naming its allowed keys.
    """

    name: str
    type: type
    optional: bool
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    keys_from: type | None


def _value_type(hint: Any) -> tuple[type, bool]:
    """(base type, optional) of a resolved annotation such as ``float``, ``str | None`` or ``dict[str, Any]``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"config fields take one type (optionally | None), got {hint!r}")
        base, _ = _value_type(rest[0])
        return base, True
    origin = typing.get_origin(hint)
    return (origin if origin is not None else hint), False


def config_fields(cls: type) -> list[ConfigField]:
    """The fields of config dataclass ``cls``, in declaration order, with their types, defaults and help."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"expected a config dataclass, got {cls!r}")
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        typ, optional = _value_type(hints[f.name])
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out.append(
            ConfigField(
                name=f.name,
                type=typ,
                optional=optional,
                default=default,
                help=f.metadata.get("help", ""),
                choices=f.metadata.get("choices"),
                keys_from=f.metadata.get("keys_from"),
            )
        )
    return out


def check_choices(config: Any) -> None:
    """Refuse a field value outside the field's ``choices`` (see :func:`setting`); for a dict field, a key outside them.

    Raises:
        InputError: naming the field, the value given and the allowed values.
    """
    for f in config_fields(type(config)):
        if f.choices is None:
            continue
        value = getattr(config, f.name)
        if f.type is dict:
            if not isinstance(value, Mapping):
                raise InputError(f"{f.name} must be a mapping of KEY: VALUE (keys: {list(f.choices)!r}), got {value!r}")
            unknown = sorted(set(value) - set(f.choices))
            if unknown:
                raise InputError(f"{f.name} cannot set {unknown!r}; allowed keys: {list(f.choices)!r}")
            continue
        if value is None and f.optional:
            continue
        if value not in f.choices:
            also = " or None" if f.optional else ""
            raise InputError(f"{f.name} must be one of {list(f.choices)!r}{also}, got {value!r}")


def strict_from_dict(cls: type[T], values: Mapping[str, Any], what: str, keys: str = "option(s)", hint: str = "") -> T:
    """``cls(**values)`` for a dataclass ``cls``, refusing keys it does not have.

    Args:
        cls: the config dataclass to build.
        values: field values; missing fields take their defaults.
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
