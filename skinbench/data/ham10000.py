"""HAM10000 metadata: validation, image discovery and the two label tasks.

The 7 diagnosis classes are always in the order of :data:`CLASSES` (alphabetical,
the order of the ISIC 2018 Task 3 ground truth columns), so an integer label means
the same class in every run, checkpoint and confusion matrix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from skinbench.errors import DataError

__all__ = [
    "BINARY_CLASSES",
    "CLASSES",
    "MALIGNANT",
    "METADATA_FILE",
    "TASKS",
    "DataError",
    "find_image_dirs",
    "load_metadata",
    "task_classes",
    "task_labels",
    "task_outputs",
]

CLASSES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
"""The 7 ``dx`` classes in their fixed order; ``label`` indexes into this tuple.

akiec: actinic keratoses / intraepithelial carcinoma, bcc: basal cell carcinoma,
bkl: benign keratosis-like lesions, df: dermatofibroma, mel: melanoma,
nv: melanocytic nevi, vasc: vascular lesions.
"""

MALIGNANT: frozenset[str] = frozenset({"mel", "bcc", "akiec"})
"""The ``dx`` classes counted as malignant by the binary task; the other 4 are benign."""

BINARY_CLASSES: tuple[str, ...] = ("benign", "malignant")
"""Class names of the binary task; ``malignant`` is 1."""

TASKS: tuple[str, ...] = ("dx", "binary")
"""The label tasks understood by :func:`task_labels` and :func:`task_classes`."""

METADATA_FILE = "HAM10000_metadata.csv"
REQUIRED_COLUMNS: tuple[str, ...] = ("lesion_id", "image_id", "dx")

# Known image folders, most preferred first: the originals of the official release
# (and the lowercase duplicates of the Kaggle copy), a flat folder, the 200x150 copy.
KNOWN_IMAGE_DIRS: tuple[str, ...] = (
    "HAM10000_images_part_1",
    "HAM10000_images_part_2",
    "ham10000_images_part_1",
    "ham10000_images_part_2",
    "HAM10000_images",
    "images",
    "HAM10000_images_200x150",
)
_IMAGE_SUFFIXES = (".jpg", ".jpeg")


def _has_images(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(e.name.lower().endswith(_IMAGE_SUFFIXES) for e in entries)


def find_image_dirs(root: str | Path) -> list[Path]:
    """List the folders under ``root`` that hold HAM10000 JPEGs, most preferred first.

    Recognised layouts: ``HAM10000_images_part_1/`` + ``HAM10000_images_part_2/``
    (also the Kaggle copy's lowercase duplicates, which are skipped when they are the
    same folder on a case-insensitive file system), a flat folder (``root`` itself,
    ``HAM10000_images/`` or ``images/``) and ``HAM10000_images_200x150/``. Any other
    direct sub-folder holding JPEGs comes last, in name order. An image found in
    several folders is taken from the first one (see :func:`load_metadata`).

    Args:
        root: The dataset folder (the one holding ``HAM10000_metadata.csv``).

    Returns:
        Absolute folder paths; empty when no folder holds a ``.jpg``.

    Raises:
        DataError: ``root`` is not a folder.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for d in ("HAM10000_images_part_2", "HAM10000_images_part_1"):
        ...     (root / d).mkdir(); (root / d / "ISIC_0000000.jpg").touch()
        >>> [p.name for p in find_image_dirs(root)]
        ['HAM10000_images_part_1', 'HAM10000_images_part_2']
    """
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    known = {name: i for i, name in enumerate(KNOWN_IMAGE_DIRS)}
    flat_rank = known["HAM10000_images"]
    ranked: list[tuple[int, str, Path]] = []
    if _has_images(root):
        ranked.append((flat_rank, "", root))
    for child in sorted(root.iterdir()):
        if child.is_dir() and _has_images(child):
            ranked.append((known.get(child.name, len(known)), child.name, child))
    dirs: list[Path] = []
    for _, _, folder in sorted(ranked):
        if not any(os.path.samefile(folder, seen) for seen in dirs):
            dirs.append(folder)
    return dirs


def _index_images(dirs: list[Path]) -> dict[str, str]:
    """Map image_id -> absolute path, the first folder in ``dirs`` winning."""
    found: dict[str, str] = {}
    for folder in dirs:
        for name in sorted(os.listdir(folder)):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() in _IMAGE_SUFFIXES:
                found.setdefault(stem, str(folder / name))
    return found


def _line(index: int) -> int:
    """CSV line number of a 0-based data row (line 1 is the header)."""
    return int(index) + 2


def _check_columns(meta: pd.DataFrame, csv: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in meta.columns]
    if missing:
        raise DataError(f"{csv}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, meta.columns))})")
    for column in REQUIRED_COLUMNS:
        empty = meta.index[meta[column].isna() | (meta[column].str.strip() == "")]
        if len(empty):
            raise DataError(f"{csv} line {_line(empty[0])}: empty {column}")


def _check_values(meta: pd.DataFrame, csv: Path) -> None:
    unknown = meta.index[~meta["dx"].isin(CLASSES)]
    if len(unknown):
        i = unknown[0]
        image_id = str(meta.at[i, "image_id"])
        raise DataError(
            f"{csv} line {_line(i)}: unknown dx {meta.at[i, 'dx']!r} for {image_id}"
            f" (expected one of {', '.join(CLASSES)})"
        )
    dup = meta["image_id"].duplicated(keep=False)
    if dup.any():
        first = meta.loc[dup, "image_id"].iloc[0]
        lines = [_line(i) for i in meta.index[meta["image_id"] == first]]
        raise DataError(f"{csv}: duplicated image_id {first} on lines {', '.join(map(str, lines))}")


def _apply_skip(meta: pd.DataFrame, skip: Iterable[str], csv: Path) -> pd.DataFrame:
    skip = {str(s) for s in skip}
    if not skip:
        return meta
    unknown = sorted(skip - set(meta["image_id"]))
    if unknown:
        raise DataError(f"skip lists image_id {unknown[0]} which is not in {csv}")
    kept: pd.DataFrame = meta[~meta["image_id"].isin(skip)]
    return kept


def _attach_paths(meta: pd.DataFrame, root: Path, csv: Path) -> pd.DataFrame:
    dirs = find_image_dirs(root)
    found = _index_images(dirs)
    paths = meta["image_id"].map(found)
    missing = meta.index[paths.isna()]
    if len(missing):
        i = missing[0]
        where = ", ".join(str(d) for d in dirs) or f"{root} (no folder with .jpg files)"
        more = f" ({len(missing) - 1} more missing)" if len(missing) > 1 else ""
        image_id = str(meta.at[i, "image_id"])
        raise DataError(f"image {image_id}.jpg ({csv.name} line {_line(i)}) not found in {where}{more}")
    with_paths: pd.DataFrame = meta.assign(path=paths.astype(str))
    return with_paths


def load_metadata(root: str | Path, *, skip: Iterable[str] = ()) -> pd.DataFrame:
    """Read and validate ``root/HAM10000_metadata.csv`` and locate every image.

    Every problem is an error, never a silent drop: a missing folder, file or
    column, an empty id, an unknown ``dx``, a duplicated ``image_id`` or an image
    found in none of the :func:`find_image_dirs` folders. Images known to be bad
    are left out only when the caller lists their ``image_id`` in ``skip``.

    Args:
        root: The dataset folder.
        skip: image_ids to leave out (e.g. corrupt JPEGs); each must be in the CSV.

    Returns:
        The CSV's rows in file order (minus ``skip``), index reset, with all its
        columns plus ``path`` (absolute str), ``label`` (int64 index into
        :data:`CLASSES`) and ``malignant`` (int64, 1 for :data:`MALIGNANT`).

    Raises:
        DataError: with a one-line message naming the file, line or column.

    Example:
        >>> import tempfile
        >>> from skinbench.data.synthetic import write_synthetic
        >>> meta = load_metadata(write_synthetic(tempfile.mkdtemp(), n=14))
        >>> len(meta), sorted(meta["dx"].unique()) == sorted(CLASSES)
        (14, True)
        >>> meta[["label", "malignant"]].dtypes.tolist()
        [dtype('int64'), dtype('int64')]
    """
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    csv = root / METADATA_FILE
    if not csv.is_file():
        raise DataError(f"no {METADATA_FILE} in {root}")
    try:
        meta = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv}: cannot parse CSV ({str(exc).splitlines()[0]})") from None
    _check_columns(meta, csv)
    for column in REQUIRED_COLUMNS:
        meta[column] = meta[column].str.strip()
    _check_values(meta, csv)
    meta = _apply_skip(meta, skip, csv)
    meta = _attach_paths(meta, root, csv)
    lookup = {name: i for i, name in enumerate(CLASSES)}
    meta["label"] = meta["dx"].map(lookup).astype(np.int64)
    meta["malignant"] = meta["dx"].isin(MALIGNANT).astype(np.int64)
    result: pd.DataFrame = meta.reset_index(drop=True)
    return result


def task_classes(task: str) -> tuple[str, ...]:
    """Class names of a label task, in label order.

    Args:
        task: ``"dx"`` (the 7 diagnoses) or ``"binary"`` (benign vs malignant).

    Raises:
        DataError: unknown task.

    Example:
        >>> task_classes("binary")
        ('benign', 'malignant')
        >>> len(task_classes("dx"))
        7
    """
    if task == "dx":
        return CLASSES
    if task == "binary":
        return BINARY_CLASSES
    raise DataError(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")


def task_outputs(task: str) -> int:
    """Outputs of a model for a label task: one logit for ``"binary"``, one per class for ``"dx"``.

    Example:
        >>> task_outputs("dx"), task_outputs("binary")
        (7, 1)
    """
    return 1 if task == "binary" else len(task_classes(task))


def task_labels(meta: pd.DataFrame, task: str) -> np.ndarray:
    """Integer labels of ``meta`` for a task, as an int64 array.

    Args:
        meta: A frame from :func:`load_metadata` (needs ``dx``).
        task: ``"dx"`` -> index into :data:`CLASSES`; ``"binary"`` -> 1 if malignant.

    Raises:
        DataError: unknown task.

    Example:
        >>> meta = pd.DataFrame({"dx": ["nv", "mel", "akiec"]})
        >>> task_labels(meta, "dx").tolist(), task_labels(meta, "binary").tolist()
        ([5, 4, 0], [0, 1, 1])
    """
    task_classes(task)  # validates the task name
    if task == "dx":
        return meta["dx"].map({name: i for i, name in enumerate(CLASSES)}).to_numpy(np.int64)
    return meta["dx"].isin(MALIGNANT).to_numpy(np.int64)
