"""Command-line flags generated from a config dataclass, so the CLI and the config cannot drift apart.

Each field of the dataclass (see :func:`geoapp.config.setting`) becomes one flag:

* the name: ``r_n_km`` -> ``--r-n-km``;
* the type: ``int``, ``float`` and ``str`` take a value; ``bool`` is ``--flag/--no-flag``; a
  ``str | None`` field with choices also takes ``none``;
* the allowed values: the field's ``choices``;
* the help: the field's help text and its default, from the dataclass;
* a ``dict`` field (e.g. ``model_overrides``) is a repeatable ``KEY=VALUE`` flag named in the singular
  (``--model-override``), each value parsed by the type of the ``keys_from`` dataclass's field ``KEY``.

Flags not given are absent from the parsed namespace (their default is ``argparse.SUPPRESS``), so
:func:`config_values` can lay them over a ``--config`` JSON file: flags win.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from geoapp.config import ConfigField, config_fields
from geoapp.errors import InputError

__all__ = ["flag_name", "add_config_arguments", "config_values", "parse_bool", "DeferredParser"]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def flag_name(field: ConfigField) -> str:
    """The flag of a config field: ``--r-n-km`` for ``r_n_km``; ``--model-override`` for dict ``model_overrides``."""
    name = field.name.removesuffix("s") if field.type is dict else field.name
    return "--" + name.replace("_", "-")


def parse_bool(text: str) -> bool:
    """``true/yes/on/1`` -> True, ``false/no/off/0`` -> False (any case); anything else is refused."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{text!r} is not true or false (expected one of {[*_TRUE, *_FALSE]})")


def _scalar(typ: type, text: str) -> Any:
    """``text`` as a value of ``typ`` (int, float, bool or str); ValueError names what was expected."""
    if typ is bool:
        return parse_bool(text)
    if typ is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
    if typ is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if typ is str:
        return text
    raise ValueError(f"values of type {typ.__name__} cannot be given on the command line")


def _choice_type(field: ConfigField, allowed: Sequence[Any]) -> Callable[[str], Any]:
    """Converter for an optional field with choices: one of ``allowed``, or ``none`` for None."""

    def convert(text: str) -> Any:
        if text.lower() == "none":
            return None
        value = _scalar(field.type, text)
        if value not in allowed:
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(map(str, allowed))}, none)")
        return value

    convert.__name__ = field.type.__name__
    return convert


class _KeyValue:
    """Converter of one ``KEY=VALUE`` item of a dict field, typed by the field's ``keys_from`` dataclass.

    The allowed keys are the field's ``choices`` (all of ``keys_from``'s fields when it has none).
    """

    __name__ = "KEY=VALUE"

    def __init__(self, field: ConfigField):
        if field.keys_from is None:
            raise TypeError(f"dict config field {field.name!r} needs keys_from (the dataclass naming its keys)")
        self.types = {f.name: f.type for f in config_fields(field.keys_from) if field.choices is None or f.name in field.choices}

    @property
    def keys(self) -> list[str]:
        """The allowed keys, in the ``keys_from`` dataclass's order."""
        return list(self.types)

    def __call__(self, text: str) -> tuple[str, Any]:
        """``"alpha=0.3"`` -> ``("alpha", 0.3)``; argparse shows the ArgumentTypeError's message."""
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
        if key not in self.types:
            raise argparse.ArgumentTypeError(f"unknown key {key!r} in {text!r}; allowed: {self.keys}")
        try:
            return key, _scalar(self.types[key], raw.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{key}: {exc}") from None


def _shown(value: Any, field: ConfigField) -> str:
    """A default as the user would type it."""
    if field.type is bool:
        return flag_name(field) if value else "--no-" + flag_name(field)[2:]
    if value is None or value == {}:
        return "none"
    return str(value)


def add_config_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    choices: Mapping[str, Sequence[Any]] | None = None,
    help: Mapping[str, str] | None = None,
) -> None:
    """Add one flag per field of config dataclass ``cls`` to ``parser`` (see the module docstring).

    Args:
        parser: the (sub)command's parser.
        cls: a config dataclass whose fields are declared with :func:`geoapp.config.setting`.
        choices: per field name, the values the command accepts instead of the field's own choices
            (e.g. a command that also takes a baseline the config itself does not train).
        help: per field name, help text that replaces the field's (keep it a superset of its meaning).

    Raises:
        TypeError: a field has no help text, or a type the command line cannot carry.
    """
    for f in config_fields(cls):
        text = (help or {}).get(f.name, f.help)
        if not text:
            raise TypeError(f"{cls.__name__}.{f.name} has no help text: declare it with geoapp.config.setting(..., help=...)")
        allowed = (choices or {}).get(f.name, f.choices)
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
        if f.type is dict:
            item = _KeyValue(f)
            text = f"{text}; KEY=VALUE, repeatable (keys: {', '.join(item.keys)}); or a {f.name!r} object in --config JSON"
            kwargs.update(action="append", type=item, metavar="KEY=VALUE")
        elif f.type is bool:
            kwargs.update(action=argparse.BooleanOptionalAction)
        elif allowed is not None and f.optional:
            kwargs.update(type=_choice_type(f, allowed), metavar="{" + ",".join(map(str, [*allowed, "none"])) + "}")
        elif allowed is not None:
            kwargs.update(type=f.type, choices=list(allowed))
        elif f.type in (int, float, str):
            kwargs.update(type=f.type)
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: a {f.type.__name__} field cannot be set from the command line")
        help_text = f"{text} (default: {_shown(f.default, f)})"
        parser.add_argument(flag_name(f), help=help_text.replace("%", "%%"), **kwargs)


def config_values(args: argparse.Namespace, cls: type, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Config fields of ``cls`` for a run: ``base`` (e.g. a ``--config`` file) with the given flags laid over it.

    A dict field is merged key by key (a ``--model-override`` replaces one key of the file's
    ``model_overrides``, not the whole dict). The result is plain values for ``cls.from_dict``.

    Raises:
        InputError: ``base`` holds a dict field that is not a JSON object.
    """
    values = dict(base or {})
    given = vars(args)
    for f in config_fields(cls):
        if f.name not in given:
            continue
        value = given[f.name]
        if f.type is dict:
            old = values.get(f.name) or {}
            if not isinstance(old, Mapping):
                raise InputError(f"{f.name} in the config file must be a JSON object of KEY: VALUE, got {old!r}")
            value = {**old, **dict(value)}
        values[f.name] = value
    return values


class DeferredParser(argparse.ArgumentParser):
    """A (sub)command parser that adds some of its arguments on first use: a parse, a usage or ``--help``.

    The training commands generate their flags from the trainers' config dataclasses, whose modules
    import torch; deferring them keeps ``python -m geoapp data info`` and every other command quick.
    Give the function that adds them as ``add_arguments`` (``add_subparsers(parser_class=DeferredParser)``
    passes it through ``add_parser``).
    """

    def __init__(self, *args: Any, add_arguments: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._add_deferred = add_arguments

    def complete(self) -> DeferredParser:
        """Add the deferred arguments now (once); returns the parser."""
        add, self._add_deferred = self._add_deferred, None
        if add is not None:
            add(self)
        return self

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None):
        """Complete the parser, then parse as argparse does."""
        self.complete()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        """Complete the parser, then format the usage line."""
        self.complete()
        return super().format_usage()

    def format_help(self) -> str:
        """Complete the parser, then format ``--help``."""
        self.complete()
        return super().format_help()
