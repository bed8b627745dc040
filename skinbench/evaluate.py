"""Test-split evaluation (paper eqs. 6-9 and more), written to ``metrics.json``.

Every number comes from :mod:`sklearn.metrics`. ``metrics.json`` schema (version 1)::

    {
      "schema_version": 1,
      "run": str,                 # run folder name
      "model": str, "task": "dx" | "binary", "image_size": int,
      "checkpoint": "best.pt", "epoch": int,   # global epoch (1-based) of the weights evaluated
      "tta": "none" | "flip",     # test-time augmentation: probabilities averaged over the 4 flips
      "split": "test", "n": int,
      "classes": [str, ...],      # class order of every per-class list and matrix axis
      "accuracy": float,          # eq. 6
      "balanced_accuracy": float, # mean per-class recall (ISIC 2018 Task 3 metric)
      "precision": {"macro": float, "weighted": float},   # eq. 7
      "recall":    {"macro": float, "weighted": float},   # eq. 8
      "f1":        {"macro": float, "weighted": float},   # eq. 9
      "per_class": {class: {"precision", "recall", "f1", "support", "auc"}},
      "confusion_matrix": [[int]],  # rows = true class, columns = predicted class
      "roc": {class: {"fpr": [float], "tpr": [float], "auc": float | null}},  # one-vs-rest
      "auc_macro": float | null,  # mean of the defined per-class AUCs
      "melanoma": {               # mel vs rest on prob_mel (dx task; null for binary)
        "n_melanoma": int, "n_other": int,
        "auroc": float | null,
        "sens_at_spec_80": float | null, "sens_at_spec_90": float | null,
        "rule": str               # how sensitivity at a specificity is read off the ROC curve
      },
      "baseline": {"class": str, "accuracy": float, "balanced_accuracy": float},
                                  # always predicting the most frequent training class
      "params": int,              # parameters of the evaluated model
      "timings": {"train_seconds": float,            # sum of history.csv's train_seconds
                  "val_seconds": float,              # sum of history.csv's val_seconds
                  "features_train_seconds": float,   # phase 1 feature caching (transfer models)
                  "features_val_seconds": float}
    }

``predictions.csv`` next to it has one row per test image: ``image_id``, ``label``,
``pred`` and ``prob_<class>`` for every class.

A class absent from the test split has ``auc`` null and an empty ROC curve. For the
binary task the classes are ``benign`` and ``malignant``; both one-vs-rest curves are
stored (they mirror each other).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from skinbench.context import RunContext, build_context
from skinbench.data import SplitData
from skinbench.rundir import RunDir

__all__ = [
    "SCHEMA_VERSION",
    "SENSITIVITY_RULE",
    "compute_metrics",
    "evaluate_command",
    "evaluate_model",
    "evaluate_run",
    "melanoma_metrics",
    "metrics_summary",
    "sensitivity_at_specificity",
    "single_class",
    "write_run_metrics",
]

SCHEMA_VERSION = 1

#: Specificities at which the melanoma sensitivity is reported.
SPECIFICITIES = (0.8, 0.9)

SENSITIVITY_RULE = (
    "TPR of sklearn.metrics.roc_curve (drop_intermediate=False) at FPR = 1 - specificity, linearly "
    "interpolated between the two ROC points around it; where the curve is vertical at exactly that "
    "FPR, the highest TPR there"
)


def _num(x: float) -> float | None:
    """A JSON-safe float (NaN becomes null)."""
    x = float(x)
    return None if math.isnan(x) else x


def compute_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    *,
    baseline_label: int | None = None,
) -> dict[str, Any]:
    """Classification metrics of predicted class probabilities.

    Args:
        y_true: Integer labels (N,).
        probs: Class probabilities (N, K) with K = ``len(classes)``; the prediction is
            the argmax.
        classes: Class names, in label order.
        baseline_label: Label of a constant predictor to compare with (the most frequent
            training class); None leaves ``baseline`` out.

    Returns:
        The metric part of the ``metrics.json`` schema (see the module docstring).

    Example:
        >>> m = compute_metrics(np.array([0, 1, 1]), np.array([[.9, .1], [.2, .8], [.6, .4]]), ["a", "b"])
        >>> round(m["accuracy"], 3), m["balanced_accuracy"], m["confusion_matrix"]
        (0.667, 0.75, [[1, 0], [1, 1]])
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    labels = list(range(len(classes)))
    if probs.shape != (len(y_true), len(classes)):
        raise ValueError(f"probs has shape {probs.shape}, expected ({len(y_true)}, {len(classes)})")
    y_pred = probs.argmax(axis=1)
    prec, rec, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out: dict[str, Any] = {
        "n": len(y_true),
        "classes": list(classes),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred),
    }
    for key, idx in (("precision", 0), ("recall", 1), ("f1", 2)):
        out[key] = {
            avg: float(
                skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)[idx]
            )
            for avg in ("macro", "weighted")
        }
    roc: dict[str, Any] = {}
    per_class: dict[str, Any] = {}
    for k, name in enumerate(classes):
        positive = y_true == k
        if positive.any() and not positive.all():
            fpr, tpr, _ = skm.roc_curve(positive, probs[:, k])
            auc = float(skm.roc_auc_score(positive, probs[:, k]))
            roc[name] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": auc}
        else:
            auc = None
            roc[name] = {"fpr": [], "tpr": [], "auc": None}
        per_class[name] = {
            "precision": float(prec[k]),
            "recall": float(rec[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
            "auc": auc,
        }
    aucs = [c["auc"] for c in per_class.values() if c["auc"] is not None]
    out["per_class"] = per_class
    out["confusion_matrix"] = skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    out["roc"] = roc
    out["auc_macro"] = float(np.mean(aucs)) if aucs else None
    out["melanoma"] = melanoma_metrics(y_true, probs, classes)
    if baseline_label is not None:
        constant = np.full_like(y_true, baseline_label)
        out["baseline"] = {
            "class": classes[baseline_label],
            "accuracy": float(skm.accuracy_score(y_true, constant)),
            "balanced_accuracy": _balanced_accuracy(y_true, constant),
        }
    return out


def sensitivity_at_specificity(fpr: np.ndarray, tpr: np.ndarray, specificity: float) -> float:
    """Sensitivity (TPR) of a ROC curve at ``specificity``, by :data:`SENSITIVITY_RULE`.

    Args:
        fpr: False positive rates, non-decreasing, from 0 to 1 (``sklearn.metrics.roc_curve``).
        tpr: True positive rates of the same points.
        specificity: In [0, 1].

    Example:
        >>> fpr, tpr = np.array([0.0, 0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0, 1.0])
        >>> sensitivity_at_specificity(fpr, tpr, 0.8), sensitivity_at_specificity(fpr, tpr, 1.0)
        (0.7, 0.5)
    """
    target = 1.0 - float(specificity)
    i = int(np.searchsorted(fpr, target + 1e-12, side="right")) - 1  # last point with FPR <= target
    if i >= len(fpr) - 1:
        return float(tpr[-1])
    f_lo, f_hi, t_lo, t_hi = fpr[i], fpr[i + 1], tpr[i], tpr[i + 1]
    return float(t_lo + (t_hi - t_lo) * max(target - f_lo, 0.0) / (f_hi - f_lo))


def melanoma_metrics(y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> dict[str, Any] | None:
    """Melanoma vs rest: AUROC and sensitivity at 80% and 90% specificity, on ``prob_mel``.

    Args:
        y_true: Integer labels (N,).
        probs: Class probabilities (N, K).
        classes: Class names; None is returned without a ``mel`` class (binary task).

    Returns:
        ``{"n_melanoma", "n_other", "auroc", "sens_at_spec_80", "sens_at_spec_90", "rule"}``;
        the scores are None when the set lacks melanomas or other lesions.

    Example:
        >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
        >>> m = melanoma_metrics(np.array([0, 0, 1, 1]), p, ["nv", "mel"])
        >>> m["auroc"], m["sens_at_spec_90"]
        (1.0, 1.0)
    """
    if "mel" not in classes:
        return None
    k = list(classes).index("mel")
    positive = np.asarray(y_true) == k
    out: dict[str, Any] = {"n_melanoma": int(positive.sum()), "n_other": int((~positive).sum()), "auroc": None}
    out.update({f"sens_at_spec_{round(s * 100)}": None for s in SPECIFICITIES})
    if positive.any() and not positive.all():
        fpr, tpr, _ = skm.roc_curve(positive, probs[:, k], drop_intermediate=False)
        out["auroc"] = float(skm.roc_auc_score(positive, probs[:, k]))
        for s in SPECIFICITIES:
            out[f"sens_at_spec_{round(s * 100)}"] = sensitivity_at_specificity(fpr, tpr, s)
    out["rule"] = SENSITIVITY_RULE
    return out


def single_class(metrics: dict[str, Any]) -> str | None:
    """The class a model predicts for every image of ``metrics`` (a collapsed model), or None.

    Read from the confusion matrix (columns are predictions), so it works for any
    ``metrics.json``, old ones included.

    Example:
        >>> single_class({"classes": ["a", "b"], "confusion_matrix": [[3, 0], [2, 0]]})
        'a'
        >>> single_class({"classes": ["a", "b"], "confusion_matrix": [[3, 0], [1, 1]]}) is None
        True
    """
    predicted = np.asarray(metrics.get("confusion_matrix") or [[0]]).sum(axis=0)
    used = np.flatnonzero(predicted)
    return str(metrics["classes"][used[0]]) if len(used) == 1 and predicted.sum() > 1 else None


def metrics_summary(metrics: dict[str, Any], label: str) -> str:
    """The lines ``skinbench train`` and ``skinbench evaluate`` print for ``metrics``."""

    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    base = metrics.get("baseline")
    baseline = f"; always-{base['class']} accuracy {base['accuracy']:.4f}" if base else ""
    lines = [
        f"{label}: test accuracy {metrics['accuracy']:.4f}, balanced accuracy {metrics['balanced_accuracy']:.4f}, "
        f"macro F1 {metrics['f1']['macro']:.4f}, macro AUC {num(metrics['auc_macro'])} "
        f"(n={metrics['n']}, epoch {metrics['epoch']}{baseline})"
    ]
    collapsed = single_class(metrics)
    if collapsed is not None:
        lines.append(f"  warning: the model predicts {collapsed} for every one of the {metrics['n']} images")
    mel = metrics.get("melanoma")
    if mel:
        lines.append(
            f"  melanoma vs rest: AUROC {num(mel['auroc'])}, sensitivity at 80% specificity "
            f"{num(mel['sens_at_spec_80'])}, at 90% {num(mel['sens_at_spec_90'])} (n={mel['n_melanoma']} melanomas)"
        )
    return "\n".join(lines)


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true`` (sklearn's definition)."""
    return _num(skm.balanced_accuracy_score(y_true, y_pred)) or 0.0


def evaluate_model(ctx: RunContext, *, epoch: int, checkpoint: str = RunDir.BEST) -> tuple[dict[str, Any], np.ndarray]:
    """Evaluate ``ctx.model`` (its current weights) on the test split.

    Args:
        ctx: The run's set-up (:func:`skinbench.context.build_context`).
        epoch: Global epoch of the weights, recorded in the metrics.
        checkpoint: Checkpoint file name, recorded in the metrics.

    Returns:
        ``(metrics, probs)``: the ``metrics.json`` content (without ``timings``) and the
        test class probabilities (N, K).
    """
    tta = ctx.config.tta == "flip"  # under torchrun: every image once
    y, probs, _ = ctx.predict(ctx.model, ctx.dataset("test"), desc="test", tta=tta)
    config, classes = ctx.config, ctx.classes
    majority = int(np.bincount(ctx.splits["train"].labels, minlength=len(classes)).argmax())
    metrics: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run": ctx.run.name,
        "model": config.model,
        "task": config.task,
        "image_size": config.image_size,
        "checkpoint": checkpoint,
        "epoch": int(epoch),
        "tta": config.tta,
        "split": "test",
        **compute_metrics(y, probs, classes, baseline_label=majority),
        "params": sum(p.numel() for p in ctx.model.parameters()),
    }
    return metrics, probs


def write_run_metrics(run: RunDir, metrics: dict[str, Any], probs: np.ndarray, test: SplitData) -> None:
    """Write ``metrics.json`` and ``predictions.csv`` (one row per test image) into ``run``."""
    run.write_metrics(metrics)
    frame = pd.DataFrame({"image_id": test.image_ids, "label": test.labels, "pred": probs.argmax(1)})
    for k, name in enumerate(metrics["classes"]):
        frame[f"prob_{name}"] = probs[:, k]
    run.write_predictions(frame)


def evaluate_run(
    run_dir: str | Path,
    *,
    data: str | Path | None = None,
    checkpoint: str = RunDir.BEST,
    device: str = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Re-evaluate a finished (or interrupted) run on its test split; rewrite metrics.json.

    The run is set up as training set it up (:func:`skinbench.context.build_context`),
    then the checkpoint's weights are loaded. ``timings`` of an existing
    ``metrics.json`` are kept.

    Args:
        run_dir: The run folder (config.json, split.csv and the checkpoint).
        data: Dataset folder, when it moved since training; default the one in config.json.
        checkpoint: ``"best.pt"`` or ``"last.pt"``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress: Show a progress bar.

    Returns:
        The metrics written to ``run_dir/metrics.json``.

    Raises:
        skinbench.errors.RunError: ``run_dir`` is not a run folder, or the checkpoint is unreadable.
        skinbench.errors.DataError: The data is missing or no longer matches split.csv.
    """
    run = RunDir(run_dir)
    run.require(RunDir.CONFIG, RunDir.SPLIT, checkpoint, purpose="a skinbench run folder")
    changes: dict[str, Any] = {"out": str(run.path), "progress": progress, "device": device}
    if data is not None:
        changes["data"] = str(data)
    config = run.load_config().with_changes(changes, run=run.path)
    ctx = build_context(config, run, pretrained=False)
    ckpt = run.load_weights(checkpoint, ctx.model, map_location=ctx.device)
    epoch = ckpt["epoch"] if "epoch" in ckpt else ckpt["state"]["epoch"]
    metrics, probs = evaluate_model(ctx, epoch=epoch, checkpoint=checkpoint)
    timings = run.read_metrics().get("timings") if run.has(RunDir.METRICS) else None
    if timings is not None:
        metrics["timings"] = timings
    write_run_metrics(run, metrics, probs, ctx.splits["test"])
    return metrics


def evaluate_command(*, run: str, **kwargs: Any) -> int:
    """``skinbench evaluate RUN``: :func:`evaluate_run`, then print :func:`metrics_summary`."""
    print(metrics_summary(evaluate_run(run, **kwargs), run))
    return 0
