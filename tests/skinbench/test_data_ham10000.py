"""HAM10000 metadata loading: layout discovery, labels, and every bad-input error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skinbench.data import (
    CLASSES,
    MALIGNANT,
    DataError,
    cached_images,
    find_image_dirs,
    load_metadata,
    task_classes,
    task_labels,
    write_synthetic,
)

N_SMALL = 14


@pytest.fixture(scope="module")
def small_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 14-image synthetic dataset (tiny JPEGs) to copy into other layouts."""
    return write_synthetic(tmp_path_factory.mktemp("small"), n=N_SMALL, image_size=(24, 18))


def _jpegs(src: Path) -> list[Path]:
    return sorted(src.glob("HAM10000_images_part_*/*.jpg"))


def _make_layout(src: Path, dst: Path, layout: str) -> Path:
    """Copy ``src`` (a part_1/part_2 dataset) into ``dst`` with another layout."""
    dst.mkdir()
    shutil.copy(src / "HAM10000_metadata.csv", dst)
    files = _jpegs(src)
    half = len(files) // 2
    if layout == "parts":
        shutil.copytree(src / "HAM10000_images_part_1", dst / "HAM10000_images_part_1")
        shutil.copytree(src / "HAM10000_images_part_2", dst / "HAM10000_images_part_2")
    elif layout == "kaggle":  # upper- and lowercase duplicates of both parts
        for name in ("HAM10000_images_part_1", "HAM10000_images_part_2"):
            shutil.copytree(src / name, dst / name)
            shutil.copytree(src / name, dst / name.lower())
    elif layout == "kaggle_lower":
        for f in files[:half]:
            (dst / "ham10000_images_part_1").mkdir(exist_ok=True)
            shutil.copy(f, dst / "ham10000_images_part_1")
        for f in files[half:]:
            (dst / "ham10000_images_part_2").mkdir(exist_ok=True)
            shutil.copy(f, dst / "ham10000_images_part_2")
    elif layout == "flat_root":
        for f in files:
            shutil.copy(f, dst)
    elif layout in ("HAM10000_images", "HAM10000_images_200x150", "my_jpegs"):
        (dst / layout).mkdir()
        for f in files:
            shutil.copy(f, dst / layout)
    else:  # pragma: no cover - test bug
        raise AssertionError(layout)
    return dst


def _write_csv(root: Path, edit) -> Path:
    """Apply ``edit`` to root's metadata frame and write it back."""
    csv = root / "HAM10000_metadata.csv"
    meta = pd.read_csv(csv, dtype=str)
    edit(meta).to_csv(csv, index=False)
    return csv


def test_classes_are_fixed_and_binary_task_matches_paper() -> None:
    assert CLASSES == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    assert {"mel", "bcc", "akiec"} == MALIGNANT
    assert task_classes("dx") == CLASSES
    assert task_classes("binary") == ("benign", "malignant")
    meta = pd.DataFrame({"dx": list(CLASSES)})
    assert task_labels(meta, "dx").tolist() == list(range(7))
    assert task_labels(meta, "dx").dtype == np.int64
    assert task_labels(meta, "binary").tolist() == [1, 1, 0, 0, 1, 0, 0]
    assert task_labels(meta, "binary").dtype == np.int64


@pytest.mark.parametrize("task", ["multiclass", "", "DX"])
def test_bad_task_is_a_data_error(task: str) -> None:
    with pytest.raises(DataError, match="unknown task"):
        task_labels(pd.DataFrame({"dx": ["nv"]}), task)
    with pytest.raises(DataError, match="unknown task"):
        task_classes(task)


@pytest.mark.parametrize(
    "layout, expected_dir",
    [
        ("parts", "HAM10000_images_part_"),
        ("kaggle", "HAM10000_images_part_"),  # the uppercase copy wins
        ("kaggle_lower", "ham10000_images_part_"),
        ("flat_root", ""),
        ("HAM10000_images", "HAM10000_images"),
        ("HAM10000_images_200x150", "HAM10000_images_200x150"),
        ("my_jpegs", "my_jpegs"),
    ],
)
def test_every_layout_finds_every_image(small_src: Path, tmp_path: Path, layout: str, expected_dir: str) -> None:
    root = _make_layout(small_src, tmp_path / "data", layout)
    meta = load_metadata(root)
    assert len(meta) == N_SMALL
    paths = [Path(p) for p in meta["path"]]
    assert all(p.is_absolute() and p.is_file() for p in paths)
    assert [p.stem for p in paths] == meta["image_id"].tolist()
    parents = {p.parent.name if p.parent != root else "" for p in paths}
    assert all(name.startswith(expected_dir) for name in parents), parents
    if layout in ("parts", "kaggle", "kaggle_lower"):
        assert len(parents) == 2


def test_find_image_dirs_orders_by_preference(tmp_path: Path) -> None:
    for name in (
        "zzz_other",
        "HAM10000_images_200x150",
        "ham10000_images_part_1",
        "HAM10000_images_part_2",
        "HAM10000_images_part_1",
        "empty",
    ):
        (tmp_path / name).mkdir()
        if name != "empty":
            (tmp_path / name / "ISIC_0000000.jpg").touch()
    assert [d.name for d in find_image_dirs(tmp_path)] == [
        "HAM10000_images_part_1",
        "HAM10000_images_part_2",
        "ham10000_images_part_1",
        "HAM10000_images_200x150",
        "zzz_other",
    ]


def test_metadata_columns_and_labels(synthetic_root: Path) -> None:
    meta = load_metadata(synthetic_root)
    for column in (
        "lesion_id",
        "image_id",
        "dx",
        "dx_type",
        "age",
        "sex",
        "localization",
        "path",
        "label",
        "malignant",
    ):
        assert column in meta.columns
    assert meta["label"].dtype == np.int64 and meta["malignant"].dtype == np.int64
    assert (meta["dx"] == meta["label"].map(dict(enumerate(CLASSES)))).all()
    assert (meta["malignant"] == meta["dx"].isin(MALIGNANT)).all()
    assert meta.index.tolist() == list(range(len(meta)))


def test_missing_data_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data folder not found: .*nope"):
        load_metadata(tmp_path / "nope")


def test_missing_metadata_csv(small_src: Path, tmp_path: Path) -> None:
    root = _make_layout(small_src, tmp_path / "data", "parts")
    (root / "HAM10000_metadata.csv").unlink()
    with pytest.raises(DataError, match=r"no HAM10000_metadata\.csv in"):
        load_metadata(root)


def test_missing_image_names_it_and_its_line(small_src: Path, tmp_path: Path) -> None:
    root = _make_layout(small_src, tmp_path / "data", "parts")
    meta = pd.read_csv(root / "HAM10000_metadata.csv")
    victim = meta["image_id"].iloc[3]
    next(root.glob(f"*/{victim}.jpg")).unlink()
    with pytest.raises(DataError) as err:
        load_metadata(root)
    message = str(err.value)
    assert f"{victim}.jpg" in message and "line 5" in message and "not found" in message
    assert "\n" not in message
    # ... unless the user opts into leaving it out
    assert victim not in set(load_metadata(root, skip=[victim])["image_id"])
    assert len(load_metadata(root, skip=[victim])) == N_SMALL - 1


def test_unknown_dx_names_value_and_line(small_src: Path, tmp_path: Path) -> None:
    root = _make_layout(small_src, tmp_path / "data", "parts")
    _write_csv(root, lambda m: m.assign(dx=m["dx"].where(m.index != 2, "melanoma")))
    with pytest.raises(DataError, match=r"line 4: unknown dx 'melanoma'"):
        load_metadata(root)


def test_duplicated_image_id_names_both_lines(small_src: Path, tmp_path: Path) -> None:
    root = _make_layout(small_src, tmp_path / "data", "parts")
    _write_csv(root, lambda m: pd.concat([m, m.iloc[[1]]], ignore_index=True))
    first = pd.read_csv(root / "HAM10000_metadata.csv")["image_id"].iloc[1]
    with pytest.raises(DataError, match=rf"duplicated image_id {first} on lines 3, {N_SMALL + 2}"):
        load_metadata(root)


@pytest.mark.parametrize("column", ["lesion_id", "image_id", "dx"])
def test_missing_column_is_named(small_src: Path, tmp_path: Path, column: str) -> None:
    root = _make_layout(small_src, tmp_path / "data", "parts")
    _write_csv(root, lambda m: m.drop(columns=[column]))
    with pytest.raises(DataError, match=rf"missing column\(s\) {column}"):
        load_metadata(root)


def test_empty_lesion_id_is_named(small_src: Path, tmp_path: Path) -> None:
    root = _make_layout(small_src, tmp_path / "data", "parts")
    _write_csv(root, lambda m: m.assign(lesion_id=m["lesion_id"].where(m.index != 0, "")))
    with pytest.raises(DataError, match="line 2: empty lesion_id"):
        load_metadata(root)


def test_skip_of_an_unknown_image_is_an_error(synthetic_root: Path) -> None:
    with pytest.raises(DataError, match="skip lists image_id ISIC_0000000"):
        load_metadata(synthetic_root, skip=["ISIC_0000000"])


def test_corrupt_jpeg_is_named_and_can_be_skipped(small_src: Path, tmp_path: Path) -> None:
    root = _make_layout(small_src, tmp_path / "data", "parts")
    meta = load_metadata(root)
    victim = Path(meta["path"].iloc[5])
    victim.write_bytes(victim.read_bytes()[:40])  # truncated JPEG
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=rf"cannot decode image {victim}.*skip"):
        cached_images(meta["path"].tolist(), 16, cache_dir=cache)
    assert list(cache.iterdir()) == []  # no half-written cache entry
    kept = load_metadata(root, skip=[victim.stem])
    assert cached_images(kept["path"].tolist(), 16, cache_dir=cache).shape == (N_SMALL - 1, 16, 16, 3)


@pytest.mark.data
def test_real_metadata_loads_with_readme_counts(ham10000_root: Path) -> None:
    meta = load_metadata(ham10000_root)
    assert len(meta) == 10_015
    assert meta["lesion_id"].nunique() == 7_470
    assert meta["dx"].value_counts().to_dict() == {
        "nv": 6705,
        "mel": 1113,
        "bkl": 1099,
        "bcc": 514,
        "akiec": 327,
        "vasc": 142,
        "df": 115,
    }
    # the complete 200x150 copy is preferred over the 124-image full-size sample
    assert meta["path"].map(lambda p: Path(p).parent.name).eq("HAM10000_images_200x150").all()


@pytest.mark.data
def test_real_full_size_images_in_parts_layout(ham10000_root: Path, tmp_path: Path) -> None:
    sample = ham10000_root / "HAM10000_images_600x450_sample"
    if not sample.is_dir():
        pytest.skip(f"no full-size sample folder at {sample}")
    ids = sorted(p.stem for p in sample.glob("*.jpg"))
    meta = pd.read_csv(ham10000_root / "HAM10000_metadata.csv")
    meta[meta["image_id"].isin(ids)].to_csv(tmp_path / "HAM10000_metadata.csv", index=False)
    (tmp_path / "HAM10000_images_part_1").symlink_to(sample, target_is_directory=True)
    loaded = load_metadata(tmp_path)
    assert len(loaded) == len(ids) == 124
    images = cached_images(loaded["path"].tolist()[:8], 64, cache_dir=tmp_path / "cache")
    assert images.shape == (8, 64, 64, 3) and images.std() > 10  # real pictures, not blank
