"""Validation of option dataclasses in one sentence per broken field (used by every package).

An options ``__post_init__`` states its rules as calls, each naming the fields it covers::

    check_range(self, "threshold_px", low=0, low_open=True, finite=True)
    check_range(self, "min_views", "max_views", low=1, integer=True)
    check_choice(self, "loss", ("linear", "huber"))
    check_type(self, "ransac", RansacOptions)

and a broken field raises ``ValueError("min_views is 0, expected an integer >= 1")``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from collections.abc import Sequence

__all__ = ["check_range", "check_choice", "check_type", "describe_range", "with_argument", "add_option_flags",
           "options_from_flags"]


def describe_range(*, low=None, high=None, low_open: bool = False, high_open: bool = False,
                   integer: bool = False, optional: bool = False) -> str:
    """The ``expected ...`` words of :func:`check_range`: ``"an integer >= 1"``, ``"in [0, 1)"``."""
    if low is not None and high is not None:
        text = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        text = f"{'>' if low_open else '>='} {low:g}"
    elif high is not None:
        text = f"{'<' if high_open else '<='} {high:g}"
    else:
        text = "a finite number"
    if integer:
        text = f"an integer {text}"
    return f"None or {text}" if optional else text


def check_range(options, *names: str, low=None, high=None, low_open: bool = False, high_open: bool = False,
                integer: bool = False, optional: bool = False, finite: bool = False) -> None:
    """Each named field is a number within the bounds (NaN never is); ValueError naming the first
    that is not. integer: also a whole number type; optional: None passes; finite: inf fails."""
    for name in names:
        value = getattr(options, name)
        if optional and value is None:
            continue
        if _in_range(value, low, high, low_open, high_open, integer, finite):
            continue
        expected = describe_range(low=low, high=high, low_open=low_open, high_open=high_open, integer=integer,
                                  optional=optional)
        raise ValueError(f"{name} is {value!r}, expected {expected}")


def _in_range(value, low, high, low_open, high_open, integer, finite) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    if integer and not isinstance(value, numbers.Integral):
        return False
    if math.isnan(value) or (finite and math.isinf(value)):
        return False
    if low is not None and not (value > low if low_open else value >= low):
        return False
    return high is None or (value < high if high_open else value <= high)


def check_choice(options, name: str, choices: Sequence) -> None:
    """The named field is one of ``choices``; ValueError listing them otherwise."""
    value = getattr(options, name)
    if value in choices:
        return
    listed = [repr(c) for c in choices]
    words = listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} or {listed[-1]}"
    raise ValueError(f"{name} is {value!r}, expected {words}")


def check_type(options, name: str, cls: type) -> None:
    """The named field is an instance of ``cls``; ValueError naming both types otherwise."""
    value = getattr(options, name)
    if not isinstance(value, cls):
        raise ValueError(f"{name} must be {cls.__module__.split('.')[0]}.{cls.__name__}, "
                         f"got {type(value).__name__}")


def with_argument(options, name: str, value, *, options_given: bool):
    """``options`` with field ``name`` set to ``value``, a function's keyword argument for the same
    setting (None: not given, ``options`` as they are). A setting lives in the options: when the
    caller passed ``options`` too and they hold another value, ValueError instead of silently
    preferring one. ``name`` may be dotted (``"ransac.threshold_px"``)."""
    if value is None:
        return options
    head, _, rest = name.partition(".")
    if rest:
        inner = with_argument(getattr(options, head), rest, value, options_given=options_given)
        return dataclasses.replace(options, **{head: inner})
    current = getattr(options, name)
    if options_given and current != value:
        raise ValueError(f"{name} is {value!r} as an argument but {current!r} in the options; "
                         "give it in one place")
    return dataclasses.replace(options, **{name: value})


def add_option_flags(parser, options_type: type, flags: dict[str, tuple[str, str]]) -> None:
    """One command-line flag per named field of the dataclass ``options_type``, so each default
    is written once (in the dataclass): ``--field-name`` (underscores as dashes), ``dest`` the
    field's name, the default the field's, and the type that of the default; a field typed as a
    ``Literal`` gets its values as ``choices``. ``flags``: field name -> (metavar, help), in the
    order the flags are listed. Only fields with a number or string default can be flags."""
    defaults = options_type()
    hints = typing.get_type_hints(options_type)
    for name, (metavar, help_text) in flags.items():
        default = getattr(defaults, name)
        if isinstance(default, bool) or not isinstance(default, (int, float, str)):
            raise TypeError(f"{options_type.__name__}.{name} has no number or string default")
        arguments = {"dest": name, "default": default, "help": help_text}
        choices = typing.get_args(hints[name]) if typing.get_origin(hints[name]) is typing.Literal else ()
        if choices:
            arguments["choices"] = choices
        else:
            arguments.update(type=type(default), metavar=metavar)
        parser.add_argument("--" + name.replace("_", "-"), **arguments)


def options_from_flags(args, options_type: type, flags, **others):
    """``options_type`` built from the parsed flags that :func:`add_option_flags` added (field
    names in ``flags``), plus ``others`` (fields set another way)."""
    return options_type(**{name: getattr(args, name) for name in flags}, **others)
