"""The ``rigkit`` command: one entry point, one subcommand group per package.

Each package owns its commands in its own ``cli`` module, which exposes
``register(parser: argparse.ArgumentParser) -> None``: it adds its sub-commands to ``parser`` and
sets ``func(args) -> int`` on each. Groups are imported only when used, so ``rigkit capture``
never imports torch. This module only dispatches and turns bad input into one sentence.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["main", "GROUPS"]

# group name -> (module that registers it, one-line help)
GROUPS: dict[str, tuple[str, str]] = {
    "capture": ("capture.cli", "record, check and export synchronized multi-camera sessions"),
    "calibrate": ("calibration.cli", "calibrate a rig from boards or from people's keypoints"),
    "label": ("labeling.cli", "triangulate 2D detections into 3D pseudo-labels in HDF5 shards"),
    "demo": ("labeling.demo", "run the whole pipeline on a built-in synthetic rig"),
}


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written; "(default: X)" after an option's help only when there is a
    default to say (not None, not False) and the help text does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


def _use_formatter(parser: argparse.ArgumentParser) -> None:
    """Every (sub-)parser of a group formats its help the same way (see :class:`_Formatter`)."""
    parser.formatter_class = _Formatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _use_formatter(child)


def _root_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="rigkit", formatter_class=_Formatter,
        description="rigkit: multi-camera capture, calibration and 3D pseudo-labeling.")
    from rigkit_version import rigkit_version

    parser.add_argument("--version", action="version", version=f"rigkit {rigkit_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    return parser, sub


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The root parser and its group parsers, with the one group named in ``argv`` registered."""
    parser, sub = _root_parser()
    wanted = next((a for a in argv if not a.startswith("-")), None)
    groups = {}
    for name, (module_name, help_text) in GROUPS.items():
        group = groups[name] = sub.add_parser(name, help=help_text, description=help_text,
                                              formatter_class=_Formatter)
        if name == wanted:
            try:
                module = importlib.import_module(module_name)
            except ImportError as error:
                raise SystemExit(f"rigkit: the '{name}' commands are not available: {error}") from None
            module.register(group)
            _use_formatter(group)
    return parser, groups


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, groups = build_parser(argv)
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else (logging.WARNING if args.quiet else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        # A group named without a sub-command: show what it offers.
        (parser if args.group is None else groups[args.group]).print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("rigkit: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:
        if args.debug:
            raise
        message = str(error).strip() or type(error).__name__
        if isinstance(error, OSError) and error.filename and str(error.filename) not in message:
            message = f"{message}: {error.filename}"
        print(f"rigkit: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
