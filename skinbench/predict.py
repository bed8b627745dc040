"""Classify new images with a trained run: the same decoding, resizing and normalisation as training.

:func:`load_run` reads a run folder (``config.json`` and a checkpoint; the training data
is not needed) and returns a :class:`Predictor`. Its :meth:`Predictor.predict` takes
image files, PIL images or uint8 arrays and returns one row per image, in input order:
an image that cannot be read is a row with ``status`` ``error`` and the reason, never an
exception and never a missing row. ``skinbench predict`` is a thin wrapper.

Preprocessing (:class:`Preprocessing`, stored in the run's ``config.json``): every image
is decoded by :func:`skinbench.data.decode_image`, the function that fills the training
cache, so a file gives exactly the pixels training and evaluation saw
(:data:`skinbench.data.RESIZE_RULE`: stretched to a square, no crop); PIL images and
arrays get the same resize without JPEG draft mode (which only applies when decoding a
file). Then the evaluation transform: scale to [0, 1], normalise with the run's mean/std.

Example::

    import skinbench
    predictor = skinbench.load_run("runs/mobilenet")
    table = predictor.predict(["lesion1.jpg", "lesion2.jpg"])   # a pandas DataFrame
    print(table[["image", "pred", "prob_mel"]])
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from skinbench.atomic import atomic_path
from skinbench.config import TrainConfig
from skinbench.context import resolve_device
from skinbench.data import RESIZE_RULE, make_transform, resize_image, task_classes, task_outputs
from skinbench.data.cache import decode_image_with_size
from skinbench.engine import predict as engine_predict
from skinbench.errors import ConfigError, DataError, RunError
from skinbench.models import build_model
from skinbench.rundir import RunDir

__all__ = [
    "ImageInput",
    "Predictor",
    "Preprocessing",
    "collect_images",
    "load_run",
    "predict_command",
    "predict_to_csv",
    "tta_views",
]

#: What :meth:`Predictor.predict` accepts per image: a file path, a PIL image, or a uint8 (H, W, 3) array.
ImageInput = str | Path | Image.Image | np.ndarray

#: File suffixes ``skinbench predict`` takes from a folder.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input.

    Attributes:
        image_size: Side of the square input in pixels.
        mean: Per-channel mean on the [0, 1] scale (eq. 1).
        std: Per-channel standard deviation on the [0, 1] scale.
        resize_rule: :data:`skinbench.data.RESIZE_RULE`.
        layout: Tensor layout of the model input.
    """

    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_rule: str = RESIZE_RULE
    layout: str = "float32 NCHW, RGB, (pixel / 255 - mean) / std"

    def to_dict(self) -> dict[str, Any]:
        """As JSON-safe primitives."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


def tta_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 flips and 90-degree rotations of a batch ``(N, C, H, W)`` (square images).

    All are poses training's augmentation (random flips, rotation by up to 180 degrees)
    shows the model.

    Example:
        >>> len(tta_views(torch.zeros(2, 3, 4, 4)))
        8
    """
    turned = x.transpose(-1, -2)
    return [v for base in (x, turned) for v in (base, base.flip(-1), base.flip(-2), base.flip(-1, -2))]


class Predictor:
    """A trained run's model and preprocessing, ready to classify images (see :func:`load_run`).

    Attributes:
        run: The run folder.
        config: Its configuration.
        model: The model with the checkpoint's weights, in eval mode.
        device: Where the model runs.
        checkpoint: The checkpoint file name.
        epoch: The epoch of the checkpoint's weights.
        classes: Class names, in output order.
        preprocessing: How images are prepared.
    """

    def __init__(
        self, run: RunDir, config: TrainConfig, model: nn.Module, device: torch.device, checkpoint: str, epoch: int
    ) -> None:
        assert config.mean is not None and config.std is not None
        self.run, self.config, self.model, self.device = run, config, model.eval(), device
        self.checkpoint, self.epoch = checkpoint, epoch
        self.classes: tuple[str, ...] = task_classes(config.task)
        self.preprocessing = Preprocessing(config.image_size, tuple(config.mean), tuple(config.std))
        self._transform = make_transform(False, config.mean, config.std)

    def __repr__(self) -> str:
        return f"Predictor({self.run.path}, {self.config.model}, {self.checkpoint}, {self.config.image_size} px)"

    def pixels(self, image: ImageInput) -> tuple[np.ndarray, tuple[int, int]]:
        """One image as the run's uint8 (S, S, 3) pixels, and its own ``(width, height)``.

        Raises:
            OSError: A file that cannot be read or decoded.
            DataError: An array that is not uint8 (H, W, 3).
        """
        size = self.config.image_size
        if isinstance(image, Image.Image):
            return resize_image(image, size), image.size
        if isinstance(image, np.ndarray):
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise DataError(f"expected a uint8 (H, W, 3) RGB array, got {image.dtype} {image.shape}")
            return resize_image(Image.fromarray(image), size), (image.shape[1], image.shape[0])
        return decode_image_with_size(image, size)

    def tensor(self, pixels: Sequence[np.ndarray]) -> torch.Tensor:
        """Normalised float32 batch ``(N, 3, S, S)`` of uint8 images, as evaluation prepares them."""
        return torch.stack([self._transform(p) for p in pixels])

    def probabilities(self, batch: torch.Tensor, *, tta: bool = False) -> np.ndarray:
        """Class probabilities ``(N, K)`` (float64) of a prepared batch; ``tta`` averages :func:`tta_views`.

        Without ``tta``, the run's own test-time augmentation applies, as in its test
        evaluation (``config.tta == "flip"``: the mean over the image and its 3 flips).
        """
        views = tta_views(batch) if tta else [batch]
        flips = not tta and self.config.tta == "flip"
        amp = self.config.amp and self.device.type == "cuda"
        channels_last = self.config.channels_last and self.device.type == "cuda"
        probs = [
            engine_predict(
                self.model,
                [(v, torch.zeros(len(v), dtype=torch.int64))],
                self.device,
                amp=amp,
                channels_last=channels_last,
                tta=flips,
            )[1]
            for v in views
        ]
        mean: np.ndarray = np.mean(probs, axis=0)
        return mean

    def predict(
        self,
        images: Iterable[ImageInput],
        *,
        batch_size: int | None = None,
        tta: bool = False,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Classify images; one row per image, in input order.

        Args:
            images: File paths, PIL images or uint8 (H, W, 3) RGB arrays.
            batch_size: Images per forward pass (default: the run's batch size).
            tta: Average the probabilities of the 8 flips/90-degree rotations.
            progress: Show a progress bar on stderr.

        Returns:
            Columns ``image`` (file stem, or ``#<index>``), ``source`` (the path, or
            ``<PIL image>``/``<array>``), ``status`` (``ok`` or ``error``), ``error``
            (the reason, else empty), ``width`` and ``height`` (the image's own size),
            ``pred`` (class name) and ``prob_<class>`` for every class (empty for errors).
        """
        items = list(images)
        size = batch_size or self.config.batch_size
        rows: list[dict[str, Any]] = []
        chunks = range(0, len(items), size)
        bar = tqdm(chunks, desc="predict", unit="batch", disable=not progress, leave=False, file=sys.stderr)
        for start in bar:
            rows += self._predict_chunk(items[start : start + size], start, tta)
        bar.close()
        columns = ["image", "source", "status", "error", "width", "height", "pred", *self.prob_columns]
        table: pd.DataFrame = pd.DataFrame(rows, columns=columns)
        table[["width", "height"]] = table[["width", "height"]].astype("Int64")  # empty for errors, not NaN floats
        return table

    @property
    def prob_columns(self) -> list[str]:
        """``prob_<class>`` for every class, in output order."""
        return [f"prob_{c}" for c in self.classes]

    def _predict_chunk(self, chunk: list[ImageInput], offset: int, tta: bool) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        ok: list[tuple[int, np.ndarray]] = []
        for i, image in enumerate(chunk):
            row = _describe(image, offset + i)
            try:
                pixels, (row["width"], row["height"]) = self.pixels(image)
                ok.append((i, pixels))
            except (OSError, ValueError, SyntaxError, DataError) as exc:
                row.update(status="error", error=" ".join(str(exc).split()) or type(exc).__name__)
            rows.append(row)
        if ok:
            probs = self.probabilities(self.tensor([p for _, p in ok]), tta=tta)
            for (i, _), p in zip(ok, probs):
                rows[i].update(pred=self.classes[int(p.argmax())], **dict(zip(self.prob_columns, p.tolist())))
        return rows


def _describe(image: ImageInput, index: int) -> dict[str, Any]:
    if isinstance(image, (str, Path)):
        return {"image": Path(image).stem, "source": str(image), "status": "ok", "error": ""}
    kind = "<PIL image>" if isinstance(image, Image.Image) else "<array>"
    return {"image": f"#{index}", "source": kind, "status": "ok", "error": ""}


def load_run(run: str | Path, *, checkpoint: str = RunDir.BEST, device: str = "cpu") -> Predictor:
    """Load a trained run for prediction: its configuration, model and checkpoint weights.

    Args:
        run: The run folder (``config.json`` and the checkpoint are needed, not the data).
        checkpoint: ``best.pt`` or ``last.pt``.
        device: ``cpu``, ``cuda``, ``auto``...

    Returns:
        The :class:`Predictor`.

    Raises:
        RunError: Not a run folder, or an unreadable checkpoint (one line naming the file).
        skinbench.errors.ConfigError: An unknown or unavailable device.

    Example:
        >>> import tempfile
        >>> from skinbench.data import write_synthetic
        >>> from skinbench.train import main
        >>> tmp = Path(tempfile.mkdtemp())
        >>> data = write_synthetic(tmp / "data", n=30, image_size=(40, 30))
        >>> _ = main(TrainConfig(data=str(data), out=str(tmp / "run"), image_size=8, epochs=1,
        ...                      progress=False, cache_dir=str(tmp / "cache")))
        >>> predictor = load_run(tmp / "run")
        >>> table = predictor.predict(sorted(data.rglob("*.jpg"))[:2] + [tmp / "missing.jpg"])
        >>> table["status"].tolist(), predictor.classes[:2], predictor.preprocessing.image_size
        (['ok', 'ok', 'error'], ('akiec', 'bcc'), 8)
    """
    folder = RunDir(run)
    if not folder.path.is_dir():
        raise RunError(f"{folder.path}: no such run folder")
    folder.require(RunDir.CONFIG, checkpoint, purpose="a skinbench run folder")
    config = folder.load_config()
    if config.mean is None or config.std is None:
        raise RunError(f"{folder.file(RunDir.CONFIG)} has no normalisation mean/std (training never started)")
    where = resolve_device(device)
    model = build_model(config.model, task_outputs(config.task), pretrained=False, image_size=config.image_size)
    ckpt = folder.load_weights(checkpoint, model, map_location=where)
    epoch = int(ckpt["epoch"] if "epoch" in ckpt else ckpt.get("state", {}).get("epoch", 0))
    return Predictor(folder, config, model.to(where), where, checkpoint, epoch)


def collect_images(inputs: Sequence[str | Path]) -> tuple[list[str], list[str]]:
    """Expand ``skinbench predict``'s inputs into image paths, in order.

    A folder gives its files with an image suffix (:data:`IMAGE_SUFFIXES`, sorted, not
    recursive); a ``.csv`` gives its ``path`` column (relative paths are relative to the
    CSV's folder); anything else is taken as an image path as is (a missing one becomes
    an ``error`` row of the prediction, not an exception).

    Returns:
        ``(paths, notes)``: the image paths and one note per folder with skipped files.

    Raises:
        DataError: A CSV without a ``path`` column, or an unparsable CSV.
    """
    paths: list[str] = []
    notes: list[str] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.iterdir() if p.is_file())
            images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
            if len(images) < len(files):
                notes.append(f"{item}: skipped {len(files) - len(images)} file(s) without an image suffix")
            paths += map(str, images)
        elif item.suffix.lower() == ".csv" and item.is_file():
            paths += _csv_paths(item)
        else:
            paths.append(str(item))
    return paths, notes


def _csv_paths(csv: Path) -> Iterator[str]:
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv}: cannot parse CSV ({str(exc).splitlines()[0]})") from None
    if "path" not in table.columns:
        raise DataError(f"{csv}: no path column (found {', '.join(table.columns)})")
    for value in table["path"]:
        path = Path(value.strip()).expanduser()
        yield str(path if path.is_absolute() else csv.parent / path)


def predict_to_csv(
    run: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    checkpoint: str = RunDir.BEST,
    device: str = "auto",
    batch_size: int | None = None,
    tta: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """``skinbench predict``: classify ``inputs`` (see :func:`collect_images`) and write the table to ``out``.

    Notes (skipped files) and one warning per image that cannot be decoded go to stderr,
    a summary line to stdout.

    Returns:
        The table written (:meth:`Predictor.predict`).

    Raises:
        skinbench.errors.ConfigError: ``out`` inside the run folder, or a batch size below 1.
        RunError: Not a run folder, or an unreadable checkpoint.
    """
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    predictor = load_run(run, checkpoint=checkpoint, device=device)
    target = Path(out).absolute()
    if target.parent == predictor.run.path.absolute():
        raise ConfigError(f"--out {out} is inside the run folder; write predictions elsewhere")
    paths, notes = collect_images(inputs)
    for note in notes:
        print(f"skinbench: notice: {note}", file=sys.stderr)
    table = predictor.predict(paths, batch_size=batch_size, tta=tta, progress=progress)
    with atomic_path(target) as tmp:
        table.to_csv(tmp, index=False)
    failed = table[table["status"] != "ok"]
    for source, error in zip(failed["source"], failed["error"]):
        print(f"skinbench: warning: {source}: {error}", file=sys.stderr)
    counts = table["pred"].value_counts().to_dict()
    summary = ", ".join(f"{c} {counts[c]}" for c in predictor.classes if c in counts) or "none"
    print(f"wrote {target}: {len(table)} image(s), {len(failed)} could not be decoded; predicted: {summary}")
    return table


def predict_command(**kwargs: Any) -> int:
    """``skinbench predict``: :func:`predict_to_csv`; exit status 1 when an image could not be decoded, else 0."""
    table = predict_to_csv(**kwargs)
    return 1 if (table["status"] != "ok").any() else 0
