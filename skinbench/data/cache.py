"""Decode-once image cache: resized uint8 arrays stored as ``.npy`` files.

The key hashes every source file's path, byte size and modification time plus the
target size, so an edited or replaced JPEG, a different file list or order, or a
different size makes a new entry, and an unchanged one decodes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from skinbench.atomic import atomic_path
from skinbench.data.ham10000 import DataError

# Bump when the decoding below changes, so old entries are not reused.
_FORMAT = "skinbench-cache-v1"


def default_cache_dir() -> Path:
    """The cache folder: ``$SKINBENCH_CACHE`` if set, else ``~/.cache/skinbench``.

    Example:
        >>> import os
        >>> os.environ["SKINBENCH_CACHE"] = "/tmp/sb"; str(default_cache_dir())
        '/tmp/sb'
        >>> del os.environ["SKINBENCH_CACHE"]
    """
    env = os.environ.get("SKINBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "skinbench"


def cache_key(paths: Sequence[str], size: int) -> str:
    """Hex digest identifying the resized images of ``paths`` at ``size``.

    Raises:
        DataError: a path does not exist.
    """
    entries = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            raise DataError(f"image not found: {p}") from None
        entries.append((os.path.abspath(p), st.st_size, st.st_mtime_ns))
    blob = json.dumps([_FORMAT, int(size), entries]).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _decode(path: str, size: int) -> np.ndarray:
    """Decode one image to a (size, size, 3) uint8 RGB array (aspect not kept)."""
    with Image.open(path) as img:
        # JPEG draft mode decodes big images at a reduced DCT scale (still >= size)
        img.draft("RGB", (size, size))
        img = img.convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def _decode_checked(path: str, size: int) -> np.ndarray:
    try:
        return _decode(path, size)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DataError(
            f"cannot decode image {path} ({exc}); replace the file, or leave it out by passing its image_id in skip"
        ) from None


def _build(paths: Sequence[str], size: int, target: Path, workers: int) -> None:
    """Decode all images into a temporary .npy next to ``target``, then rename it."""
    with atomic_path(target) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3))
        # Pillow releases the GIL while decoding and resizing, so threads overlap.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, pixels in enumerate(pool.map(lambda p: _decode_checked(p, size), paths)):
                out[i] = pixels
        out.flush()
        del out


def cached_images(paths: Sequence[str], size: int, cache_dir: str | Path | None = None) -> np.ndarray:
    """Resized uint8 images of ``paths``, decoded once and then read from disk.

    The first call decodes every image (squashed to ``size`` x ``size``, as the
    paper resizes without cropping) into ``<cache_dir>/<key>.npy``, written
    atomically; later calls with the same files and size only memory-map it.

    Args:
        paths: Image files; the result keeps their order.
        size: Side of the square output, in pixels.
        cache_dir: Cache folder; default :func:`default_cache_dir`.

    Returns:
        A read-only memory-mapped uint8 array of shape (len(paths), size, size, 3).

    Raises:
        DataError: a missing or undecodable image (named in the message); no cache
            file is left behind.

    Example:
        >>> import tempfile
        >>> from skinbench.data.synthetic import write_synthetic
        >>> from skinbench.data.ham10000 import load_metadata
        >>> meta = load_metadata(write_synthetic(tempfile.mkdtemp(), n=8))
        >>> x = cached_images(meta["path"].tolist(), 32, cache_dir=tempfile.mkdtemp())
        >>> x.shape, x.dtype
        ((8, 32, 32, 3), dtype('uint8'))
    """
    size = int(size)
    if size < 1:
        raise DataError(f"image size must be positive, got {size}")
    paths = [str(p) for p in paths]
    if not paths:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{cache_key(paths, size)}_{size}px.npy"
    shape = (len(paths), size, size, 3)
    if target.exists():
        try:
            images: np.ndarray = np.load(target, mmap_mode="r")
            if images.shape == shape and images.dtype == np.uint8:
                return images
        except (OSError, ValueError):
            pass  # a damaged entry (e.g. a full disk) is rebuilt below
    _build(paths, size, target, workers=min(4, os.cpu_count() or 1))
    built: np.ndarray = np.load(target, mmap_mode="r")
    return built
