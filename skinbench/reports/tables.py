"""The report's tables as pandas data frames (written in every format by :mod:`~skinbench.reports.formats`).

* :func:`table3`: Table III, total parameters, reported vs recomputed with flopcount;
* :func:`table4`: Table IV, cost and accuracy of the custom CNN and ResNet50 + TL, with
  the "performance deviation" computed correctly and the paper's printed values beside it;
* :func:`deviation_table`: every metric of every run against a baseline run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from skinbench.errors import UnknownBaselineError
from skinbench.reports.deviation import deviation, point_difference, ratio, relative_change
from skinbench.reports.formats import (
    FORMATS,
    display_frame,
    format_value,
    to_latex,
    to_markdown,
    to_records,
    write_table,
)
from skinbench.reports.paper import NOT_REBUILT, PAPER, PAPER_IMAGE_SIZE, PAPER_NUM_CLASSES, SA_REASON, TABLE3

# The writers moved to skinbench.reports.formats; these names stay importable from here.
__all__ = [
    "DEVIATION_METRICS",
    "FORMATS",
    "REPORTED_ONLY",
    "deviation_table",
    "display_frame",
    "format_value",
    "table3",
    "table4",
    "to_latex",
    "to_markdown",
    "to_records",
    "write_table",
]

if TYPE_CHECKING:
    from skinbench.cost import Counts

REPORTED_ONLY = "reported, not recomputed"


# ---------------------------------------------------------------------------- Table III
def table3(extra_models: Sequence[str] = (), *, counts: dict[str, Counts] | None = None) -> pd.DataFrame:
    """Table III: total parameters, reported by the paper and recomputed with flopcount.

    Models skinbench builds (``custom_cnn``, ``resnet50_tl``) are counted at the paper's
    224 px and 7 classes; the others keep the paper's value, marked
    :data:`REPORTED_ONLY`. ``extra_models`` (e.g. the torchvision models of a report's
    runs) are appended with their computed count and no reported value.

    Args:
        extra_models: More skinbench model names to count.
        counts: ``{model name: skinbench.cost.Counts}`` already computed (saves time).

    Returns:
        Columns ``model, skinbench_model, reported, recomputed, abs_deviation,
        rel_deviation_pct, status, note``; deviations are ``recomputed - reported``.
    """
    from skinbench.cost import count

    counts = dict(counts or {})

    def params(name: str) -> int:
        if name not in counts:
            counts[name] = count(name, image_size=PAPER_IMAGE_SIZE, num_outputs=PAPER_NUM_CLASSES)
        return counts[name].params

    notes = {
        "resnet50_tl": "torchvision ResNet50 + head Linear(2048, 256)-ReLU-Dropout-Linear(256, 7); no "
        "Linear(2048, h) head gives the paper's value (see Reproducing the paper)",
        "custom_cnn": "Table II's own layers give 25,785,415; 692,807 does not follow from Table II",
    }
    rows: list[dict[str, Any]] = []
    for paper_name, reported, ours in TABLE3:
        if ours is None:
            rows.append(
                {
                    "model": paper_name,
                    "skinbench_model": None,
                    "reported": reported,
                    "recomputed": None,
                    "status": REPORTED_ONLY,
                    "note": NOT_REBUILT.get(paper_name, SA_REASON),
                }
            )
        else:
            rows.append(
                {
                    "model": paper_name,
                    "skinbench_model": ours,
                    "reported": reported,
                    "recomputed": params(ours),
                    "status": "recomputed",
                    "note": notes[ours],
                }
            )
    listed = {r["skinbench_model"] for r in rows}
    for name in dict.fromkeys(extra_models):
        if name not in listed:
            rows.append(
                {
                    "model": name,
                    "skinbench_model": name,
                    "reported": None,
                    "recomputed": params(name),
                    "status": "not in the paper",
                    "note": "torchvision backbone + skinbench head, 7 classes",
                }
            )
    for r in rows:
        if r["reported"] is not None and r["recomputed"] is not None:
            d = deviation(r["recomputed"], r["reported"])
            r["abs_deviation"], r["rel_deviation_pct"] = int(d.absolute), d.relative_pct
        else:
            r["abs_deviation"], r["rel_deviation_pct"] = None, math.nan
    cols = [
        "model",
        "skinbench_model",
        "reported",
        "recomputed",
        "abs_deviation",
        "rel_deviation_pct",
        "status",
        "note",
    ]
    frame: pd.DataFrame = pd.DataFrame(rows, columns=cols)
    for c in ("reported", "recomputed", "abs_deviation"):
        frame[c] = frame[c].astype("Int64")
    return frame


# ---------------------------------------------------------------------------- Table IV
def table4(
    *,
    cnn: Counts | None = None,
    tl: Counts | None = None,
    acc_cnn: float | None = None,
    acc_tl: float | None = None,
    cnn_note: str = "",
    tl_note: str = "",
) -> pd.DataFrame:
    """Table IV: cost and accuracy of the custom CNN and ResNet50 + TL, and their deviation.

    The cost increase is ``(C_TL - C_CNN) / C_CNN x 100``; the accuracy difference is
    given in percentage points and relative %. Each row has the paper's printed value,
    the same quantity recomputed from the paper's own inputs, ours, a ``flag`` where the
    printed value disagrees, and a one-line explanation.

    Args:
        cnn: :class:`skinbench.cost.Counts` of ``custom_cnn`` at 224 px (computed when None).
        tl: Counts of ``resnet50_tl`` at 224 px (computed when None).
        acc_cnn: Our test accuracy of the custom CNN in % (None: no run).
        acc_tl: Our test accuracy of ResNet50 + TL in %.
        cnn_note: Where our custom CNN accuracy comes from (run name, image size, epochs).
        tl_note: The same for ResNet50 + TL.

    Returns:
        Columns ``quantity, unit, paper_printed, paper_recomputed, ours, flag, explanation``.
    """
    from skinbench.cost import count

    cnn = cnn or count("custom_cnn", image_size=PAPER_IMAGE_SIZE, num_outputs=PAPER_NUM_CLASSES)
    tl = tl or count("resnet50_tl", image_size=PAPER_IMAGE_SIZE, num_outputs=PAPER_NUM_CLASSES)
    nan = math.nan
    P = PAPER
    acc_cnn = nan if acc_cnn is None else float(acc_cnn)
    acc_tl = nan if acc_tl is None else float(acc_tl)
    paper_pp = point_difference(P["acc_resnet"], P["acc_cnn"])
    paper_rel = relative_change(P["acc_resnet"], P["acc_cnn"])
    paper_inc = relative_change(P["resnet_flops"], P["cnn_flops"])
    ours_inc = relative_change(tl.macs_paper, cnn.macs_paper)
    ours_inc_flops = relative_change(tl.flops, cnn.flops)
    cnn_note = f" Ours: {cnn_note}." if cnn_note else " Ours: no run given."
    tl_note = f" Ours: {tl_note}." if tl_note else " Ours: no run given."
    rows = [
        (
            "Custom CNN cost",
            "MACs (paper convention)",
            P["cnn_flops"],
            nan,
            cnn.macs_paper,
            True,
            f'The printed "FLOPs" are MACs by eqs. 10-11; Table II\'s layers give {cnn.macs_paper:,} MACs '
            f"({ratio(cnn.macs_paper, P['cnn_flops']):.1f}x the printed value).",
        ),
        (
            "Custom CNN FLOPs",
            "FLOPs (flopcount convention)",
            nan,
            nan,
            cnn.flops,
            False,
            "Real FLOPs: 2 per MAC plus bias, activation and pooling work.",
        ),
        (
            "ResNet50 + TL cost",
            "MACs (paper convention)",
            P["resnet_flops"],
            nan,
            tl.macs_paper,
            True,
            f'Printed as 4.00 B "FLOPs" but these are MACs, ResNet50\'s count rounded (torchvision: 4.09 G MACs, '
            f"listed as GFLOPS); ours with the 2048-256-7 head: {tl.macs_paper:,} MACs, {tl.flops / 1e9:.2f} G FLOPs.",
        ),
        (
            "ResNet50 + TL FLOPs",
            "FLOPs (flopcount convention)",
            nan,
            nan,
            tl.flops,
            False,
            "Real FLOPs are about twice the MACs.",
        ),
        (
            "Custom CNN accuracy",
            "%",
            P["acc_cnn"],
            nan,
            acc_cnn,
            not math.isnan(acc_cnn) and abs(acc_cnn - P["acc_cnn"]) > 1,
            'Test accuracy (the paper\'s column is headed "Accuracy (F-Score)").' + cnn_note,
        ),
        (
            "ResNet50 + TL accuracy",
            "%",
            P["acc_resnet"],
            nan,
            acc_tl,
            not math.isnan(acc_tl) and abs(acc_tl - P["acc_resnet"]) > 1,
            "Test accuracy." + tl_note,
        ),
        (
            "Cost increase of TL over CNN",
            "% ((C_TL - C_CNN) / C_CNN x 100, MACs)",
            P["flops_increase_pct"],
            paper_inc,
            ours_inc,
            True,
            f"The paper's own 4.00 B and 30.04 M give {paper_inc:+,.2f}% (printed {P['flops_increase_pct']:+,.2f}%); "
            f"with consistent MAC counts TL costs {ratio(tl.macs_paper, cnn.macs_paper):.2f}x the CNN.",
        ),
        (
            "Cost increase of TL over CNN",
            "% (FLOPs, flopcount convention)",
            nan,
            nan,
            ours_inc_flops,
            False,
            "Same ratio on real FLOPs.",
        ),
        (
            "Accuracy difference TL - CNN",
            "percentage points",
            P["acc_gap_pct"],
            paper_pp,
            point_difference(acc_tl, acc_cnn),
            True,
            f'Printed as "+0.022%"; {P["acc_resnet"]}% - {P["acc_cnn"]}% = {paper_pp:.2f} percentage points.',
        ),
        (
            "Accuracy difference TL vs CNN",
            "% relative ((A_TL - A_CNN) / A_CNN x 100)",
            P["acc_gap_pct"],
            paper_rel,
            relative_change(acc_tl, acc_cnn, on_zero="nan"),
            True,
            f"As a relative change the paper's accuracies differ by {paper_rel:.2f}%, not 0.022%.",
        ),
    ]
    cols = ["quantity", "unit", "paper_printed", "paper_recomputed", "ours", "flag", "explanation"]
    table: pd.DataFrame = pd.DataFrame(rows, columns=cols)
    return table


# ---------------------------------------------------------------------------- deviations
#: Metrics of the deviation table: column -> (label, is a percentage).
DEVIATION_METRICS: dict[str, tuple[str, bool]] = {
    "accuracy": ("accuracy (%)", True),
    "balanced_accuracy": ("balanced accuracy (%)", True),
    "f1_macro": ("macro F1 (%)", True),
    "auc_macro": ("macro AUC (%)", True),
    "params": ("parameters", False),
    "macs": ("MACs", False),
    "flops": ("FLOPs", False),
    "latency_ms": ("latency (ms)", False),
    "throughput": ("throughput (img/s)", False),
    "epoch_s": ("train s/epoch", False),
}


def deviation_table(frame: pd.DataFrame, baseline: str, *, label: str = "run") -> pd.DataFrame:
    """Every metric of every row of ``frame`` against the row ``baseline``.

    Scores stored as fractions (accuracy, ...) are shown in %, so their absolute
    deviation is in percentage points. A zero baseline value gives ``rel_deviation_pct``
    NaN and a ``note`` saying so (never a silent division by zero).

    Args:
        frame: One row per model; a ``label`` column and any :data:`DEVIATION_METRICS` columns.
        baseline: The ``label`` of the baseline row.
        label: The column naming the rows.

    Returns:
        Columns ``<label>, metric, value, baseline_value, abs_deviation, rel_deviation_pct, note``.

    Raises:
        UnknownBaselineError: ``baseline`` is not a row of ``frame`` (a ``KeyError``).

    Example:
        >>> f = pd.DataFrame({"run": ["a", "b"], "accuracy": [0.5, 0.6], "params": [0, 10]})
        >>> t = deviation_table(f, "a")
        >>> for row in t[["run", "metric", "abs_deviation", "rel_deviation_pct", "note"]].values.tolist():
        ...     print(row)
        ['a', 'accuracy (%)', 0.0, 0.0, '']
        ['a', 'parameters', 0.0, nan, 'baseline is 0: relative change undefined']
        ['b', 'accuracy (%)', 10.0, 20.0, '']
        ['b', 'parameters', 10.0, nan, 'baseline is 0: relative change undefined']
    """
    if baseline not in set(frame[label]):
        raise UnknownBaselineError(f"baseline {baseline!r} is not one of {', '.join(map(str, frame[label]))}")
    base = frame[frame[label] == baseline].iloc[0]
    rows = []
    for _, row in frame.iterrows():
        for col, (name, pct) in DEVIATION_METRICS.items():
            if col not in frame or pd.isna(row[col]) or pd.isna(base[col]):
                continue
            scale = 100.0 if pct else 1.0
            value, ref = float(row[col]) * scale, float(base[col]) * scale
            d = deviation(value, ref)
            rows.append(
                {
                    label: row[label],
                    "metric": name,
                    "value": value,
                    "baseline_value": ref,
                    "abs_deviation": round(d.absolute, 10),
                    "rel_deviation_pct": d.relative_pct,
                    "note": d.note,
                }
            )
    cols = [label, "metric", "value", "baseline_value", "abs_deviation", "rel_deviation_pct", "note"]
    table: pd.DataFrame = pd.DataFrame(rows, columns=cols)
    return table
