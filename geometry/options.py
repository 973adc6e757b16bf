"""Validation of option dataclasses in one sentence per broken field (used by every package).

A field states its own rule where it is declared, and ``__post_init__`` checks them all at once
(then only the rules that tie fields together)::

    threshold_px: float = option(1.0, low=0, low_open=True, finite=True)
    min_views: int = option(2, low=2, note="one view cannot triangulate")
    loss: Loss = option("huber", choices=("linear", "huber"))
    ransac: RansacOptions = option(factory=RansacOptions)

    def __post_init__(self) -> None:
        check_fields(self)

Or as calls, each naming the fields it covers::

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

__all__ = ["option", "check_fields", "check_range", "check_choice", "check_type", "describe_range",
           "with_argument", "add_option_flags", "options_from_flags"]


def describe_range(*, low=None, high=None, low_open: bool = False, high_open: bool = False,
                   integer: bool = False, optional: bool = False, odd: bool = False) -> str:
    """The ``expected ...`` words of :func:`check_range`: ``"an integer >= 1"``, ``"in [0, 1)"``."""
    if low is not None and high is not None:
        text = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        text = f"{'>' if low_open else '>='} {low:g}"
    elif high is not None:
        text = f"{'<' if high_open else '<='} {high:g}"
    else:
        text = "a finite number"
    if odd:
        text = f"an odd integer {text}"
    elif integer:
        text = f"an integer {text}"
    return f"None or {text}" if optional else text


def check_range(options, *names: str, low=None, high=None, low_open: bool = False, high_open: bool = False,
                integer: bool = False, optional: bool = False, finite: bool = False, odd: bool = False,
                note: str = "") -> None:
    """Each named field is a number within the bounds (NaN never is); ValueError naming the first
    that is not. integer: also a whole number type; odd: an odd whole number; optional: None
    passes; finite: inf fails; note: why, added to the message in brackets."""
    for name in names:
        value = getattr(options, name)
        if optional and value is None:
            continue
        if _in_range(value, low, high, low_open, high_open, integer or odd, finite) and (not odd or value % 2 == 1):
            continue
        expected = describe_range(low=low, high=high, low_open=low_open, high_open=high_open, integer=integer,
                                  optional=optional, odd=odd)
        raise ValueError(f"{name} is {value!r}, expected {expected}" + (f" ({note})" if note else ""))


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


_RULE = "rigkit.option"


def option(default=dataclasses.MISSING, *, factory=None, choices: Sequence | None = None, low=None, high=None,
           low_open: bool = False, high_open: bool = False, optional: bool = False, finite: bool = False,
           odd: bool = False, integer: bool | None = None, ordered: bool = False, note: str = ""):
    """A dataclass field with its rule, checked by :func:`check_fields`.

    default: the default value, or factory: a callable making it (the field must then be an
    instance of the class it makes). choices: the value is one of these. Otherwise a
    number rule as :func:`check_range`'s (``integer`` defaults to "the default is an int"); a
    tuple default makes it a rule for each number of a tuple of that length, ``ordered``: each
    number no smaller than the one before (a ``(low, high)`` range)."""
    if factory is not None:  # an options class is its own factory; else the type of what it makes
        kind = factory if isinstance(factory, type) else type(factory())
        return dataclasses.field(default_factory=factory, metadata={_RULE: ("type", kind, {})})
    if choices is not None:
        rule = ("choice", tuple(choices), {})
    else:
        items = len(default) if isinstance(default, tuple) else None
        if integer is None:
            first = default[0] if items else default
            integer = isinstance(first, int) and not isinstance(first, bool)
        bounds = dict(low=low, high=high, low_open=low_open, high_open=high_open, optional=optional, finite=finite,
                      odd=odd, integer=integer, note=note)
        rule = ("range", None, bounds) if items is None else ("items", (items, ordered), bounds)
    return dataclasses.field(default=default, metadata={_RULE: rule})


def check_fields(options) -> None:
    """Every rule that :func:`option` attached to a field of ``options``, in field order;
    ValueError in one sentence for the first broken one."""
    for item in dataclasses.fields(options):
        rule = item.metadata.get(_RULE)
        if rule is None:
            continue
        kind, what, bounds = rule
        if kind == "type":
            check_type(options, item.name, what)
        elif kind == "choice":
            check_choice(options, item.name, what)
        elif kind == "items":
            _check_items(options, item.name, *what, **bounds)
        else:
            check_range(options, item.name, **bounds)


def _check_items(options, name: str, length: int, ordered: bool, *, optional: bool, note: str, **bounds) -> None:
    """The named field is a tuple of ``length`` numbers, each within the bounds (and ordered)."""
    value = getattr(options, name)
    if optional and value is None:
        return
    items = tuple(value) if isinstance(value, (tuple, list)) else ()
    good = len(items) == length and all(
        _in_range(x, bounds["low"], bounds["high"], bounds["low_open"], bounds["high_open"],
                  bounds["integer"] or bounds["odd"], bounds["finite"]) for x in items)
    if good and (not ordered or all(a <= b for a, b in zip(items, items[1:]))):
        return
    expected = describe_range(low=bounds["low"], high=bounds["high"], low_open=bounds["low_open"],
                              high_open=bounds["high_open"], integer=bounds["integer"], odd=bounds["odd"])
    order = ", in increasing order" if ordered else ""
    raise ValueError(f"{name} is {value!r}, expected {length} numbers, each {expected}{order}"
                     + (f" ({note})" if note else ""))


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
