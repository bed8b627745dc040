"""Decode-once image cache: order, keying, atomicity, and no decode on a hit."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skinbench.data import DataError, cached_images, default_cache_dir, load_metadata
from skinbench.data import cache as cache_module


@pytest.fixture(scope="module")
def paths(synthetic_root: Path) -> list[str]:
    return load_metadata(synthetic_root)["path"].tolist()[:12]


def _forbid_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(path: str, size: int) -> np.ndarray:
        raise AssertionError(f"decoded {path} on a cache hit")

    monkeypatch.setattr(cache_module, "_decode", boom)


def test_images_match_a_direct_decode_in_order(paths: list[str], tmp_path: Path) -> None:
    images = cached_images(paths, 32, cache_dir=tmp_path)
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
    for i in (0, 5, 11):
        with Image.open(paths[i]) as img:
            direct = np.asarray(img.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
        # JPEG draft mode (reduced-scale DCT) differs from a full decode only slightly
        errors = [np.abs(images[j].astype(int) - direct).mean() for j in range(len(paths))]
        assert errors[i] < 2 and int(np.argmin(errors)) == i
    assert not images.flags.writeable  # a read-only memory map
    reverse = cached_images(paths[::-1], 32, cache_dir=tmp_path)
    assert np.array_equal(reverse, images[::-1])


def test_cache_hit_decodes_nothing(paths: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_decode = cache_module._decode
    monkeypatch.setattr(cache_module, "_decode", lambda p, s: calls.append(p) or real_decode(p, s))
    first = np.array(cached_images(paths, 24, cache_dir=tmp_path))
    assert sorted(calls) == sorted(paths)  # the first build decodes each JPEG exactly once
    _forbid_decode(monkeypatch)
    second = cached_images(paths, 24, cache_dir=tmp_path)
    assert np.array_equal(first, second)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    assert not list(tmp_path.glob(".*tmp"))


def test_default_cache_dir_from_env(paths: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKINBENCH_CACHE", str(tmp_path / "env_cache"))
    assert default_cache_dir() == tmp_path / "env_cache"
    cached_images(paths[:2], 8)
    assert len(list((tmp_path / "env_cache").glob("*.npy"))) == 1
    monkeypatch.delenv("SKINBENCH_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "skinbench"


def test_key_changes_with_size_files_and_mtime(paths: list[str], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    copies = []
    for p in paths[:3]:
        copies.append(str(src / Path(p).name))
        Path(copies[-1]).write_bytes(Path(p).read_bytes())
    cache = tmp_path / "cache"
    cached_images(copies, 16, cache_dir=cache)
    cached_images(copies, 20, cache_dir=cache)  # other size
    cached_images(copies[:2], 16, cache_dir=cache)  # other file list
    st = os.stat(copies[0])
    os.utime(copies[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched file
    cached_images(copies, 16, cache_dir=cache)
    assert len(list(cache.glob("*.npy"))) == 4


def test_replaced_image_is_decoded_again(paths: list[str], tmp_path: Path) -> None:
    target = tmp_path / "img.jpg"
    Image.new("RGB", (30, 20), (255, 0, 0)).save(target)
    red = np.array(cached_images([str(target)], 8, cache_dir=tmp_path / "c"))
    Image.new("RGB", (30, 20), (0, 0, 255)).save(target)
    os.utime(target, ns=(1, 10**18))  # also a new mtime on coarse-clock file systems
    blue = cached_images([str(target)], 8, cache_dir=tmp_path / "c")
    assert red[0, 4, 4, 0] > 200 and blue[0, 4, 4, 2] > 200


def test_damaged_entry_is_rebuilt(paths: list[str], tmp_path: Path) -> None:
    good = np.array(cached_images(paths[:3], 8, cache_dir=tmp_path))
    (entry,) = tmp_path.glob("*.npy")
    entry.write_bytes(b"not a numpy file")
    assert np.array_equal(cached_images(paths[:3], 8, cache_dir=tmp_path), good)


def test_missing_file_and_bad_size(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"image not found: .*ghost\.jpg"):
        cached_images([str(tmp_path / "ghost.jpg")], 8, cache_dir=tmp_path)
    with pytest.raises(DataError, match="image size must be positive"):
        cached_images([], 0, cache_dir=tmp_path)
    assert cached_images([], 8, cache_dir=tmp_path).shape == (0, 8, 8, 3)


def test_not_a_jpeg_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "ISIC_0000001.jpg"
    bad.write_text("hello")
    with pytest.raises(DataError, match=r"cannot decode image .*ISIC_0000001\.jpg"):
        cached_images([str(bad)], 8, cache_dir=tmp_path / "c")
    assert not list((tmp_path / "c").iterdir())
