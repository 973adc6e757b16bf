"""DeepLabCut output: ``.csv`` (3 or 4 header rows) and ``.h5`` (pandas "table" layout), one file per camera.

DeepLabCut writes one file per analysed video, named after it
(``cam01DLC_resnet50_projectMay1shuffle1_100000.h5``); the camera name is the file name up to
``DLC_``. Columns are a MultiIndex ``scorer / [individuals /] bodyparts / coords`` with coords
``x, y, likelihood``; rows are frames (an integer index, or image paths for labelled data, whose
last number is the frame). Multi-animal files give one candidate per individual.

The ``.h5`` file is read with h5py alone (no pandas/PyTables): pandas' table layout keeps the
values in ``/<key>/table`` (fields ``index`` and ``values_block_<k>``) and the column labels as a
protocol-0 pickle of plain tuples of strings in the ``values_block_<k>_kind`` attribute, which is
read by an unpickler that refuses every global (so no code in a file can run).
"""

from __future__ import annotations

import csv
import io
import pickle
from pathlib import Path

import h5py
import numpy as np

from ..association import PersonCandidates
from .common import bad_file, candidates_from_frames, frame_number, match_cameras

__all__ = ["read_deeplabcut", "read_deeplabcut_table"]

_LEVELS = ("scorer", "individuals", "bodyparts", "coords")


class _PlainUnpickler(pickle.Unpickler):
    """Lists, tuples, strings and numbers only: any global (class, function) is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _camera_name(path: Path) -> str:
    stem = path.stem
    return stem.split("DLC_")[0].rstrip("_-") if "DLC_" in stem and stem.split("DLC_")[0] else stem


def _frame_numbers(index: list, path: Path) -> list[int]:
    numbers = []
    for position, label in enumerate(index):
        if isinstance(label, (bytes, np.bytes_)):
            label = label.decode()
        if isinstance(label, (int, np.integer)):
            numbers.append(int(label))
            continue
        label = str(label).strip()
        number = int(label) if label.lstrip("-").isdigit() else frame_number(label)
        numbers.append(position if number is None else number)
    if len(set(numbers)) != len(numbers):
        raise bad_file(path, "has repeated frame numbers in its index")
    return numbers


def _assemble(columns: list[tuple[str, ...]], values: np.ndarray, frames: list[int], path: Path
              ) -> tuple[dict[int, np.ndarray], tuple[str, ...]]:
    """Column labels (scorer, [individual,] bodypart, coord) + values (F, C) -> per-frame people."""
    depth = len(columns[0]) if columns else 0
    if depth not in (3, 4) or any(len(c) != depth for c in columns):
        raise bad_file(path, "does not have DeepLabCut's scorer/[individuals/]bodyparts/coords columns")
    individuals, bodyparts = [], []
    for column in columns:
        individual = column[1] if depth == 4 else ""
        if individual not in individuals:
            individuals.append(individual)
        if column[-2] not in bodyparts:
            bodyparts.append(column[-2])
    people = np.full((values.shape[0], len(individuals), len(bodyparts), 3), np.nan)
    slot = {"x": 0, "y": 1, "likelihood": 2}
    for c, column in enumerate(columns):
        coord = column[-1]
        if coord not in slot:
            raise bad_file(path, f"has coordinate {coord!r}, expected x, y, likelihood")
        individual = column[1] if depth == 4 else ""
        people[:, individuals.index(individual), bodyparts.index(column[-2]), slot[coord]] = values[:, c]
    # DLC has no likelihood column for labelled (ground-truth) data: treat labels as certain.
    if not any(c[-1] == "likelihood" for c in columns):
        people[..., 2] = np.where(np.isfinite(people[..., 0]), 1.0, np.nan)
    missing = ~np.isfinite(people[..., :2]).all(axis=-1)
    people[missing] = np.nan
    return {frame: people[i] for i, frame in enumerate(frames)}, tuple(bodyparts)


def _read_csv(path: Path):
    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise bad_file(path, f"is not a readable CSV file ({error})") from error
    header = 0
    while header < len(rows) and rows[header] and rows[header][0].strip() in _LEVELS:
        header += 1
    if header not in (3, 4) or rows[0][0].strip() != "scorer" or rows[header - 1][0].strip() != "coords":
        raise bad_file(path, "does not start with DeepLabCut's scorer/[individuals/]bodyparts/coords "
                             "header rows")
    width = len(rows[0])
    columns = [tuple(rows[h][c] for h in range(header)) for c in range(1, width)]
    body = [r for r in rows[header:] if r]
    if any(len(r) != width for r in body):
        raise bad_file(path, f"has rows whose length differs from the header's {width} columns")
    try:
        values = np.array([[float(v) if v.strip() else np.nan for v in r[1:]] for r in body])
    except ValueError as error:
        raise bad_file(path, f"has a non-numeric value ({error})") from error
    return columns, values.reshape(len(body), width - 1), [r[0] for r in body]


def _read_h5(path: Path, key: str | None):
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise bad_file(path, f"is not a readable HDF5 file ({error})") from error
    with handle:
        keys = [key] if key else (["df_with_missing"] if "df_with_missing" in handle else list(handle))
        group = handle.get(keys[0]) if len(keys) == 1 else None
        if not isinstance(group, h5py.Group) or "table" not in group:
            raise bad_file(path, "has no pandas table (expected /df_with_missing/table as "
                                 "DeepLabCut writes it; a 'fixed'-format file must be exported "
                                 "to .csv first)")
        table = group["table"][:]
        attrs = group["table"].attrs
        blocks = sorted(n for n in table.dtype.names if n.startswith("values_block_"))
        columns, values = [], []
        for name in blocks:
            try:
                labels = _PlainUnpickler(io.BytesIO(bytes(attrs[f"{name}_kind"]))).load()
            except (KeyError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
                raise bad_file(path, f"has unreadable column labels for {name} ({error})") from error
            block = np.asarray(table[name], dtype=np.float64).reshape(len(table), -1)
            if block.shape[1] != len(labels):
                raise bad_file(path, f"{name} has {block.shape[1]} columns for {len(labels)} labels")
            columns.extend(tuple(str(level) for level in label) for label in labels)
            values.append(block)
        if not blocks:
            raise bad_file(path, "has a pandas table without value columns")
        return columns, np.concatenate(values, axis=1), list(table["index"])


def read_deeplabcut_table(path: str | Path, *, key: str | None = None
                          ) -> tuple[dict[int, np.ndarray], tuple[str, ...]]:
    """One DeepLabCut file -> ({frame: (P, J, 3) x, y, likelihood}, bodypart names)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        columns, values, index = _read_csv(path)
    elif path.suffix.lower() in (".h5", ".hdf5", ".hdf"):
        columns, values, index = _read_h5(path, key)
    else:
        raise bad_file(path, "is neither a DeepLabCut .csv nor .h5 file")
    return _assemble(columns, values, _frame_numbers(index, path), path)


def read_deeplabcut(path: str | Path, *, camera_names=None, skeleton=None, fps: float | None = None,
                    key: str | None = None) -> PersonCandidates:
    """Candidates from DeepLabCut files: a folder of one ``.h5`` (or ``.csv``) per camera, or one file.

    skeleton: optional joint names (or skeleton) to reorder/subset the bodyparts to; by default the
        file's bodyparts in their order.
    When a folder holds both ``.h5`` and ``.csv`` of one video, the ``.h5`` is read.
    """
    path = Path(path)
    if path.is_dir():
        files = {}
        for file in sorted(path.iterdir()):
            if file.suffix.lower() in (".h5", ".csv"):
                name = _camera_name(file)
                if name not in files or file.suffix.lower() == ".h5":
                    files[name] = file
    elif path.is_file():
        files = {_camera_name(path): path}
    else:
        raise ValueError(f"{path} is neither a DeepLabCut file nor a folder of them")
    if not files:
        raise ValueError(f"{path} has no DeepLabCut .h5 or .csv files")
    per_camera, bodyparts = {}, None
    for name, file in files.items():
        frames, parts = read_deeplabcut_table(file, key=key)
        if bodyparts is not None and parts != bodyparts:
            raise bad_file(file, f"has bodyparts {parts}, other cameras have {bodyparts}")
        per_camera[name], bodyparts = frames, parts
    if skeleton is not None:
        wanted = tuple(getattr(skeleton, "joint_names", skeleton))
        absent = [n for n in wanted if n not in bodyparts]
        if absent:
            raise ValueError(f"{path}: bodyparts {', '.join(absent)} of the skeleton are not in the "
                             f"files ({', '.join(bodyparts)})")
        order = [bodyparts.index(n) for n in wanted]
        per_camera = {c: {f: p[:, order] for f, p in frames.items()} for c, frames in per_camera.items()}
        bodyparts = wanted
    pairs = match_cameras(list(per_camera), camera_names, source=str(path))
    return candidates_from_frames(per_camera, camera_pairs=pairs, joint_names=bodyparts,
                                  source=f"DeepLabCut {path}", fps=fps)
