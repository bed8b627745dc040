"""Evaluate a trained run on an external labelled test set (``skinbench evaluate RUN --images --labels``).

The labels are read by :func:`skinbench.data.external.read_external_labels` (the ISIC
2018 Task 3 ground truth, or a plain ``image_id,dx`` CSV); the images are classified by
:class:`skinbench.predict.Predictor`, so they get exactly the decoding, resize rule
(:data:`skinbench.data.RESIZE_RULE`) and normalisation of training. The metrics are those
of the run's own test split (:func:`skinbench.evaluate.compute_metrics`, melanoma vs
rest included) and go to ``RUN/external/<name>/metrics.json`` with
``predictions.csv`` beside it; the run's own ``metrics.json`` is never touched.

``external/<name>/metrics.json`` holds the keys of the test split's ``metrics.json``
(``split`` is ``"external"``; no ``timings``) plus ``name``, ``images``, ``labels``
(absolute paths), ``layout`` (``isic2018`` or ``image_id,dx``), ``resize_rule`` and
``image_sizes`` (``{"WIDTHxHEIGHT": count}`` of the images' own sizes: images whose
aspect ratio differs from the training images' are stretched differently, see the docs).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skinbench.data import CLASSES, task_labels
from skinbench.data.external import read_external_labels
from skinbench.errors import ConfigError, DataError
from skinbench.evaluate import SCHEMA_VERSION, compute_metrics, metrics_summary
from skinbench.predict import Predictor, load_run
from skinbench.rundir import RunDir, check_name

__all__ = ["default_name", "evaluate_command", "evaluate_external", "training_majority"]


def default_name(images: str | Path) -> str:
    """The external set's name when none is given: the images folder's name, made file-name safe.

    Example:
        >>> default_name("/data/ISIC2018_Task3_Test_Input/")
        'ISIC2018_Task3_Test_Input'
    """
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(images).absolute().name)
    return name.lstrip("._-") or "external"


def training_majority(run: RunDir, task: str) -> int | None:
    """Label of the most frequent class of the run's training split (from ``split.csv``), or None."""
    if not run.has(RunDir.SPLIT):
        return None
    split = pd.read_csv(run.split_path, dtype=str)
    if not {"dx", "split"} <= set(split.columns):
        return None
    train = split[split["split"] == "train"]
    train = train[train["dx"].isin(CLASSES)]
    if train.empty:
        return None
    labels = task_labels(train, task)
    return int(np.bincount(labels, minlength=2).argmax())


def evaluate_external(
    run_dir: str | Path,
    images: str | Path,
    labels: str | Path,
    *,
    name: str | None = None,
    checkpoint: str = RunDir.BEST,
    device: str = "auto",
    tta: bool = False,
    progress: bool = False,
    predictor: Predictor | None = None,
) -> dict[str, Any]:
    """Evaluate a run on an external labelled test set; write ``RUN/external/<name>/``.

    Args:
        run_dir: The run folder.
        images: Folder of the external images.
        labels: Their ground truth (ISIC 2018 Task 3 layout or ``image_id,dx``).
        name: Name of the set in the run folder and the report (default: the images
            folder's name, see :func:`default_name`).
        checkpoint: ``best.pt`` or ``last.pt``.
        device: ``auto``, ``cpu`` or ``cuda``.
        tta: Average over the 8 flips/90-degree rotations (:func:`skinbench.predict.tta_views`).
        progress: Show a progress bar.
        predictor: A loaded run to use instead of loading ``run_dir`` again.

    Returns:
        The metrics written to ``external/<name>/metrics.json``.

    Raises:
        DataError: Bad labels (one line naming file and line), a missing image, or an
            image that cannot be decoded.
        skinbench.errors.RunError: Not a run folder, or an unreadable checkpoint.
    """
    name = check_name(name or default_name(images), "external test set")
    predictor = predictor or load_run(run_dir, checkpoint=checkpoint, device=device)
    config, run = predictor.config, predictor.run
    table = read_external_labels(labels, images)
    frame = predictor.predict(table["path"].tolist(), tta=tta, progress=progress)
    failed = frame.index[frame["status"] != "ok"]
    if len(failed):
        i = failed[0]
        raise DataError(
            f"{len(failed)} image(s) of {Path(labels).name} cannot be decoded; first {table.at[i, 'image_id']!s} "
            f"(line {table.at[i, 'line']!s}): {frame.at[i, 'error']!s}"
        )
    y = task_labels(table, config.task)
    probs = frame[predictor.prob_columns].to_numpy(np.float64)
    sizes = Counter(f"{w}x{h}" for w, h in zip(frame["width"], frame["height"]))
    metrics: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run": run.name,
        "model": config.model,
        "task": config.task,
        "image_size": config.image_size,
        "checkpoint": predictor.checkpoint,
        "epoch": predictor.epoch,
        "split": "external",
        "name": name,
        "images": str(Path(images).expanduser().absolute()),
        "labels": str(Path(labels).expanduser().absolute()),
        "layout": table.attrs["layout"],
        "tta": tta,
        "run_tta": config.tta,  # the run's own test-time augmentation, used when tta is false
        "resize_rule": predictor.preprocessing.resize_rule,
        "image_sizes": dict(sizes.most_common()),
        **compute_metrics(y, probs, predictor.classes, baseline_label=training_majority(run, config.task)),
        "params": sum(p.numel() for p in predictor.model.parameters()),
    }
    predictions = pd.DataFrame({"image_id": table["image_id"], "label": y, "pred": probs.argmax(1)})
    predictions["width"], predictions["height"] = frame["width"], frame["height"]
    for k, column in enumerate(predictor.prob_columns):
        predictions[column] = probs[:, k]
    run.write_external(name, metrics, predictions)
    if len(sizes) > 1 or (sizes and not _is_4_by_3(next(iter(sizes)))):
        print(
            f"skinbench: notice: {name}: image sizes {', '.join(f'{s} ({n})' for s, n in sizes.most_common(3))}; "
            "every image is stretched to a square, so non-4:3 images are distorted differently from HAM10000's",
            file=sys.stderr,
        )
    return metrics


def _is_4_by_3(size: str) -> bool:
    width, height = (int(v) for v in size.split("x"))
    return width * 3 == height * 4


def evaluate_command(*, run: str, images: str | None, labels: str | None, **kwargs: Any) -> int:
    """``skinbench evaluate RUN --images DIR --labels CSV``: :func:`evaluate_external`, then its summary."""
    if images is None or labels is None:
        raise ConfigError("--images and --labels go together (and --name and --tta need them)")
    metrics = evaluate_external(run, images, labels, **kwargs)
    print(metrics_summary(metrics, f"{run} on {metrics['name']}"))
    return 0
