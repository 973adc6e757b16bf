"""DeepLabCut output and labelled data: ``.csv`` and ``.h5`` (pandas "table" and "fixed" layouts).

DeepLabCut writes one file per analysed video, named after it
(``cam01DLC_resnet50_projectMay1shuffle1_100000.h5``, and ``..._filtered.h5`` after
``filterpredictions``); the camera name is the file name up to ``DLC_``. Labelled data lives in
``labeled-data/<video>/CollectedData_<scorer>.h5`` (camera = the video folder). Columns are a
MultiIndex ``scorer / [individuals /] bodyparts / coords`` with coords ``x, y[, likelihood]``;
rows are frames: an integer index (predictions), the image path (labelled data < 2.3: one index
column), or ``labeled-data / video / image`` (labelled data >= 2.3: three index columns); the
frame is the last number of the image name. Multi-animal files give one candidate per
individual (its index is the candidate's ``track_hint``, the names ``metadata["track_names"]``).

The ``.h5`` file is read with h5py alone (no pandas/PyTables): pandas' "table" layout (DeepLabCut's
predictions, ``format="table"``) keeps the values in ``/<key>/table`` (fields ``index`` and
``values_block_<k>``) and the column labels as a protocol-0 pickle of plain tuples of strings in
the ``values_block_<k>_kind`` attribute, read by an unpickler that refuses every global (so no
code in a file can run); the "fixed" layout (``df.to_hdf(path, key)``, DeepLabCut >= 2.3's
labelled data under ``/keypoints``) keeps plain arrays (see :func:`_read_fixed`).
"""

from __future__ import annotations

import csv
import glob
import io
import pickle
import warnings
from pathlib import Path

import h5py
import numpy as np

from ..association import PersonCandidates
from .common import (Decisions, DenseFrames, bad_file, candidates_from_frames, frame_number,
                     match_cameras)

__all__ = ["read_deeplabcut", "read_deeplabcut_table"]

_LEVELS = ("scorer", "individuals", "bodyparts", "coords")
_SUFFIXES = (".h5", ".csv")


class _PlainUnpickler(pickle.Unpickler):
    """Lists, tuples, strings and numbers only: any global (class, function) is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _camera_name(path: Path) -> str:
    stem = path.stem
    return stem.split("DLC_")[0].rstrip("_-") if "DLC_" in stem and stem.split("DLC_")[0] else stem


def _frame_numbers(index: list, path: Path) -> list[int]:
    as_array = np.asarray(index)
    if as_array.dtype.kind in "iu":  # predictions: the frame numbers themselves
        numbers = as_array.astype(np.int64).tolist()
        if len(set(numbers)) != len(numbers):
            raise bad_file(path, "has repeated frame numbers in its index")
        return numbers
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
              ) -> tuple[DenseFrames, tuple[str, ...], tuple[str, ...]]:
    """Column labels (scorer, [individual,] bodypart, coord) + values (F, C) -> the frames' people,
    bodypart names and individual names (``("",)`` for a single-animal file)."""
    depth = len(columns[0]) if columns else 0
    if depth not in (3, 4) or any(len(c) != depth for c in columns):
        raise bad_file(path, "does not have DeepLabCut's scorer/[individuals/]bodyparts/coords columns")
    if values.ndim != 2 or values.shape != (len(frames), len(columns)):
        raise bad_file(path, f"has {values.shape} values for {len(frames)} rows and {len(columns)} columns")
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
    people[..., 2] = np.clip(people[..., 2], 0, 1)
    ids = np.arange(len(individuals)) if individuals != [""] else np.full(1, -1)
    return (DenseFrames(frames=np.asarray(frames, dtype=np.int64), people=people,
                        hints=np.broadcast_to(ids, people.shape[:2]).astype(np.int64)),
            tuple(bodyparts), tuple(individuals))


def _read_csv(path: Path):
    """DeepLabCut CSV: header rows scorer/[individuals/]bodyparts/coords, then one row per frame
    with 1 index column (predictions, labelled data < 2.3: the image path) or 3 (labelled data
    >= 2.3: ``labeled-data, video, image``)."""
    try:
        text = path.read_text()
        rows = list(csv.reader(text.split("\n", 5)[:5]))  # the header rows (3 or 4), a data row
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise bad_file(path, f"is not a readable CSV file ({error})") from error
    header = 0
    while header < len(rows) and rows[header] and rows[header][0].strip() in _LEVELS:
        header += 1
    if header not in (3, 4) or rows[0][0].strip() != "scorer" or rows[header - 1][0].strip() != "coords":
        raise bad_file(path, "does not start with DeepLabCut's scorer/[individuals/]bodyparts/coords "
                             "header rows")
    width = len(rows[0])
    n_index = 1
    while n_index < width and not rows[0][n_index].strip():
        n_index += 1
    if n_index not in (1, 3) or n_index >= width:
        raise bad_file(path, f"has {n_index} index columns, expected 1 or 3 (DeepLabCut >= 2.3 "
                             "labelled data)")
    if any(len(rows[h]) != width for h in range(header)):
        raise bad_file(path, "has header rows of different lengths")
    columns = [tuple(rows[h][c] for h in range(header)) for c in range(n_index, width)]
    try:
        import pandas
    except ImportError:
        pandas = None
    if pandas is not None and '"' not in text:
        return columns, *_read_csv_body_pandas(pandas, text, header, n_index, width, path)
    body = [line for line in text.splitlines()[header:] if line.strip()]
    try:
        rows = list(csv.reader(body)) if '"' in text else [line.split(",", n_index) for line in body]
    except csv.Error as error:
        raise bad_file(path, f"is not a readable CSV file ({error})") from error
    if any(len(r) < n_index + 1 for r in rows) or (
            '"' not in text and any(line.count(",") != width - 1 for line in body)) or (
            '"' in text and any(len(r) != width for r in rows)):
        raise bad_file(path, f"has rows whose length differs from the header's {width} columns")
    labels = [r[0] if n_index == 1 else "/".join(r[:n_index]) for r in rows]
    values = _numbers(rows, n_index, width, path)
    return columns, values, labels


def _read_csv_body_pandas(pandas, text: str, header: int, n_index: int, width: int, path: Path):
    """The rows after the header with pandas' C parser (DeepLabCut installs pandas): (values
    (F, width - n_index) float64 with empty cells NaN, row labels). Every row must have exactly
    ``width`` cells: pandas refuses longer rows, and the comma count catches shorter ones."""
    try:
        frame = pandas.read_csv(io.StringIO(text), header=None, skiprows=header, skip_blank_lines=True,
                                dtype={c: str for c in range(n_index)})
    except (ValueError, IndexError, pandas.errors.ParserError) as error:
        raise bad_file(path, f"has a row that is not {width - n_index} numbers after its index "
                             f"({' '.join(str(error).split())[:120]})") from error
    body = text.split("\n", header)[-1] if header else text
    if frame.shape[1] != width or body.count(",") != len(frame) * (width - 1):
        raise bad_file(path, f"has rows whose length differs from the header's {width} columns")
    cells = frame.iloc[:, n_index:]
    if not all(kind in "fi" for kind in cells.dtypes.map(lambda d: d.kind)):
        raise bad_file(path, "has a cell after the index columns that is not a number")
    values = cells.to_numpy(dtype=np.float64)
    index = frame.iloc[:, :n_index].astype(str)
    if n_index == 1:
        labels = index.iloc[:, 0].tolist()
        as_int = pandas.to_numeric(index.iloc[:, 0], errors="coerce")
        if as_int.notna().all() and (as_int == as_int.round()).all():
            labels = as_int.astype(np.int64).to_numpy()
    else:
        labels = ["/".join(parts) for parts in index.itertuples(index=False)]
    return values, labels


def _numbers(rows: list[list[str]], n_index: int, width: int, path: Path) -> np.ndarray:
    """(rows, width - n_index) float64 of the cells after the index columns; empty cells NaN.
    Without pandas (or with quoted cells): numpy's C parser over the joined text, which reads
    every value as exactly as pandas does (``test_deeplabcut_csv_without_pandas_reads_the_same``).
    """
    expected = (len(rows), width - n_index)
    parts = [r[n_index] if len(r) == n_index + 1 else ",".join(r[n_index:]) for r in rows]
    # empty cells (DeepLabCut's NaN) become "nan" by plain text replacement, so numpy's C
    # parser reads the whole table in one call
    numeric = ",".join(part + "nan" if part.endswith(",") or not part else part for part in parts)
    numeric = numeric.replace(",,", ",nan,").replace(",,", ",nan,")
    numeric = "nan" + numeric if numeric.startswith(",") else numeric
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns (not raises) on text it cannot parse
            values = (np.fromstring(numeric, dtype=np.float64, sep=",") if rows
                      else np.zeros(0))
    except (ValueError, DeprecationWarning) as error:
        raise bad_file(path, "has a cell that is not a number") from error
    if values.size != expected[0] * expected[1]:
        raise bad_file(path, f"has {values.size} numbers where its {expected[0]} rows of "
                             f"{expected[1]} columns need {expected[0] * expected[1]}")
    return values.reshape(expected)


def _strings(values) -> list[str]:
    return [v.decode("utf-8", errors="replace") if isinstance(v, (bytes, np.bytes_)) else str(v)
            for v in np.asarray(values).reshape(-1)]


def _fixed_axis(group, name: str) -> list:
    """A pandas 'fixed'-format axis (an Index or a MultiIndex) as a list of labels / tuples."""
    if f"{name}_nlevels" in group.attrs or f"{name}_level0" in group:
        levels = int(group.attrs.get(f"{name}_nlevels", 0)) or \
            sum(1 for k in group if k.startswith(f"{name}_level"))
        per_level = []
        for level in range(levels):
            names = group[f"{name}_level{level}"][()]
            codes = np.asarray(group[f"{name}_label{level}"][()], dtype=np.int64)
            if codes.size and (codes.max() >= len(names) or codes.min() < -1):
                raise ValueError(f"{name} level {level} has codes outside its {len(names)} labels")
            decoded = _strings(names) if names.dtype.kind in "SUO" else list(np.asarray(names))
            per_level.append([decoded[c] if c >= 0 else "" for c in codes])
        return list(zip(*per_level))
    values = group[name][()]
    return _strings(values) if np.asarray(values).dtype.kind in "SUO" else list(np.asarray(values))


def _read_fixed(group, path: Path):
    """pandas' 'fixed' HDF5 layout (``df.to_hdf(path, key)`` without ``format="table"``, as
    DeepLabCut >= 2.3 and napari-deeplabcut write labelled data): ``axis0*`` the columns,
    ``axis1*`` the rows, ``block<k>_items*`` + ``block<k>_values (rows, items)`` the values."""
    try:
        columns_all = _fixed_axis(group, "axis0")
        index = _fixed_axis(group, "axis1")
        blocks = int(group.attrs.get("nblocks", 0))
        by_label, values = {}, np.full((len(index), len(columns_all)), np.nan)
        for c, label in enumerate(columns_all):
            by_label[tuple(str(level) for level in label)] = c
        for b in range(blocks):
            items = _fixed_axis(group, f"block{b}_items")
            block = np.asarray(group[f"block{b}_values"][()], dtype=np.float64)
            if block.shape != (len(index), len(items)):
                raise ValueError(f"block{b}_values has shape {block.shape}, expected "
                                 f"({len(index)}, {len(items)})")
            for i, item in enumerate(items):
                values[:, by_label[tuple(str(level) for level in item)]] = block[:, i]
    except (KeyError, ValueError, TypeError, IndexError, OSError) as error:
        raise bad_file(path, f"has a pandas 'fixed' table rigkit cannot read ({error})") from error
    if not blocks:
        raise bad_file(path, "has a pandas table without value columns")
    columns = [tuple(str(level) for level in label) if isinstance(label, tuple) else (str(label),)
               for label in columns_all]
    labels = ["/".join(str(x) for x in label) if isinstance(label, tuple) else label for label in index]
    return columns, values, labels


def _read_h5(path: Path, key: str | None):
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise bad_file(path, f"is not a readable HDF5 file ({error})") from error
    with handle:
        if key:
            keys = [key]
        else:
            keys = [k for k in ("df_with_missing", "keypoints") if k in handle] or list(handle)
        group = handle.get(keys[0]) if len(keys) == 1 else None
        if not isinstance(group, h5py.Group):
            raise bad_file(path, "has no single pandas table (DeepLabCut writes /df_with_missing or "
                                 f"/keypoints; this file has {', '.join(handle) or 'nothing'}; pass "
                                 "key=NAME)")
        if "table" not in group:
            if "block0_values" in group or "axis0" in group or "axis0_level0" in group:
                return _read_fixed(group, path)
            raise bad_file(path, f"/{keys[0]} is neither a pandas 'table' nor a 'fixed' frame")
        try:
            table = group["table"][()]
            attrs = group["table"].attrs
            blocks = sorted(n for n in (table.dtype.names or ()) if n.startswith("values_block_"))
        except (OSError, KeyError, TypeError) as error:
            raise bad_file(path, f"has a damaged pandas table ({error})") from error
        columns, values = [], []
        for name in blocks:
            try:
                labels = _PlainUnpickler(io.BytesIO(bytes(attrs[f"{name}_kind"]))).load()
                labels = [tuple(str(level) for level in label) for label in labels]
            except (KeyError, pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
                    AttributeError, MemoryError, RecursionError) as error:
                raise bad_file(path, f"has unreadable column labels for {name} ({error})") from error
            block = np.asarray(table[name], dtype=np.float64).reshape(len(table), -1)
            if block.shape[1] != len(labels):
                raise bad_file(path, f"{name} has {block.shape[1]} columns for {len(labels)} labels")
            columns.extend(labels)
            values.append(block)
        if not blocks or "index" not in (table.dtype.names or ()):
            raise bad_file(path, "has a pandas table without an index and value columns")
        return columns, np.concatenate(values, axis=1), list(table["index"])


def read_deeplabcut_table(path: str | Path, *, key: str | None = None
                          ) -> tuple[DenseFrames, tuple[str, ...], tuple[str, ...]]:
    """One DeepLabCut file -> (frames with people (F, P, J, 3) x, y, likelihood and the
    individual index as hint, bodypart names, individual names (``("",)`` single-animal))."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        columns, values, index = _read_csv(path)
    elif path.suffix.lower() in (".h5", ".hdf5", ".hdf"):
        columns, values, index = _read_h5(path, key)
    else:
        raise bad_file(path, "is neither a DeepLabCut .csv nor .h5 file")
    return _assemble(columns, values, _frame_numbers(index, path), path)


def _files(path: Path, decisions: Decisions) -> dict[str, Path]:
    """camera name -> the one file to read (see :func:`read_deeplabcut`)."""
    if any(c in str(path) for c in "*?["):
        listed = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        if not listed:
            raise ValueError(f"{path} matches no files")
        by_folder = len({f.parent for f in listed}) == len(listed) > 1 and \
            len({_camera_name(f) for f in listed}) < len(listed)
        candidates = [(f.parent.name if by_folder else _camera_name(f), f) for f in listed]
    elif path.is_file():
        return {_camera_name(path): path}
    elif path.is_dir():
        direct = [p for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() in _SUFFIXES]
        if direct:
            candidates = [(_camera_name(f), f) for f in direct]
        else:  # labelled data: labeled-data/<video>/CollectedData_<scorer>.h5, one folder per camera
            candidates = [(folder.name, f) for folder in sorted(p for p in path.iterdir() if p.is_dir())
                          for f in sorted(folder.iterdir())
                          if f.is_file() and f.suffix.lower() in _SUFFIXES]
    else:
        raise ValueError(f"{path} is neither a DeepLabCut file nor a folder of them")
    if not candidates:
        raise ValueError(f"{path} has no DeepLabCut .h5 or .csv files")
    grouped: dict[str, list[Path]] = {}
    for name, file in candidates:
        grouped.setdefault(name, []).append(file)
    files, twins = {}, []
    for name, group in grouped.items():
        stems = sorted({f.with_suffix("").name for f in group})
        if len(stems) > 1:
            raise ValueError(
                f"{path}: camera {name} has several DeepLabCut files ({', '.join(f.name for f in group)}); "
                f"name the ones to read in the detections argument, e.g. "
                f"deeplabcut:{path / ('*' + _tail(stems))}")
        h5 = [f for f in group if f.suffix.lower() != ".csv"]
        files[name] = h5[0] if h5 else group[0]
        if len(group) > 1:
            twins.append(name)
    if twins:
        decisions.note(f"{path}: cameras {', '.join(twins)} have both a .csv and an .h5 of the same "
                       "name (DeepLabCut writes both from one table); reading the .h5")
    return files


def _tail(stems: list[str]) -> str:
    """The part after the shortest name that the longer names add (``_filtered.h5``), for a hint."""
    shortest = min(stems, key=len)
    longer = next((s for s in stems if s != shortest and s.startswith(shortest)), None)
    return (longer[len(shortest):] if longer else "") + ".h5"


def read_deeplabcut(path: str | Path, *, camera_names=None, skeleton=None, fps: float | None = None,
                    key: str | None = None) -> PersonCandidates:
    """Candidates from DeepLabCut files (see the module docstring).

    path: one file; a folder of one ``.h5``/``.csv`` per camera (camera = the name up to
        ``DLC_``); a folder of labelled-data folders (camera = the folder name); or a glob pattern
        naming the files, which is how to choose between e.g. ``*.h5`` and ``*_filtered.h5``
        (a camera with two different files is refused, naming them).
    skeleton: optional joint names (or skeleton) to reorder/subset the bodyparts to; by default the
        file's bodyparts in their order.
    key: the HDF5 key of the pandas frame (default ``df_with_missing`` or ``keypoints``).
    When a folder holds both ``.h5`` and ``.csv`` of one video, the ``.h5`` is read (said once).
    """
    path = Path(path)
    decisions = Decisions()
    files = _files(path, decisions)
    per_camera, bodyparts, individuals = {}, None, None
    for name, file in files.items():
        frames, parts, animals = read_deeplabcut_table(file, key=key)
        if bodyparts is not None and parts != bodyparts:
            raise bad_file(file, f"has bodyparts {parts}, other cameras have {bodyparts}")
        if individuals is not None and animals != individuals:
            raise bad_file(file, f"has individuals {animals}, other cameras have {individuals}")
        per_camera[name], bodyparts, individuals = frames, parts, animals
    if skeleton is not None:
        wanted = tuple(getattr(skeleton, "joint_names", skeleton))
        absent = [n for n in wanted if n not in bodyparts]
        if absent:
            raise ValueError(f"{path}: bodyparts {', '.join(absent)} of the skeleton are not in the "
                             f"files ({', '.join(bodyparts)})")
        order = [bodyparts.index(n) for n in wanted]
        per_camera = {c: DenseFrames(frames=d.frames, people=d.people[:, :, order], hints=d.hints)
                      for c, d in per_camera.items()}
        bodyparts = wanted
    pairs = match_cameras(list(per_camera), camera_names, source=str(path), decisions=decisions)
    return candidates_from_frames(per_camera, camera_pairs=pairs, joint_names=bodyparts,
                                  source=f"DeepLabCut {path}", fps=fps,
                                  track_names=individuals if individuals != ("",) else None,
                                  decisions=decisions)
