"""Labels of an external test set: the ISIC 2018 Task 3 ground truth, or a plain ``image_id,dx`` CSV.

Two layouts are recognised by their columns:

* **ISIC 2018 Task 3** (``ISIC2018_Task3_Test_GroundTruth.csv``, 1,512 images; also the
  training and validation ground truth): ``image`` plus one-hot columns
  ``MEL,NV,BCC,AKIEC,BKL,DF,VASC`` (``0``/``1`` or ``0.0``/``1.0``), exactly one 1 per row.
  The columns map to the HAM10000 codes ``mel, nv, bcc, akiec, bkl, df, vasc``.
* **plain**: ``image_id`` and ``dx`` in the HAM10000 codes ``akiec, bcc, bkl, df, mel, nv, vasc``
  (any case); other columns are ignored (``HAM10000_metadata.csv`` itself qualifies).

Every problem is a :class:`~skinbench.errors.DataError` of one line naming the file and
its line (line 1 is the header): missing columns, an unknown class (a dx code, or a
one-hot column of another layout such as ISIC 2019's ``AK``, ``SCC``, ``UNK``), a row
with no 1 or several, a value other than 0/1, an empty or duplicated id, an image
found in no folder. Images are looked up by id (the stem; a ``.jpg`` in the id is
ignored) among the ``.jpg``, ``.jpeg`` and ``.png`` files of the images folder and its
direct sub-folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from skinbench.data.ham10000 import CLASSES
from skinbench.errors import DataError

__all__ = ["ISIC2018_COLUMNS", "LAYOUTS", "find_images", "read_external_labels"]

#: The one-hot columns of the ISIC 2018 Task 3 ground truth and their HAM10000 codes.
ISIC2018_COLUMNS: dict[str, str] = {
    "MEL": "mel",
    "NV": "nv",
    "BCC": "bcc",
    "AKIEC": "akiec",
    "BKL": "bkl",
    "DF": "df",
    "VASC": "vasc",
}
#: Layout names, as recorded in the external metrics.
LAYOUTS = ("isic2018", "image_id,dx")
#: Other one-hot class columns seen in ISIC ground truths (2019: AK, SCC, UNK).
_FOREIGN_ONE_HOT = ("AK", "SCC", "UNK")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _line(index: int) -> int:
    return int(index) + 2


def find_images(folder: str | Path) -> dict[str, str]:
    """Map image id (file stem) -> path for the images in ``folder`` and its direct sub-folders.

    A stem found twice keeps the first in sorted order (the folder itself first).

    Raises:
        DataError: ``folder`` is not a folder.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()); (root / "ISIC_1.jpg").touch(); (root / "notes.txt").touch()
        >>> list(find_images(root))
        ['ISIC_1']
    """
    root = Path(folder).expanduser().absolute()
    if not root.is_dir():
        raise DataError(f"images folder not found: {root}")
    found: dict[str, str] = {}
    folders = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    for sub in folders:
        for name in sorted(os.listdir(sub)):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() in IMAGE_SUFFIXES and (sub / name).is_file():
                found.setdefault(stem, str(sub / name))
    return found


def _read(csv: Path) -> pd.DataFrame:
    if not csv.is_file():
        raise DataError(f"labels file not found: {csv}")
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv}: cannot parse CSV ({str(exc).splitlines()[0]})") from None
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise DataError(f"{csv}: no rows")
    return table


def _isic_labels(table: pd.DataFrame, csv: Path) -> tuple[pd.Series, pd.Series]:
    missing = [c for c in ISIC2018_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"{csv}: ISIC layout without column(s) {', '.join(missing)} "
            f"(expected image,{','.join(ISIC2018_COLUMNS)}: the ISIC 2018 Task 3 ground truth)"
        )
    foreign = [c for c in _FOREIGN_ONE_HOT if c in table.columns]
    values = table[list(ISIC2018_COLUMNS) + foreign].apply(lambda col: col.str.strip())
    numeric = values.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() | ~numeric.isin([0, 1])
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise DataError(
            f"{csv} line {_line(row)}: value {values.iat[row, col]!r} in column {values.columns[col]} is not 0 or 1"
        )
    ones = numeric.to_numpy() == 1
    for i, count in enumerate(ones.sum(axis=1)):
        if count != 1:
            image = str(table.at[table.index[i], "image"])
            marked = [str(c) for c, on in zip(numeric.columns, ones[i]) if on]
            what = "no class marked 1" if count == 0 else f"several classes marked 1 ({', '.join(marked)})"
            raise DataError(f"{csv} line {_line(i)}: {image} has {what}")
    column = numeric.columns[ones.argmax(axis=1)]
    unknown = [i for i, c in enumerate(column) if c not in ISIC2018_COLUMNS]
    if unknown:
        i = unknown[0]
        raise DataError(
            f"{csv} line {_line(i)}: unknown class {column[i]!s} for {table.at[table.index[i], 'image']!s} "
            f"(expected one of {', '.join(ISIC2018_COLUMNS)})"
        )
    return table["image"].str.strip(), pd.Series([ISIC2018_COLUMNS[c] for c in column], index=table.index)


def _plain_labels(table: pd.DataFrame, csv: Path) -> tuple[pd.Series, pd.Series]:
    dx = table["dx"].str.strip().str.lower()
    unknown = table.index[~dx.isin(CLASSES)]
    if len(unknown):
        i = unknown[0]
        raise DataError(
            f"{csv} line {_line(i)}: unknown dx {table.at[i, 'dx']!r} for {table.at[i, 'image_id']!s}"
            f" (expected one of {', '.join(CLASSES)})"
        )
    return table["image_id"].str.strip(), dx


def read_external_labels(labels: str | Path, images: str | Path) -> pd.DataFrame:
    r"""Read an external test set's labels and locate its images.

    Args:
        labels: The ground-truth CSV, in either layout of the module docstring.
        images: The folder holding the images.

    Returns:
        One row per CSV row, in file order: ``image_id``, ``dx`` (HAM10000 code),
        ``label`` (index into :data:`~skinbench.data.CLASSES`), ``path`` (absolute) and
        ``line`` (its CSV line). ``frame.attrs["layout"]`` is one of :data:`LAYOUTS`.

    Raises:
        DataError: One line naming the file and line of the first problem.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()); (root / "ISIC_0034524.jpg").touch()
        >>> _ = (root / "gt.csv").write_text("image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\nISIC_0034524,0.0,1.0,0,0,0,0,0\n")
        >>> frame = read_external_labels(root / "gt.csv", root)
        >>> frame[["image_id", "dx", "label"]].values.tolist(), frame.attrs["layout"]
        ([['ISIC_0034524', 'nv', 5]], 'isic2018')
    """
    csv = Path(labels).expanduser().absolute()
    table = _read(csv)
    if "image" in table.columns or any(c in table.columns for c in ISIC2018_COLUMNS):
        if "image" not in table.columns:
            raise DataError(f"{csv}: ISIC layout without an image column")
        layout = "isic2018"
        ids, dx = _isic_labels(table, csv)
    elif "image_id" in table.columns and "dx" in table.columns:
        layout = "image_id,dx"
        ids, dx = _plain_labels(table, csv)
    else:
        raise DataError(
            f"{csv}: expected columns image,{','.join(ISIC2018_COLUMNS)} (ISIC 2018 Task 3) or image_id,dx; "
            f"found {', '.join(table.columns)}"
        )
    ids = ids.map(lambda s: os.path.splitext(s)[0] if s.lower().endswith(IMAGE_SUFFIXES) else s)
    empty = ids.index[ids == ""]
    if len(empty):
        raise DataError(f"{csv} line {_line(empty[0])}: empty image id")
    dup = ids.index[ids.duplicated()]
    if len(dup):
        raise DataError(f"{csv} line {_line(dup[0])}: image {ids[dup[0]]} listed twice")
    found = find_images(images)
    paths = ids.map(found)
    missing = paths.index[paths.isna()]
    if len(missing):
        i = missing[0]
        more = f" ({len(missing) - 1} more missing)" if len(missing) > 1 else ""
        raise DataError(f"image {ids[i]} ({csv.name} line {_line(i)}) not found in {Path(images).absolute()}{more}")
    lookup = {name: i for i, name in enumerate(CLASSES)}
    frame: pd.DataFrame = pd.DataFrame(
        {
            "image_id": ids.to_numpy(),
            "dx": dx.to_numpy(),
            "label": dx.map(lookup).to_numpy(np.int64),
            "path": paths.astype(str).to_numpy(),
            "line": [_line(i) for i in range(len(ids))],
        }
    )
    frame.attrs["layout"] = layout
    return frame
