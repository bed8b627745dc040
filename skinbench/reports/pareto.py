"""Accuracy-vs-cost Pareto fronts: the non-dominated set, its table and its plot.

A point is a model with a cost (MACs, parameters, latency: lower is better) and a score
(accuracy, balanced accuracy, macro F1: higher is better). Point ``a`` dominates ``b``
when ``cost_a <= cost_b`` and ``score_a >= score_b`` with at least one strict inequality.
The front is every point no other point dominates. Consequences, all tested:

* identical points (duplicates) do not dominate each other: all copies are on the front;
* of two points with the same cost, only the higher score can be on the front (and vice
  versa for the same score);
* points with a missing (NaN) cost or score are never on the front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

#: Scores (higher is better) and costs (lower is better) of the report's fronts.
SCORES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "f1_macro": "macro F1"}
COSTS = {"macs": "MACs (flopcount convention)", "params": "parameters", "latency_ms": "latency, batch 1 (ms)"}


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points (minimise cost, maximise score), in input order.

    Args:
        costs: One cost per point.
        scores: One score per point, same length.

    Returns:
        The indices of the points on the front, ascending.

    Raises:
        ValueError: ``costs`` and ``scores`` differ in length.

    Example:
        >>> pareto_front([1, 2, 3, 4], [0.5, 0.7, 0.6, 0.9])   # (3, 0.6) is dominated by (2, 0.7)
        [0, 1, 3]
        >>> pareto_front([1, 1, 2], [0.5, 0.5, 0.4])           # duplicates both stay
        [0, 1]
        >>> pareto_front([1, 1], [0.4, 0.5])                   # same cost: the better score wins
        [1]
        >>> pareto_front([], [])
        []
    """
    if len(costs) != len(scores):
        raise ValueError(f"{len(costs)} costs but {len(scores)} scores")
    pts = [(float(c), float(s)) for c, s in zip(costs, scores)]
    valid = [i for i, (c, s) in enumerate(pts) if not (math.isnan(c) or math.isnan(s))]
    front = []
    for i in valid:
        ci, si = pts[i]
        dominated = any(
            pts[j][0] <= ci and pts[j][1] >= si and (pts[j][0] < ci or pts[j][1] > si) for j in valid if j != i
        )
        if not dominated:
            front.append(i)
    return front


def front_table(frame: pd.DataFrame, *, label: str = "run") -> pd.DataFrame:
    """Every (score, cost) front of ``frame`` as one long table.

    Args:
        frame: One row per model with a ``label`` column and the :data:`SCORES` and
            :data:`COSTS` columns (missing columns are skipped).
        label: Name of the column that names the models.

    Returns:
        Columns ``score, cost, rank, <label>, score_value, cost_value``: the models on
        each front, ordered by increasing cost (``rank`` 1 is the cheapest).

    Example:
        >>> f = pd.DataFrame({"run": ["a", "b", "c"], "accuracy": [0.5, 0.7, 0.6], "macs": [1, 2, 3]})
        >>> front_table(f)[["score", "cost", "rank", "run"]].values.tolist()
        [['accuracy', 'macs', 1, 'a'], ['accuracy', 'macs', 2, 'b']]
    """
    rows = []
    for score in SCORES:
        for cost in COSTS:
            if score not in frame or cost not in frame:
                continue
            idx = pareto_front(frame[cost].tolist(), frame[score].tolist())
            on = frame.iloc[idx].sort_values([cost, score], ascending=[True, False], kind="stable")
            for rank, (_, row) in enumerate(on.iterrows(), start=1):
                rows.append(
                    {
                        "score": score,
                        "cost": cost,
                        "rank": rank,
                        label: row[label],
                        "score_value": float(row[score]),
                        "cost_value": float(row[cost]),
                    }
                )
    table: pd.DataFrame = pd.DataFrame(rows, columns=["score", "cost", "rank", label, "score_value", "cost_value"])
    return table


#: Point markers by kind of model: eager PyTorch, float32 export, int8 export.
MARKER_NAMES = {"o": "eager PyTorch", "s": "exported float32", "^": "exported int8"}


def marker_of(variant: str) -> str:
    """The marker of a point: ``o`` eager, ``^`` an int8 export, ``s`` another export.

    Example:
        >>> marker_of("eager"), marker_of("onnx_fp32"), marker_of("onnx_int8")
        ('o', 's', '^')
    """
    if variant == "eager":
        return "o"
    return "^" if "int8" in variant else "s"


def plot_fronts(frame: pd.DataFrame, cost: str, out_stem: str | Path, *, label: str = "run") -> list[Path]:
    """Plot the three score-vs-``cost`` fronts side by side; save ``out_stem`` .png and .svg.

    Every model is a labelled point; the front is drawn as a step line with its points
    highlighted; the cost axis is log-scaled. A ``variant`` column (``eager``, an export
    variant such as ``onnx_int8``) sets each point's marker (:func:`marker_of`). A
    ``<score>_std`` column (means over seeds, :mod:`skinbench.reports.aggregate`) draws
    +- one standard deviation as error bars.

    Args:
        frame: As for :func:`front_table`.
        cost: One of :data:`COSTS`.
        out_stem: Output path without suffix.
        label: Column naming the models.

    Returns:
        The written PNG and SVG paths.
    """
    from matplotlib.ticker import NullFormatter

    from skinbench.reports.figures import new_figure, save_figure

    fig, axes = new_figure(1, len(SCORES), size=(4.2 * len(SCORES), 3.6))
    kinds = frame["variant"] if "variant" in frame else pd.Series("eager", index=frame.index)
    markers = kinds.map(marker_of)
    for ax, (score, score_name) in zip(axes, SCORES.items()):
        err = frame[f"{score}_std"] if f"{score}_std" in frame else pd.Series(math.nan, index=frame.index)
        data = frame[[label, cost, score]].assign(marker=markers, err=err).dropna(subset=[label, cost, score])
        data = data[data[cost] > 0].reset_index(drop=True)
        if data["err"].notna().any():
            yerr = data["err"].fillna(0).to_numpy()
            ax.errorbar(data[cost], data[score], yerr=yerr, fmt="none", ecolor="0.5", elinewidth=1, capsize=2, zorder=1)
        idx = set(pareto_front(data[cost].tolist(), data[score].tolist()))
        data["on"] = [i in idx for i in range(len(data))]
        front = data[data["on"]].sort_values(cost)
        ax.step(front[cost], front[score], where="post", color="C3", lw=1.5, zorder=1)
        for marker, group in data.groupby("marker", sort=False):
            off, on = group[~group["on"]], group[group["on"]]
            ax.scatter(off[cost], off[score], color="0.6", marker=str(marker), zorder=2)
            ax.scatter(on[cost], on[score], color="C3", s=50, marker=str(marker), zorder=3)
        ax.scatter([], [], color="0.6", label="dominated")
        ax.scatter([], [], color="C3", s=50, label="Pareto front")
        if markers.nunique() > 1:
            for marker in dict.fromkeys(markers):
                ax.scatter([], [], color="k", marker=marker, label=MARKER_NAMES[marker])
        for _, row in data.iterrows():
            ax.annotate(str(row[label]), (row[cost], row[score]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if len(data):
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # within one decade the minor labels overlap
        ax.set_xlabel(COSTS[cost] + " (log)")
        ax.set_ylabel(score_name)
        ax.set_title(f"{score_name} vs {COSTS[cost].split(' (')[0]}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    return save_figure(fig, out_stem)
