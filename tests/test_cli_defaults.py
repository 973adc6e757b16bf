"""Each CLI flag's default is the default of the option dataclass field it sets (written once:
where the CLI repeats a literal, this test holds the two together)."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from rigkit_cli import build_parser


def _field_default(cls, name: str):
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()


def _command_defaults(group: str, command: str | None) -> dict:
    """dest -> default of ``rigkit GROUP COMMAND`` (``rigkit GROUP`` itself when command is None)."""
    _, groups = build_parser([group])
    parser = groups[group]
    if command is not None:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[command]
    return {action.dest: action.default for action in parser._actions}


def _options_classes():
    from calibration import (BoardExtrinsicsOptions, BundleAdjustmentOptions, IntrinsicsOptions,
                             KeypointExtrinsicsOptions)
    from capture import CheckOptions, RecordOptions
    from labeling import LabelJob, LabelOptions

    # (group, command or None for the group itself, options class, {flag dest: options field})
    table = [
        ("calibrate", "intrinsics", IntrinsicsOptions,
         {"model": "model", "max_views": "max_views", "stride": "stride", "max_frames": "max_scanned_frames"}),
        ("calibrate", "extrinsics", BundleAdjustmentOptions, {"intrinsics": "intrinsics"}),
        ("calibrate", "extrinsics", BoardExtrinsicsOptions, {"world": "world"}),
        ("calibrate", "keypoints", KeypointExtrinsicsOptions, {"min_score": "min_score", "threshold_px": "pair_threshold_px"}),
        ("capture", "record", RecordOptions, {"endpoint": "endpoint", "missing_view": "missing_view", "duration": "duration_s"}),
        ("capture", "check", CheckOptions, {"offsets": "offset_method"}),
        ("label", None, LabelJob, {"shard_size": "shard_size"}),
        ("label", None, LabelOptions, {name: name for name in ("threshold_px", "min_inlier_views", "min_score",
                                                              "smoothing", "bone_check")}),
    ]
    return {(group, command, dest): (cls, name) for group, command, cls, fields in table
            for dest, name in fields.items()}


def test_every_cli_default_is_its_options_default():
    mismatches = []
    for (group, command, dest), (cls, name) in _options_classes().items():
        defaults = _command_defaults(group, command)
        assert dest in defaults, f"rigkit {group} {command} has no flag for {dest}"
        if defaults[dest] != _field_default(cls, name):
            mismatches.append(f"rigkit {group} {command or ''} --{dest.replace('_', '-')} = {defaults[dest]!r} "
                              f"but {cls.__name__}.{name} = {_field_default(cls, name)!r}")
    assert mismatches == []


@pytest.mark.parametrize("group", ["calibrate", "capture", "label"])
def test_the_table_names_real_commands(group):
    _, groups = build_parser([group])
    sub = next(a for a in groups[group]._actions if isinstance(a, argparse._SubParsersAction))
    commands = {command for g, command, _ in _options_classes() if g == group and command is not None}
    assert commands <= set(sub.choices)
