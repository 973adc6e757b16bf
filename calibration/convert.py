"""``rigkit calibrate convert IN OUT``: a calibration from any format rigkit reads to any it writes.

Reads with :func:`calibration.files.read_calibration` (units decided or given, see there) and
writes with :func:`calibration.files.save_rig`, in metres. The file's own metadata is carried
over (formats that hold only scalars keep the scalars), plus ``converted_from`` and the reader's
decisions, so the output says where it came from and what was guessed on the way.

Cameras the input gives no pose (Caliscope's ``"null"``, intrinsics-only OpenCV files) cannot
be written as posed: the conversion refuses them unless told to leave them out.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Literal

from .files import FORMATS, CalibrationFile, CalibrationFormat, CalibrationUnits, read_calibration, save_rig

__all__ = ["convert_calibration", "add_units_argument", "register_convert"]

logger = logging.getLogger(__name__)


def add_units_argument(parser: argparse.ArgumentParser) -> None:
    """``--calibration-units mm|cm|m``: the unit of a calibration file's translations."""
    parser.add_argument("--calibration-units", choices=("m", "cm", "mm"), default=None,
                        help="unit of the calibration file's translations when the file does not "
                             "say (default: its [metadata] units, else decided from the camera "
                             "distances, else refused)")


def convert_calibration(source: str | os.PathLike, target: str | os.PathLike, *,
                        format: CalibrationFormat | Literal["auto"] = "auto",
                        units: CalibrationUnits | None = None,
                        drop_unposed: bool = False) -> CalibrationFile:
    """Read ``source`` and write its rig to ``target`` (format from ``format`` or the suffix).

    Returns what was read. Raises ValueError when the input has unposed cameras and
    ``drop_unposed`` is False, and for everything the reader and writer refuse.
    """
    source, target = Path(source), Path(target)
    if source.resolve() == target.resolve():
        raise ValueError(f"convert reads {source} and would overwrite it; name another output file")
    calibration = read_calibration(source, units=units)
    rig = calibration.rig
    if calibration.unposed:
        if not drop_unposed:
            raise ValueError(f"{source}: cameras {', '.join(calibration.unposed)} have no pose, and "
                             "every output format would store them as posed; pass --drop-unposed "
                             "to leave them out")
        posed = [n for n in rig.names if n not in calibration.unposed]
        if not posed:
            raise ValueError(f"{source}: no camera has a pose; nothing to convert")
        logger.warning("%s: leaving out cameras %s, which have no pose", source,
                       ", ".join(calibration.unposed))
        rig = rig.subset(posed)
    metadata = {k: v for k, v in calibration.metadata.items()
                if k not in ("units", "rigkit_version", "created")}
    metadata["converted_from"] = f"{source} ({calibration.format})"
    if calibration.decisions:
        metadata["conversion_decisions"] = list(calibration.decisions)
    save_rig(rig, target, metadata=metadata, format=format)
    return calibration


def _run_convert(args: argparse.Namespace) -> int:
    calibration = convert_calibration(args.input, args.output, format=args.format,
                                      units=args.calibration_units, drop_unposed=args.drop_unposed)
    if not args.quiet:
        print(f"read {len(calibration.rig)} cameras from {args.input} ({calibration.format}); "
              f"wrote {args.output}")
    return 0


def register_convert(sub) -> None:
    """Add ``convert`` to the ``rigkit calibrate`` sub-commands ``sub``."""
    parser = sub.add_parser(
        "convert", help="convert a calibration between the formats rigkit reads and writes",
        description="Read a calibration in any format rigkit reads (the TOML of Pose2Sim / "
                    "aniposelib / FreeMoCap, Caliscope's camera_array.toml, OpenCV FileStorage "
                    "YAML/XML incl. EasyMocap's intri.yml + extri.yml) and write it in metres as "
                    "TOML, Caliscope TOML or OpenCV YAML/XML.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("input", metavar="IN", help="calibration file to read")
    parser.add_argument("output", metavar="OUT", help="file to write (.toml, .yml/.yaml, .xml)")
    parser.add_argument("--format", choices=("auto",) + FORMATS, default="auto",
                        help="output format (auto: by OUT's suffix; 'caliscope' for Caliscope)")
    parser.add_argument("--drop-unposed", action="store_true",
                        help="leave out cameras the input gives no pose (else refused)")
    add_units_argument(parser)
    parser.set_defaults(func=_run_convert)
