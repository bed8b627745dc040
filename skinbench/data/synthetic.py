"""A synthetic dataset in the exact HAM10000 layout, for users without the real data.

Each class draws a blob with its own colour and outline on a random skin tone, so a
classifier can learn the 7 classes (colour alone separates them, rotations and flips
do not hide it). Images of one lesion share a blob, seen with small changes, as the
real dataset has several dermoscopy shots of one lesion.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from skinbench.atomic import atomic_path, write_json
from skinbench.data.ham10000 import CLASSES, METADATA_FILE, DataError

#: Written next to the metadata by :func:`write_synthetic`: what it wrote, and the
#: metadata's checksum, so that ``force`` replaces only a metadata file it wrote itself.
MARKER_FILE = ".skinbench-synthetic.json"

# sqrt of the real class counts: imbalanced like HAM10000, but every class keeps
# enough images for a 70/10/20 split of a few hundred images.
_REAL_COUNTS = {"akiec": 327, "bcc": 514, "bkl": 1099, "df": 115, "mel": 1113, "nv": 6705, "vasc": 142}
_COLOURS = {  # mean RGB of the blob
    "akiec": (200, 70, 70),
    "bcc": (245, 120, 205),
    "bkl": (160, 120, 35),
    "df": (150, 95, 100),
    "mel": (35, 30, 60),
    "nv": (125, 80, 45),
    "vasc": (140, 25, 110),
}
_LOBES = {"akiec": 3, "bcc": 0, "bkl": 4, "df": 5, "mel": 7, "nv": 0, "vasc": 2}  # outline waviness
_IMAGES_PER_LESION = (1, 2, 3, 4)
_IMAGES_PER_LESION_P = (0.6, 0.25, 0.1, 0.05)
_LOCALIZATIONS = ("back", "lower extremity", "trunk", "upper extremity", "abdomen", "face", "chest")


def _class_counts(n: int) -> dict[str, int]:
    """Split n images over the classes: at least 1 each, the rest by weight."""
    weights = np.sqrt([_REAL_COUNTS[c] for c in CLASSES])
    share = (n - len(CLASSES)) * weights / weights.sum()
    counts = np.floor(share).astype(int) + 1
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return dict(zip(CLASSES, counts.tolist()))


def _lesion_sizes(rng: np.random.Generator, total: int) -> list[int]:
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(int(rng.choice(_IMAGES_PER_LESION, p=_IMAGES_PER_LESION_P)))
    sizes[-1] -= sum(sizes) - total
    return sizes


def _draw(rng: np.random.Generator, dx: str, blob: dict[str, Any], size: tuple[int, int]) -> np.ndarray:
    """One RGB image: skin background, the lesion's blob, sensor noise."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    skin = blob["skin"] + rng.normal(0, 4, 3)
    img = np.broadcast_to(skin, (height, width, 3)).astype(np.float32).copy()
    cx = width * (0.5 + blob["dx"]) + rng.normal(0, 2)
    cy = height * (0.5 + blob["dy"]) + rng.normal(0, 2)
    angle = np.arctan2(y - cy, x - cx) + blob["phase"] + rng.normal(0, 0.1)
    radius = blob["radius"] * min(width, height) * (1 + 0.25 * np.cos(_LOBES[dx] * angle))
    dist = np.hypot(x - cx, y - cy)
    # soft edge so downscaled copies keep a smooth outline
    alpha = np.clip((radius - dist) / 3.0, 0.0, 1.0)[..., None]
    colour = blob["colour"] + rng.normal(0, 3, 3)
    img = img * (1 - alpha) + colour * alpha
    img += rng.normal(0, 6, img.shape)
    pixels: np.ndarray = np.clip(img, 0, 255).astype(np.uint8)
    return pixels


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_target(out: Path, force: bool) -> None:
    """Refuse a non-empty ``out`` (unless ``force``) and, always, a metadata file synth did not write."""
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError(f"{out} exists and is not a folder")
    if not any(out.iterdir()):
        return
    if not force:
        raise DataError(f"{out} is not empty; choose an empty or new folder, or pass --force to write into it")
    csv, marker = out / METADATA_FILE, out / MARKER_FILE
    if not csv.exists():
        return
    try:
        ours = json.loads(marker.read_text()).get("metadata_sha256") == _sha256(csv)
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise DataError(f"refusing to replace {csv}: skinbench synth did not write it (or it changed since)")


def write_synthetic(
    out: str | Path,
    n: int = 700,
    seed: int = 0,
    image_size: tuple[int, int] = (200, 150),
    *,
    force: bool = False,
) -> Path:
    """Write ``n`` synthetic images in the HAM10000 layout under ``out``.

    Writes ``out/HAM10000_metadata.csv`` (lesion_id, image_id, dx, dx_type, age,
    sex, localization) and the JPEGs, the first half in
    ``out/HAM10000_images_part_1/`` and the rest in ``out/HAM10000_images_part_2/``.
    All 7 classes are present (imbalanced like HAM10000, nv the largest), each lesion
    has 1-4 images, and the output is the same for the same arguments. The CSV is
    written after the images, so an interrupted run leaves no loadable half-dataset;
    then :data:`MARKER_FILE` records the CSV's checksum.

    ``out`` must be new or empty unless ``force``; even with ``force`` an existing
    ``HAM10000_metadata.csv`` is replaced only when this function wrote it (its checksum
    matches the marker), never a real dataset's: nothing is written then.

    Args:
        out: Output folder (created if needed).
        n: Number of images, at least 7.
        seed: Random seed.
        image_size: (width, height) of each JPEG; HAM10000's 200x150 copy by default.
        force: Write into a non-empty folder (see above).

    Returns:
        ``out`` as an absolute path, ready for :func:`~skinbench.data.load_metadata`.

    Raises:
        DataError: ``n`` < 7, a bad ``image_size``, a non-empty ``out`` without ``force``,
            or a metadata file there that this function did not write.

    Example:
        >>> import tempfile
        >>> root = write_synthetic(tempfile.mkdtemp(), n=20, image_size=(40, 30))
        >>> sorted(p.name for p in root.iterdir())
        ['.skinbench-synthetic.json', 'HAM10000_images_part_1', 'HAM10000_images_part_2', 'HAM10000_metadata.csv']
    """
    if n < len(CLASSES):
        raise DataError(f"n must be at least {len(CLASSES)} (one image per class), got {n}")
    width, height = (int(v) for v in image_size)
    if width < 8 or height < 8:
        raise DataError(f"image size must be at least 8x8, got {width}x{height}")
    out = Path(out).expanduser().absolute()
    _check_target(out, force)
    parts = [out / "HAM10000_images_part_1", out / "HAM10000_images_part_2"]
    for part in parts:
        part.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    lesion_no = 0
    for dx, count in _class_counts(n).items():
        for lesion_size in _lesion_sizes(rng, count):
            lesion_no += 1
            blob = {
                "skin": np.array([225, 180, 150]) * rng.uniform(0.8, 1.05) + rng.normal(0, 4, 3),
                "colour": np.array(_COLOURS[dx]) + rng.normal(0, 8, 3),
                "radius": rng.uniform(0.2, 0.32),
                "dx": rng.uniform(-0.08, 0.08),
                "dy": rng.uniform(-0.08, 0.08),
                "phase": rng.uniform(0, 2 * np.pi),
            }
            lesion = {
                "lesion_id": f"HAM_9{lesion_no:06d}",
                "dx": dx,
                "dx_type": str(rng.choice(["histo", "follow_up", "consensus", "confocal"])),
                "age": str(int(rng.integers(2, 17)) * 5),
                "sex": str(rng.choice(["male", "female"])),
                "localization": str(rng.choice(_LOCALIZATIONS)),
            }
            rows += [(lesion, _draw(rng, dx, blob, (width, height))) for _ in range(lesion_size)]
    # shuffle so image ids, like the real ones, do not reveal the class
    order = rng.permutation(len(rows))
    records = []
    for number, k in enumerate(order):
        lesion, pixels = rows[k]
        image_id = f"ISIC_9{number:06d}"
        part = parts[0] if number < (n + 1) // 2 else parts[1]
        Image.fromarray(pixels).save(part / f"{image_id}.jpg", quality=90)
        records.append(
            {
                "lesion_id": lesion["lesion_id"],
                "image_id": image_id,
                **{k: v for k, v in lesion.items() if k != "lesion_id"},
            }
        )
    meta = pd.DataFrame.from_records(records).sort_values(["lesion_id", "image_id"])
    with atomic_path(out / METADATA_FILE) as tmp:
        meta.to_csv(tmp, index=False)
    marker = {"n": n, "seed": seed, "image_size": [width, height], "metadata_sha256": _sha256(out / METADATA_FILE)}
    write_json(out / MARKER_FILE, marker)
    return out
