"""HAM10000 data pipeline: metadata, lesion-level split, decode-once cache, datasets.

Typical use::

    meta = load_metadata(root)                       # validated, with image paths
    meta = load_or_create_split(meta, run / "split.csv")
    train = meta[meta["split"] == "train"]
    images = cached_images(train["path"].tolist(), 224)
    mean, std = channel_stats(images)
    ds = LesionDataset(images, task_labels(train, "dx"), make_transform(True, mean, std))

or all of it at once: ``load_split_data(root, run / "split.csv", task="dx", image_size=224)``.
"""

from skinbench.data.cache import RESIZE_RULE, cached_images, decode_image, default_cache_dir, resize_image
from skinbench.data.dataset import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LesionDataset,
    channel_stats,
    make_transform,
)
from skinbench.data.ham10000 import (
    BINARY_CLASSES,
    CLASSES,
    MALIGNANT,
    TASKS,
    DataError,
    find_image_dirs,
    load_metadata,
    task_classes,
    task_labels,
    task_outputs,
)
from skinbench.data.loading import SplitData, load_split_data
from skinbench.data.split import (
    SPLITS,
    load_or_create_split,
    read_split,
    split_by_lesion,
    split_summary,
    write_split,
)
from skinbench.data.synthetic import write_synthetic

__all__ = [
    "BINARY_CLASSES",
    "CLASSES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MALIGNANT",
    "RESIZE_RULE",
    "SPLITS",
    "TASKS",
    "DataError",
    "LesionDataset",
    "SplitData",
    "cached_images",
    "channel_stats",
    "decode_image",
    "default_cache_dir",
    "find_image_dirs",
    "load_metadata",
    "load_or_create_split",
    "load_split_data",
    "make_transform",
    "read_split",
    "resize_image",
    "split_by_lesion",
    "split_summary",
    "task_classes",
    "task_labels",
    "task_outputs",
    "write_split",
    "write_synthetic",
]
