"""The paper's figures, regenerated from one run folder, saved as PNG and SVG.

* :func:`plot_curves`: accuracy and loss per epoch, train and validation (Figs. 4-5);
* :func:`plot_confusion`: the test confusion matrix, counts and row-normalised (Fig. 6);
* :func:`plot_roc`: one-vs-rest ROC curves with the AUC of every class (Fig. 7).

Matplotlib runs with the non-interactive Agg backend; every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from skinbench.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FORMATS = ("png", "svg")
_RC: dict[RcKeyType, Any] = {"svg.fonttype": "none", "svg.hashsalt": "skinbench", "figure.dpi": 100}


def new_figure(rows: int = 1, cols: int = 1, *, size: tuple[float, float] = (5.0, 4.0)) -> tuple[Figure, list[Axes]]:
    """A figure and a flat list of its axes."""
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    return fig, list(axes.ravel())


def save_figure(fig: Figure, out_stem: str | Path) -> list[Path]:
    """Save ``fig`` as ``out_stem.png`` and ``out_stem.svg`` (atomically) and close it.

    SVGs carry no date and a fixed id salt, so the same data gives the same file.
    """
    out_stem = Path(out_stem)
    paths = []
    fig.tight_layout()
    with plt.rc_context(_RC):
        for fmt in FORMATS:
            path = out_stem.with_suffix("." + fmt)
            meta = {"Date": None} if fmt == "svg" else {"Software": None}
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, metadata=meta, dpi=100)
            paths.append(path)
    plt.close(fig)
    return paths


def _phase_bounds(history: pd.DataFrame) -> list[float]:
    """Epochs after which the training phase changes (drawn as dashed lines)."""
    phases = history["phase"].tolist()
    epochs = history["epoch"].tolist()
    return [epochs[i] + 0.5 for i in range(len(phases) - 1) if phases[i] != phases[i + 1]]


def plot_curves(history: pd.DataFrame, out_stem: str | Path, *, title: str = "") -> list[Path]:
    """Accuracy (left) and loss (right) per epoch, train and validation.

    Args:
        history: The run's ``history.csv``.
        out_stem: Output path without suffix.
        title: Figure title (the run name).

    Returns:
        The PNG and SVG paths.
    """
    fig, (acc, loss) = new_figure(1, 2, size=(9.0, 3.6))
    for ax, key, name in ((acc, "acc", "accuracy"), (loss, "loss", "loss")):
        ax.plot(history["epoch"], history[f"train_{key}"], "o-", label=f"train {name}")
        ax.plot(history["epoch"], history[f"val_{key}"], "s-", label=f"validation {name}")
        if key == "acc" and "val_balanced_acc" in history:
            ax.plot(history["epoch"], history["val_balanced_acc"], "^--", label="validation balanced accuracy")
        for x in _phase_bounds(history):
            ax.axvline(x, color="0.5", ls=":", lw=1)  # phase change (head -> finetune)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch (dotted line: next training phase)" if _phase_bounds(history) else "epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    acc.set_title(f"{title} accuracy (Fig. 4)".strip(), fontsize=9)
    loss.set_title(f"{title} loss (Fig. 5)".strip(), fontsize=9)
    return save_figure(fig, out_stem)


def plot_confusion(metrics: dict[str, Any], out_stem: str | Path, *, title: str = "") -> list[Path]:
    """The test confusion matrix: counts, coloured by the row-normalised share (recall).

    Args:
        metrics: The run's ``metrics.json`` (``confusion_matrix``, ``classes``).
        out_stem: Output path without suffix.
        title: Figure title.
    """
    cm = np.asarray(metrics["confusion_matrix"], dtype=float)
    classes = metrics["classes"]
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, (ax,) = new_figure(size=(5.2, 4.6))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(classes)), classes, rotation=45)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title} confusion matrix (Fig. 6)".strip(), fontsize=9)
    fig.colorbar(im, ax=ax, label="share of the true class")
    return save_figure(fig, out_stem)


def plot_roc(metrics: dict[str, Any], out_stem: str | Path, *, title: str = "") -> list[Path]:
    """One-vs-rest ROC curve of every class with its AUC (classes absent from the test split are listed as n/a).

    Args:
        metrics: The run's ``metrics.json`` (``roc``, ``classes``, ``auc_macro``).
        out_stem: Output path without suffix.
        title: Figure title.
    """
    fig, (ax,) = new_figure(size=(5.0, 4.6))
    for name in metrics["classes"]:
        curve = metrics["roc"].get(name) or {}
        auc = curve.get("auc")
        if auc is None or not curve.get("fpr"):
            ax.plot([], [], label=f"{name}: AUC n/a (absent)")
            continue
        ax.plot(curve["fpr"], curve["tpr"], lw=1.2, label=f"{name}: AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
    macro = metrics.get("auc_macro")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(
        f"{title} ROC, one-vs-rest (Fig. 7); macro AUC {'n/a' if macro is None else f'{macro:.3f}'}".strip(), fontsize=9
    )
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return save_figure(fig, out_stem)
