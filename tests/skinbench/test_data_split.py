"""Lesion-level, dx-stratified train/val/test split and its saved CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skinbench.data import (
    CLASSES,
    SPLITS,
    DataError,
    load_metadata,
    load_or_create_split,
    split_by_lesion,
    split_summary,
)
from skinbench.data import split as split_module


def _lesions_shared(split: pd.DataFrame) -> int:
    return int((split.groupby("lesion_id")["split"].nunique() > 1).sum())


def _max_share_deviation_pp(split: pd.DataFrame) -> float:
    overall = split["dx"].value_counts(normalize=True)
    per_split = pd.crosstab(split["dx"], split["split"], normalize="columns")
    return float(per_split.sub(overall, axis=0).abs().to_numpy().max() * 100)


@pytest.fixture(scope="module")
def real_meta(ham10000_root: Path) -> pd.DataFrame:
    return load_metadata(ham10000_root)


@pytest.mark.data
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_split_has_no_shared_lesion_and_keeps_class_shares(real_meta: pd.DataFrame, seed: int) -> None:
    split = split_by_lesion(real_meta, seed=seed)
    assert _lesions_shared(split) == 0
    assert _max_share_deviation_pp(split) < 2.0
    sizes = split["split"].value_counts(normalize=True)
    for name, target in zip(SPLITS, (0.7, 0.1, 0.2)):
        assert abs(sizes[name] - target) < 0.01
    for name in SPLITS:  # every class in every split
        assert set(split.loc[split["split"] == name, "dx"]) == set(CLASSES)


@pytest.mark.data
def test_real_split_other_fractions(real_meta: pd.DataFrame) -> None:
    split = split_by_lesion(real_meta, fractions=(0.8, 0.0, 0.2), seed=3)
    assert set(split["split"]) == {"train", "test"}
    assert _lesions_shared(split) == 0
    assert _max_share_deviation_pp(split) < 2.0


def test_split_is_seeded_and_ignores_row_order(synthetic_root: Path) -> None:
    meta = load_metadata(synthetic_root)
    a = split_by_lesion(meta, seed=7)
    b = split_by_lesion(meta.sample(frac=1.0, random_state=1), seed=7)
    c = split_by_lesion(meta, seed=8)
    by_id = lambda s: s.set_index("image_id")["split"].sort_index()  # noqa: E731
    assert by_id(a).equals(by_id(b))
    assert not by_id(a).equals(by_id(c))
    assert a.drop(columns="split").equals(meta)  # a copy of meta plus "split"
    assert "split" not in meta.columns


def test_synthetic_split_properties(synthetic_root: Path) -> None:
    split = split_by_lesion(load_metadata(synthetic_root))
    assert _lesions_shared(split) == 0
    assert set(split["split"]) == set(SPLITS)
    summary = split_summary(split)
    assert summary.loc["all", "images"] == len(split)
    assert summary.loc[list(SPLITS), "images"].sum() == len(split)


@pytest.mark.parametrize("fractions", [(0.7, 0.2, 0.2), (0.5, 0.5), (1.2, -0.1, -0.1), (0.0, 0.5, 0.5)])
def test_bad_fractions(fractions: tuple) -> None:
    meta = pd.DataFrame({"image_id": ["a"], "lesion_id": ["l"], "dx": ["nv"]})
    with pytest.raises(DataError, match="split fractions"):
        split_by_lesion(meta, fractions)


@settings(max_examples=40, deadline=None)
@given(
    lesions=st.lists(st.tuples(st.sampled_from(CLASSES), st.integers(1, 6)), min_size=1, max_size=60),
    seed=st.integers(0, 2**31 - 1),
)
def test_split_never_leaks_a_lesion(lesions: list[tuple[str, int]], seed: int) -> None:
    rows = [
        {"image_id": f"i{j}_{k}", "lesion_id": f"l{j}", "dx": dx} for j, (dx, n) in enumerate(lesions) for k in range(n)
    ]
    meta = pd.DataFrame(rows)
    split = split_by_lesion(meta, seed=seed)
    assert len(split) == len(meta)
    assert split["split"].isin(SPLITS).all()
    assert _lesions_shared(split) == 0


def test_load_or_create_writes_then_reuses(synthetic_root: Path, tmp_path: Path, monkeypatch) -> None:
    meta = load_metadata(synthetic_root)
    path = tmp_path / "run" / "split.csv"
    first = load_or_create_split(meta, path, seed=1)
    saved = pd.read_csv(path)
    assert list(saved.columns) == ["image_id", "lesion_id", "dx", "split"]
    assert len(saved) == len(meta)
    assert not list(path.parent.glob(".*tmp"))  # atomic write left no temp file

    def no_split(*args, **kwargs):
        raise AssertionError("split_by_lesion called although the CSV exists")

    monkeypatch.setattr(split_module, "split_by_lesion", no_split)
    again = load_or_create_split(meta.sample(frac=1.0, random_state=0), path, seed=99)
    assert again.set_index("image_id")["split"].sort_index().equals(first.set_index("image_id")["split"].sort_index())


def test_saved_split_must_match_the_data(synthetic_root: Path, tmp_path: Path) -> None:
    meta = load_metadata(synthetic_root)
    path = tmp_path / "split.csv"
    load_or_create_split(meta, path)
    with pytest.raises(DataError, match=r"does not match the data: 1 image\(s\) missing"):
        load_or_create_split(pd.concat([meta, meta.iloc[[0]].assign(image_id="ISIC_new")]), path)
    with pytest.raises(DataError, match=r"0 image.*missing from it, 1 extra"):
        load_or_create_split(meta.iloc[1:], path)


def test_saved_split_with_a_leaking_lesion_is_rejected(synthetic_root: Path, tmp_path: Path) -> None:
    meta = load_metadata(synthetic_root)
    path = tmp_path / "split.csv"
    split = load_or_create_split(meta, path)
    sizes = split.groupby("lesion_id").size()
    lesion = sizes.index[sizes > 1][0]
    rows = np.flatnonzero(split["lesion_id"] == lesion)
    edited = split.copy()
    edited.loc[rows[0], "split"] = "train"
    edited.loc[rows[1], "split"] = "test"
    edited[["image_id", "lesion_id", "dx", "split"]].to_csv(path, index=False)
    with pytest.raises(DataError, match=f"lesion {lesion} is in more than one split"):
        load_or_create_split(meta, path)


def test_saved_split_with_unknown_split_name(synthetic_root: Path, tmp_path: Path) -> None:
    meta = load_metadata(synthetic_root)
    path = tmp_path / "split.csv"
    split = load_or_create_split(meta, path)
    split.assign(split=split["split"].replace("val", "valid"))[["image_id", "split"]].to_csv(path, index=False)
    with pytest.raises(DataError, match="unknown split 'valid'"):
        load_or_create_split(meta, path)
