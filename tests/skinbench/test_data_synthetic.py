"""The synthetic dataset: HAM10000 layout, lesions, determinism, learnable classes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinbench.data import (
    CLASSES,
    DataError,
    cached_images,
    load_metadata,
    split_by_lesion,
    task_labels,
    write_synthetic,
)


def test_layout_matches_ham10000(synthetic_root: Path) -> None:
    assert sorted(p.name for p in synthetic_root.iterdir()) == [
        ".skinbench-synthetic.json",  # what synth wrote, so --force never replaces another metadata file
        "HAM10000_images_part_1",
        "HAM10000_images_part_2",
        "HAM10000_metadata.csv",
    ]
    raw = pd.read_csv(synthetic_root / "HAM10000_metadata.csv")
    assert list(raw.columns) == ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
    assert raw["image_id"].str.fullmatch(r"ISIC_\d{7}").all()
    assert raw["lesion_id"].str.fullmatch(r"HAM_\d{7}").all()
    jpegs = sorted(synthetic_root.glob("HAM10000_images_part_*/*.jpg"))
    assert sorted(p.stem for p in jpegs) == sorted(raw["image_id"])
    assert {p.parent.name for p in jpegs} == {"HAM10000_images_part_1", "HAM10000_images_part_2"}
    with Image.open(jpegs[0]) as img:
        assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (200, 150))


def test_classes_and_lesions(synthetic_root: Path) -> None:
    meta = load_metadata(synthetic_root)
    counts = meta["dx"].value_counts()
    assert set(counts.index) == set(CLASSES)
    assert counts.idxmax() == "nv"  # imbalanced like HAM10000
    per_lesion = meta.groupby("lesion_id").agg(n=("image_id", "size"), dx=("dx", "nunique"))
    assert per_lesion["n"].between(1, 4).all() and (per_lesion["n"] > 1).any()
    assert (per_lesion["dx"] == 1).all()


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    def digest(root: Path) -> str:
        files = sorted(root.rglob("*"))
        return hashlib.sha256(b"".join(f.read_bytes() for f in files if f.is_file())).hexdigest()

    a = write_synthetic(tmp_path / "a", n=9, seed=3, image_size=(20, 16))
    b = write_synthetic(tmp_path / "b", n=9, seed=3, image_size=(20, 16))
    c = write_synthetic(tmp_path / "c", n=9, seed=4, image_size=(20, 16))
    assert digest(a) == digest(b) != digest(c)
    assert len(load_metadata(a)) == 9


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 6}, "at least 7"),
        ({"n": 10, "image_size": (4, 100)}, "at least 8x8"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        write_synthetic(tmp_path, **kwargs)


def test_classes_are_learnable(synthetic_root: Path, tmp_path: Path) -> None:
    meta = split_by_lesion(load_metadata(synthetic_root), fractions=(0.7, 0.0, 0.3), seed=0)
    images = cached_images(meta["path"].tolist(), 32, cache_dir=tmp_path).astype(float)
    # hand-made features: the skin colour (border), the blob's colour and its area
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1).mean(1)
    blob = np.linalg.norm(images - border[:, None, None], axis=-1) > 40
    assert blob.any(axis=(1, 2)).all()
    colour = np.stack([im[m].mean(0) for im, m in zip(images, blob)])
    features = np.c_[border, colour, blob.mean(axis=(1, 2))]
    labels = task_labels(meta, "dx")
    train, test = (meta["split"] == "train").to_numpy(), (meta["split"] == "test").to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    accuracy = (model.fit(features[train], labels[train]).predict(features[test]) == labels[test]).mean()
    assert accuracy > 0.85, accuracy
