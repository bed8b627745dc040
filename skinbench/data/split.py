"""Train/val/test split by lesion, stratified by diagnosis, saved for reuse.

HAM10000 has up to 6 images of one lesion; splitting images instead of lesions
would put near-copies of test images in the training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from skinbench.atomic import atomic_path
from skinbench.data.ham10000 import CLASSES, DataError

SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_COLUMNS: tuple[str, ...] = ("image_id", "lesion_id", "dx", "split")


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0) or f[0] <= 0:
        raise DataError(
            f"split fractions must be 3 non-negative numbers (train > 0) summing to 1, got {list(fractions)}"
        )
    return f


def split_by_lesion(meta: pd.DataFrame, fractions: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0) -> pd.DataFrame:
    """Assign every image to train/val/test so that no lesion spans two splits.

    Each lesion takes its ``dx`` (HAM10000 lesions have one; a lesion with several
    takes its most frequent). Per class, the lesions are shuffled with ``seed`` and
    cut where their cumulative image count crosses the fractions, so every class is
    split by *image* count as closely as whole lesions allow. The result depends on
    the rows' content, not their order.

    Args:
        meta: Frame with ``image_id``, ``lesion_id`` and ``dx`` (e.g. from
            :func:`~skinbench.data.load_metadata`).
        fractions: (train, val, test) shares of the images; summing to 1.
        seed: Random seed.

    Returns:
        A copy of ``meta`` with a ``split`` column, one of ``"train"``, ``"val"``,
        ``"test"``.

    Raises:
        DataError: bad fractions.

    Example:
        >>> meta = pd.DataFrame({"image_id": [f"i{k}" for k in range(20)],
        ...                      "lesion_id": [f"l{k // 2}" for k in range(20)],
        ...                      "dx": ["nv"] * 20})
        >>> s = split_by_lesion(meta, (0.6, 0.2, 0.2))
        >>> s["split"].value_counts().to_dict()
        {'train': 12, 'val': 4, 'test': 4}
        >>> bool((s.groupby("lesion_id")["split"].nunique() == 1).all())
        True
    """
    f = _check_fractions(fractions)
    bounds = np.cumsum(f)[:2]
    per_dx = meta.groupby(["lesion_id", "dx"]).size().rename("n").reset_index()
    lesions = (
        per_dx.sort_values(["lesion_id", "n", "dx"], ascending=[True, False, True])
        .drop_duplicates("lesion_id")
        .set_index("lesion_id")[["dx"]]
        .assign(size=meta.groupby("lesion_id").size())
    )
    rng = np.random.default_rng(seed)
    lesion_split: dict[str, str] = {}
    extra = sorted(set(lesions["dx"]) - set(CLASSES))
    for dx in (*CLASSES, *extra):
        group = lesions[lesions["dx"] == dx]
        if group.empty:
            continue
        group = group.iloc[rng.permutation(len(group))]
        sizes = group["size"].to_numpy()
        # a lesion goes where the midpoint of its images falls on the [0, 1] line
        middle = (np.cumsum(sizes) - sizes / 2) / sizes.sum()
        which = np.searchsorted(bounds, middle, side="right")
        lesion_split.update(zip(group.index, (SPLITS[k] for k in which)))
    out: pd.DataFrame = meta.assign(split=meta["lesion_id"].map(lesion_split))
    return out


def split_summary(split: pd.DataFrame) -> pd.DataFrame:
    """Images, lesions and each class's share (%) per split, plus the whole set.

    Args:
        split: A frame with ``lesion_id``, ``dx`` and ``split``.

    Returns:
        One row per split (in :data:`SPLITS` order) and an ``all`` row; columns
        ``images``, ``lesions`` and one percentage column per class present.

    Example:
        >>> meta = pd.DataFrame({"image_id": list("abcd"), "lesion_id": list("abcd"),
        ...                      "dx": ["nv", "nv", "mel", "nv"], "split": ["train"] * 3 + ["test"]})
        >>> split_summary(meta).loc["train", ["images", "mel", "nv"]].tolist()
        [3.0, 33.3, 66.7]
    """
    frames = {name: split[split["split"] == name] for name in SPLITS}
    frames["all"] = split
    rows = {}
    for name, part in frames.items():
        if part.empty:
            continue
        shares = (part["dx"].value_counts(normalize=True) * 100).round(1)
        rows[name] = {"images": len(part), "lesions": part["lesion_id"].nunique(), **shares.to_dict()}
    classes = [c for c in (*CLASSES, *sorted(set(split["dx"]) - set(CLASSES))) if c in set(split["dx"])]
    summary: pd.DataFrame = (
        pd.DataFrame.from_dict(rows, orient="index").reindex(columns=["images", "lesions", *classes]).fillna(0.0)
    )
    return summary


def write_split(split: pd.DataFrame, path: str | Path) -> Path:
    """Write the ``image_id, lesion_id, dx, split`` columns of ``split`` atomically.

    Args:
        split: A frame from :func:`split_by_lesion`.
        path: CSV to write; parent folders are created.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        split.loc[:, list(SPLIT_COLUMNS)].to_csv(tmp, index=False)
    return path


def read_split(meta: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Apply a saved split CSV to ``meta``, checking that it fits.

    Args:
        meta: Frame with ``image_id`` and ``lesion_id``.
        path: A CSV with at least ``image_id`` and ``split`` columns.

    Returns:
        A copy of ``meta`` with the saved ``split`` column.

    Raises:
        DataError: unreadable CSV, missing column, unknown split name, or image_ids
            that differ from ``meta``'s, or a lesion in two splits.
    """
    path = Path(path)
    try:
        saved = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse split CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in ("image_id", "split") if c not in saved.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    bad = saved.index[~saved["split"].isin(SPLITS)]
    if len(bad):
        raise DataError(
            f"{path} line {bad[0] + 2}: unknown split {saved.at[bad[0], 'split']!r}"
            f" (expected one of {', '.join(SPLITS)})"
        )
    dup = saved["image_id"].duplicated()
    if dup.any():
        raise DataError(f"{path}: duplicated image_id {saved.loc[dup, 'image_id'].iloc[0]}")
    saved_ids, meta_ids = set(saved["image_id"]), set(meta["image_id"])
    if saved_ids != meta_ids:
        only_saved, only_meta = sorted(saved_ids - meta_ids), sorted(meta_ids - saved_ids)
        example = (
            f"e.g. {only_meta[0]} is not in the split" if only_meta else f"e.g. {only_saved[0]} is not in the data"
        )
        raise DataError(
            f"{path} does not match the data: {len(only_meta)} image(s) missing from it,"
            f" {len(only_saved)} extra ({example}); delete it to re-split"
        )
    out: pd.DataFrame = meta.assign(split=meta["image_id"].map(dict(zip(saved["image_id"], saved["split"]))))
    shared = out.groupby("lesion_id")["split"].nunique()
    if (shared > 1).any():
        raise DataError(f"{path}: lesion {shared.index[shared > 1][0]} is in more than one split")
    return out


def load_or_create_split(
    meta: pd.DataFrame,
    path: str | Path,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> pd.DataFrame:
    """Reuse the split saved at ``path``, or make one and save it there.

    A saved split always wins over ``fractions`` and ``seed`` (so reruns compare
    like with like); delete the file to split again.

    Args:
        meta: Frame with ``image_id``, ``lesion_id`` and ``dx``.
        path: Split CSV (see :func:`write_split`).
        fractions: (train, val, test) shares, used only when creating.
        seed: Random seed, used only when creating.

    Returns:
        A copy of ``meta`` with a ``split`` column.

    Raises:
        DataError: the saved CSV does not match ``meta`` (see :func:`read_split`).

    Example:
        >>> import tempfile
        >>> meta = pd.DataFrame({"image_id": ["a", "b", "c"], "lesion_id": ["1", "2", "3"],
        ...                      "dx": ["nv", "nv", "mel"]})
        >>> path = Path(tempfile.mkdtemp()) / "split.csv"
        >>> first = load_or_create_split(meta, path, seed=1)
        >>> again = load_or_create_split(meta, path, seed=2)  # reuses the file
        >>> first["split"].tolist() == again["split"].tolist()
        True
    """
    path = Path(path)
    if path.exists():
        return read_split(meta, path)
    split = split_by_lesion(meta, fractions, seed)
    write_split(split, path)
    return split
