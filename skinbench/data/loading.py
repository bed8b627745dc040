"""One run's train/val/test images and labels: metadata, lesion split, labels, cached pixels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skinbench.data.cache import cached_images
from skinbench.data.ham10000 import DataError, load_metadata, task_labels
from skinbench.data.split import SPLITS, load_or_create_split, read_split, write_split


@dataclass
class SplitData:
    """One split of the dataset.

    Attributes:
        images: uint8 array (N, S, S, 3) at the run's image size.
        labels: int64 labels (N,) for the run's task.
        image_ids: The N HAM10000 image ids, in the same order.
    """

    images: np.ndarray
    labels: np.ndarray
    image_ids: list[str]


def load_split_data(
    root: str | Path,
    split_csv: str | Path,
    *,
    task: str,
    image_size: int,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    cache_dir: str | Path | None = None,
    skip: Iterable[str] = (),
    split_file: str | Path | None = None,
    progress: bool = False,
) -> dict[str, SplitData]:
    """Load the images and labels of every split: metadata, split (reused or created), cached images.

    Args:
        root: The HAM10000 folder (see :func:`~skinbench.data.load_metadata`).
        split_csv: The split file; created with ``fractions`` and ``seed`` when missing,
            reused as is otherwise (see :func:`~skinbench.data.load_or_create_split`).
        task: ``"dx"`` or ``"binary"`` (see :func:`~skinbench.data.task_labels`).
        image_size: Side of the square images in pixels.
        fractions: Train/val/test shares when the split is created.
        seed: Seed of the split when it is created.
        cache_dir: Decoded-image cache; None for :func:`~skinbench.data.default_cache_dir`.
        skip: image_ids to leave out (see :func:`~skinbench.data.load_metadata`).
        split_file: A split CSV (``skinbench split``) to copy to ``split_csv`` when that
            does not exist yet; when it does, the two must assign every image alike.
        progress: Show a progress bar while images are decoded into the cache.

    Returns:
        ``{"train": ..., "val": ..., "test": ...}``.

    Raises:
        DataError: Missing folder or files, bad metadata, bad split file, ``split_file``
            differing from the run's ``split_csv``, undecodable image.

    Example:
        >>> import tempfile
        >>> from skinbench.data.synthetic import write_synthetic
        >>> tmp = Path(tempfile.mkdtemp())
        >>> data = load_split_data(write_synthetic(tmp / "d", n=30), tmp / "split.csv", task="binary",
        ...                        image_size=8, cache_dir=tmp / "cache")
        >>> {name: len(s.labels) for name, s in data.items()}, data["test"].images.shape[1:]
        ({'train': 23, 'val': 1, 'test': 6}, (8, 8, 3))
    """
    meta = load_metadata(root, skip=skip)
    if split_file is not None:
        meta = _given_split(meta, Path(split_file), Path(split_csv))
    else:
        meta = load_or_create_split(meta, split_csv, fractions=fractions, seed=seed)
    labels = task_labels(meta, task)
    images = cached_images(meta["path"].tolist(), image_size, cache_dir=cache_dir, progress=progress)
    out = {}
    for name in SPLITS:
        mask = (meta["split"] == name).to_numpy()
        out[name] = SplitData(
            images=np.asarray(images[mask]),
            labels=labels[mask],
            image_ids=meta.loc[mask, "image_id"].tolist(),
        )
    return out


def _given_split(meta: pd.DataFrame, split_file: Path, split_csv: Path) -> pd.DataFrame:
    """``meta`` split as ``split_file`` says; the file is copied to ``split_csv`` (a run's own copy)."""
    given = read_split(meta, split_file)
    if not split_csv.exists():
        write_split(given, split_csv)
        return given
    own = read_split(meta, split_csv)
    if not own["split"].equals(given["split"]):
        raise DataError(f"{split_csv} differs from the split file {split_file}; pass the run's own split or none")
    return own
