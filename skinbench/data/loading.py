"""The images and labels of one run's train/val/test splits, loaded through skinbench.data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skinbench.config import TrainConfig
from skinbench.data import SPLITS, cached_images, load_metadata, load_or_create_split, task_labels


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


def load_splits(config: TrainConfig, split_csv: str | Path) -> dict[str, SplitData]:
    """Load the run's data: metadata, lesion-level split (reused or created), cached images.

    Args:
        config: The run configuration (``data``, ``task``, ``image_size``, ``fractions``,
            ``seed``, ``cache_dir``).
        split_csv: The run's split file; created with ``config.fractions`` and
            ``config.seed`` when missing, reused as is otherwise.

    Returns:
        ``{"train": ..., "val": ..., "test": ...}``.

    Raises:
        skinbench.data.DataError: Missing folder or files, bad metadata, bad split file.
    """
    meta = load_metadata(config.data)
    meta = load_or_create_split(meta, split_csv, fractions=config.fractions, seed=config.seed)
    labels = task_labels(meta, config.task)
    images = cached_images(meta["path"].tolist(), config.image_size, cache_dir=config.cache_dir)
    out = {}
    for name in SPLITS:
        mask = (meta["split"] == name).to_numpy()
        out[name] = SplitData(
            images=np.asarray(images[mask]),
            labels=labels[mask],
            image_ids=meta.loc[mask, "image_id"].tolist(),
        )
    return out
