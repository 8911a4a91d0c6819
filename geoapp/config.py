"""Configuration dataclasses: built from plain dicts (checkpoint cards, forms, CLI), unknown keys refused.

A config field declared with :func:`setting` carries its own help text and, where the config accepts a
fixed set of values, those values (``choices``). The dataclass is then the one place that says what a
field means: :func:`check_choices` validates against it, :func:`config_fields` describes it to the
command line (:mod:`geoapp.config_cli`) and to forms.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from geoapp.errors import InputError

__all__ = [
    "DEVICES",
    "SEED_MAX",
    "ConfigField",
    "check_seed",
    "setting",
    "config_fields",
    "check_choices",
    "check_types",
    "strict_from_dict",
]

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


SEED_MAX = 2**63 - 1
"""The largest random seed a training config accepts (numpy's and torch's seeds are 64-bit)."""


def check_seed(seed: Any, name: str = "seed") -> None:
    """Refuse a seed that is not a whole number in ``0..2**63-1``.

    Raises:
        InputError: naming the field, the value given and the range.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= SEED_MAX:
        raise InputError(f"{name} must be an integer in 0..2**63-1, got {seed!r}; choose e.g. {name} 0")


def check_choices(config: Any) -> None:
    """Refuse a field value of the wrong type (:func:`check_types`: a bool is not an int), or outside the field's ``choices``.

    The choices are those of :func:`setting`; for a dict field, the allowed keys.

    Raises:
        InputError: naming the field, the value given and the allowed values.
    """
    for f in config_fields(type(config)):
        if f.type is not dict:
            _typed(getattr(config, f.name), f.type, f.optional, f.name)
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


_KINDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


def _typed(value: Any, typ: type, optional: bool, name: str) -> Any:
    """``value`` if it is of ``typ`` (an integral float counts as an int); raise naming the field otherwise."""
    if value is None and optional:
        return None
    is_bool = isinstance(value, bool) or type(value).__name__ == "bool_"
    if typ is bool and is_bool:
        return bool(value)
    if typ is int and not is_bool:
        if isinstance(value, numbers.Integral):
            return value
        if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            return int(value)
    if typ is float and not is_bool and isinstance(value, numbers.Real):
        return value
    if typ is str and isinstance(value, str):
        return value
    if typ not in _KINDS:
        return value  # a type the config layer does not describe: the dataclass checks it
    also = " or null" if optional else ""
    raise InputError(f"{name} must be {_KINDS[typ]}{also}, got {value!r} ({type(value).__name__})")


def check_types(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each known field's value checked against its declared type (int, float, str, bool, dict).

    Values read from JSON (a ``--config`` file, a checkpoint card) arrive untyped: ``"epochs": "three"``
    must be refused here, naming the field, rather than fail deep inside training. A whole float such
    as ``3.0`` is accepted for an int field (as 3). A dict field is left to the dataclass, except that
    with ``keys_from`` each known key's value is checked against that dataclass's field of the same name.

    Raises:
        InputError: ``<field> must be <kind>, got <value> (<type>)``.
    """
    try:
        fields = {f.name: f for f in config_fields(cls)}
    except TypeError:  # a field type the config layer does not describe (e.g. a union): the dataclass checks it
        return dict(values)
    out = dict(values)
    for name, value in values.items():
        f = fields.get(name)
        if f is None:
            continue
        if f.type is not dict:
            out[name] = _typed(value, f.type, f.optional, name)
        elif f.keys_from is not None and isinstance(value, Mapping):  # a non-mapping is the dataclass's to refuse
            inner = {g.name: g for g in config_fields(f.keys_from)}
            out[name] = {
                k: _typed(v, inner[k].type, inner[k].optional, f"{name}[{k!r}]") if k in inner else v for k, v in value.items()
            }
    return out


def strict_from_dict(cls: type[T], values: Mapping[str, Any], what: str, keys: str = "option(s)", hint: str = "") -> T:
    """``cls(**values)`` for a dataclass ``cls``, refusing keys it does not have and values of the wrong type.

    Args:
        cls: the config dataclass to build.
        values: field values; missing fields take their defaults.
        what: what is being configured, for messages (e.g. ``"yield-training"``).
        keys: how the keys are called in messages (``"option(s)"``, ``"config key(s)"``).
        hint: appended to the unknown-key message (a likely cause).

    Raises:
        InputError: ``values`` is not a mapping, has keys ``cls`` lacks (naming them and the allowed
            ones, in field order), or a value of the wrong type (naming the field; :func:`check_types`).
    """
    if not isinstance(values, Mapping):
        raise InputError(f"{what} config must be a mapping; got {type(values).__name__}")
    allowed = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InputError(f"unknown {what} {keys} {unknown}; allowed: {allowed}{hint}")
    try:
        typed = check_types(cls, values)
    except InputError as exc:
        raise InputError(f"{what} config: {exc}") from None
    return cls(**typed)
