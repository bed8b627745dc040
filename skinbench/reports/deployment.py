"""The report's tables beyond the test split: external test sets, deployed (exported) models, Pareto points.

* :func:`external_table`: every run on every external labelled test set it was evaluated
  on (``RUN/external/<name>/metrics.json``), melanoma vs rest included;
* :func:`deployed_table`: every exported model (``RUN/export/<variant>.json``) with its
  file size, onnxruntime/TorchScript speed and memory (:mod:`skinbench.deployed_cost`),
  its test accuracy, and its agreement with PyTorch;
* :func:`pareto_points`: the eager runs plus the deployed variants, one point each, so the
  Pareto fronts show float and int8 models side by side;
* :func:`external_blocks`, :func:`deployed_blocks`: the report's sections on the two tables.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from skinbench.cost import SpeedOptions
from skinbench.evaluate import single_class
from skinbench.reports.render import Block, Heading, Table, Text
from skinbench.reports.runs import RunRecord

__all__ = [
    "DEPLOYED_COLUMNS",
    "EXTERNAL_COLUMNS",
    "accuracy_extras",
    "deployed_blocks",
    "deployed_table",
    "external_blocks",
    "external_table",
    "melanoma_recall",
    "pareto_points",
]

EXTERNAL_COLUMNS = [
    "run",
    "model",
    "set",
    "layout",
    "n",
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "auc_macro",
    "mel_recall",
    "mel_auroc",
    "mel_sens_spec80",
    "mel_sens_spec90",
    "test_balanced_accuracy",
    "note",
]
DEPLOYED_COLUMNS = [
    "run",
    "model",
    "variant",
    "precision",
    "file_mb",
    "params",
    "macs",
    "macs_note",
    "latency_ms",
    "throughput",
    "batch",
    "peak_memory_mb",
    "speed_device",
    "cuda_latency_ms",
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "mel_recall",
    "mel_auroc",
    "accuracy_pytorch",
    "max_abs_diff",
    "argmax_agreement",
    "note",
]


def melanoma_recall(metrics: dict[str, Any]) -> float | None:
    """Recall (sensitivity) of the melanoma class at the model's own decision (argmax); None without ``mel``.

    Read from ``per_class`` (scikit-learn's recall) where the metrics have it, else from
    the confusion matrix (an export record's test scores); None when no test image is a
    melanoma.

    Example:
        >>> melanoma_recall({"classes": ["mel", "nv"], "confusion_matrix": [[3, 1], [0, 5]]})
        0.75
        >>> melanoma_recall({"classes": ["benign", "malignant"], "confusion_matrix": [[3, 1], [0, 5]]}) is None
        True
    """
    classes = list(metrics.get("classes") or [])
    if "mel" not in classes:
        return None
    per_class = (metrics.get("per_class") or {}).get("mel") or {}
    if "recall" in per_class:
        return None if per_class.get("support") == 0 else float(per_class["recall"])
    row = (metrics.get("confusion_matrix") or [])[classes.index("mel")] if metrics.get("confusion_matrix") else []
    return float(row[classes.index("mel")] / sum(row)) if row and sum(row) else None


def accuracy_extras(metrics: dict[str, Any]) -> dict[str, Any]:
    """Melanoma-vs-rest scores and the collapsed-model note of one ``metrics.json``.

    ``mel_recall`` is the melanoma recall at the model's decision (:func:`melanoma_recall`);
    ``mel_auroc`` and the sensitivities at 80%/90% specificity are read off the melanoma
    probability's ROC curve.

    Example:
        >>> accuracy_extras({"classes": ["a", "b"], "confusion_matrix": [[2, 0], [3, 0]]})["note"]
        'predicts a for every image'
    """
    mel = metrics.get("melanoma") or {}
    collapsed = single_class(metrics)
    return {
        "mel_recall": melanoma_recall(metrics),
        "mel_auroc": mel.get("auroc"),
        "mel_sens_spec80": mel.get("sens_at_spec_80"),
        "mel_sens_spec90": mel.get("sens_at_spec_90"),
        "note": f"predicts {collapsed} for every image" if collapsed else "",
    }


def external_table(runs: list[RunRecord]) -> pd.DataFrame:
    """One row per (run, external test set); ``test_balanced_accuracy`` is the run's own test split's."""
    rows = []
    for run in runs:
        for name, m in run.external.items():
            rows.append(
                {
                    "run": run.name,
                    "model": run.model,
                    "set": name,
                    "layout": m.get("layout"),
                    "n": m["n"],
                    "accuracy": m["accuracy"],
                    "balanced_accuracy": m["balanced_accuracy"],
                    "f1_macro": m["f1"]["macro"],
                    "auc_macro": m["auc_macro"],
                    **accuracy_extras(m),
                    "test_balanced_accuracy": run.metrics["balanced_accuracy"],
                }
            )
    table: pd.DataFrame = pd.DataFrame(rows, columns=EXTERNAL_COLUMNS)
    return table


def deployed_table(runs: list[RunRecord], frame: pd.DataFrame, speed: SpeedOptions | None) -> pd.DataFrame:
    """One row per exported model of every run; ``frame`` is the runs table (for params and MACs).

    Speed and memory are measured when ``speed`` is given; file size and test accuracy
    always come from the export records.
    """
    from skinbench.deployed_cost import INT8_MACS_NOTE, measure_exported, unmeasured_export

    eager = frame.set_index("run")
    rows = []
    for run in runs:
        for variant, record in run.exports.items():
            size = int(record["preprocessing"]["image_size"])
            path = run.path / "export" / record["file"]
            if not path.is_file():  # a records copy: the size from the record, nothing to time
                cost = unmeasured_export(record["size_bytes"])
            else:
                try:
                    cost = measure_exported(path, record["format"], size, speed=speed)
                except ImportError:  # copied run folder, no onnxruntime here: size and accuracy only
                    cost = measure_exported(path, record["format"], size, speed=None)
            test, parity = record["test"], record["parity"]
            extras = accuracy_extras({"classes": record["classes"], **test})  # melanoma recall, collapsed
            int8 = record["precision"] == "int8"
            rows.append(
                {
                    "run": run.name,
                    "model": run.model,
                    "variant": variant,
                    "precision": record["precision"],
                    **cost,
                    "params": eager.at[run.name, "params"],
                    "macs": eager.at[run.name, "macs"],
                    "macs_note": INT8_MACS_NOTE if int8 else "float",
                    "accuracy": test["accuracy"],
                    "balanced_accuracy": test["balanced_accuracy"],
                    "f1_macro": test["f1_macro"],
                    "mel_recall": extras["mel_recall"],
                    "mel_auroc": extras["mel_auroc"],
                    "note": extras["note"],
                    "accuracy_pytorch": record["test_pytorch"]["accuracy"],
                    "max_abs_diff": parity["max_abs_diff"],
                    "argmax_agreement": parity["argmax_agreement"],
                }
            )
    table: pd.DataFrame = pd.DataFrame(rows, columns=DEPLOYED_COLUMNS)
    return table


def pareto_points(frame: pd.DataFrame, deployed: pd.DataFrame) -> pd.DataFrame:
    """The runs (``variant`` ``eager``) plus each deployed model as ``<run> [<variant>]``."""
    points: pd.DataFrame = frame.assign(variant="eager")
    if deployed.empty:
        return points
    extra = deployed.assign(run=deployed["run"] + " [" + deployed["variant"] + "]")
    both: pd.DataFrame = pd.concat(
        [points, extra[[c for c in extra.columns if c in points.columns]]], ignore_index=True
    )
    return both


def external_blocks(frames: dict[str, pd.DataFrame]) -> list[Block]:
    """The report's "External test sets" section, from the ``external`` table of ``frames`` if there is one."""
    if "external" not in frames:
        return [
            Heading("External test sets"),
            Text("None evaluated (`skinbench evaluate RUN --images DIR --labels CSV`, e.g. the ISIC 2018 test set)."),
        ]
    return [
        Heading("External test sets"),
        Text(
            "Each run's `best.pt` on external labelled images (`RUN/external/<set>/metrics.json`), preprocessed "
            "exactly as in training (every image stretched to a square); `test_balanced_accuracy` is the run's "
            "own test split, for comparison."
        ),
        Table(frames["external"], files="tables/external"),
    ]


def deployed_blocks(frames: dict[str, pd.DataFrame], speed: SpeedOptions | None) -> list[Block]:
    """The report's "Deployed models" section, from the ``deployed`` table of ``frames`` if there is one."""
    if "deployed" not in frames:
        return [
            Heading("Deployed models"),
            Text("None exported (`skinbench export RUN --format onnx [--int8]`)."),
        ]
    how = (
        "not measured (`--no-speed`)"
        if speed is None
        else f"onnxruntime (CPUExecutionProvider) or TorchScript on the CPU with {speed.threads or 'default'} "
        f"thread(s), {speed.warmup} warm-up calls then the median of {speed.repeats}; latency at batch 1, "
        f"throughput at batch {speed.batch}; `peak_memory_mb`: peak RSS growth of a fresh process that loads "
        "the file and runs both batches; `cuda_latency_ms` only where CUDA is available"
    )
    return [
        Heading("Deployed models"),
        Text(
            "Every exported model (`RUN/export/<variant>.json`): file size, speed " + how + ". Accuracy on the "
            "run's test split by the exported model itself (`accuracy_pytorch`: the same weights in PyTorch); "
            "`max_abs_diff`/`argmax_agreement`: its class probabilities against PyTorch's. MACs are flopcount's "
            "count of the float model: an int8 model does the same MACs in int8 arithmetic. On the Pareto "
            "figures, circles are eager PyTorch, squares float32 exports, triangles int8."
        ),
        Table(frames["deployed"], files="tables/deployed"),
    ]
