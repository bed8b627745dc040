"""Decode-once image cache: resized uint8 arrays stored as ``.npy`` files.

The key hashes every source file's path, byte size and modification time plus the
target size, so an edited or replaced JPEG, a different file list or order, or a
different size makes a new entry, and an unchanged one decodes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

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


#: How every image becomes a model input, in training, evaluation, prediction and export checks.
RESIZE_RULE = (
    "decoded to RGB and stretched to size x size (aspect ratio not kept: no crop, no padding) with Pillow's "
    "bilinear filter (antialiased when shrinking); a JPEG at least twice the size is first decoded at the "
    "smallest DCT scale still >= size (Pillow draft mode); EXIF orientation is not applied"
)


def resize_image(image: Image.Image, size: int) -> np.ndarray:
    """An opened image as a (size, size, 3) uint8 RGB array, by :data:`RESIZE_RULE` (aspect not kept).

    Example:
        >>> resize_image(Image.new("L", (40, 30)), 8).shape
        (8, 8, 3)
    """
    rgb = image.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """Decode one image file to a (size, size, 3) uint8 RGB array by :data:`RESIZE_RULE`.

    The one decoder of skinbench: the training cache, ``skinbench predict`` and
    ``skinbench evaluate --images`` all call it, so an image gives the same pixels in each.

    Raises:
        OSError: Unreadable or undecodable file (``PIL.UnidentifiedImageError`` is one).
    """
    return decode_image_with_size(path, size)[0]


def decode_image_with_size(path: str | Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`decode_image`, plus the file's own ``(width, height)``."""
    with Image.open(path) as img:
        original = img.size
        # JPEG draft mode decodes big images at a reduced DCT scale (still >= size)
        img.draft("RGB", (size, size))
        return resize_image(img, size), original


_decode = decode_image


def _decode_checked(path: str, size: int) -> np.ndarray:
    try:
        return _decode(path, size)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DataError(
            f"cannot decode image {path} ({exc}); replace the file, or leave it out with "
            f"--skip {Path(path).stem} (skinbench train and skinbench split)"
        ) from None


def _build(paths: Sequence[str], size: int, target: Path, workers: int, progress: bool = False) -> None:
    """Decode all images into a temporary .npy next to ``target``, then rename it."""
    with atomic_path(target) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3))
        # Pillow releases the GIL while decoding and resizing, so threads overlap.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            decoded = pool.map(lambda p: _decode_checked(p, size), paths)
            bar = tqdm(
                decoded,
                total=len(paths),
                desc=f"decode {size}px",
                unit="img",
                disable=not progress,
                leave=False,
                file=sys.stderr,
                mininterval=0.5 if sys.stderr.isatty() else 30.0,
            )
            for i, pixels in enumerate(bar):
                out[i] = pixels
            bar.close()
        out.flush()
        del out


def cached_images(
    paths: Sequence[str], size: int, cache_dir: str | Path | None = None, *, progress: bool = False
) -> np.ndarray:
    """Resized uint8 images of ``paths``, decoded once and then read from disk.

    The first call decodes every image (squashed to ``size`` x ``size``, as the
    paper resizes without cropping) into ``<cache_dir>/<key>.npy``, written
    atomically; later calls with the same files and size only memory-map it.

    Args:
        paths: Image files; the result keeps their order.
        size: Side of the square output, in pixels.
        cache_dir: Cache folder; default :func:`default_cache_dir`.
        progress: Show a progress bar (on stderr) while decoding.

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
    _build(paths, size, target, workers=min(4, os.cpu_count() or 1), progress=progress)
    built: np.ndarray = np.load(target, mmap_mode="r")
    return built
