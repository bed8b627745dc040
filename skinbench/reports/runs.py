"""Read a run folder written by ``skinbench train`` and check that a report can use it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

#: metrics.json schema versions this report reads.
SUPPORTED_SCHEMAS = (1,)
REQUIRED_FILES = ("config.json", "history.csv", "metrics.json")
HISTORY_COLUMNS = ("epoch", "phase", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
METRICS_KEYS = (
    "schema_version",
    "model",
    "task",
    "image_size",
    "classes",
    "n",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "confusion_matrix",
    "roc",
    "auc_macro",
)


class RunFormatError(ValueError):
    """A folder is not a finished skinbench run, or was written by an incompatible version."""


@dataclass
class RunRecord:
    """One finished run, as the report reads it.

    Attributes:
        path: The run folder.
        name: Its label in every table and figure (the folder name).
        config: ``config.json`` as a dict.
        history: ``history.csv``.
        metrics: ``metrics.json`` as a dict.
    """

    path: Path
    name: str
    config: dict[str, Any]
    history: pd.DataFrame
    metrics: dict[str, Any]

    @property
    def model(self) -> str:
        """The model name (``custom_cnn``, ``resnet50_tl``, a torchvision name)."""
        return str(self.metrics["model"])

    @property
    def num_outputs(self) -> int:
        """Outputs of the model: 1 logit for the binary task, else one per class."""
        return 1 if self.metrics["task"] == "binary" else len(self.metrics["classes"])


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunFormatError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise RunFormatError(f"{path} does not hold a JSON object")
    return data


def load_run(path: str | Path) -> RunRecord:
    """Load and check one run folder.

    Args:
        path: A folder written by ``skinbench train`` (``config.json``, ``history.csv``,
            ``metrics.json``; ``split.csv``, checkpoints and ``predictions.csv`` are not needed).

    Returns:
        The run.

    Raises:
        RunFormatError: The folder is missing, lacks a file, a file lacks a column or key,
            or ``metrics.json`` has an unsupported ``schema_version``; the message names
            what is missing.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunFormatError(f"{path}: no such run folder")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        hint = (
            " (training not finished, or not evaluated yet: run skinbench evaluate)"
            if "metrics.json" in missing
            else ""
        )
        raise RunFormatError(f"{path} is not a finished skinbench run: missing {', '.join(missing)}{hint}")
    metrics = _read_json(path / "metrics.json")
    version = metrics.get("schema_version")
    if version not in SUPPORTED_SCHEMAS:
        raise RunFormatError(
            f"{path / 'metrics.json'} has schema_version {version!r}; this skinbench reads "
            f"{', '.join(map(str, SUPPORTED_SCHEMAS))} (incompatible version: re-run skinbench evaluate)"
        )
    absent = [k for k in METRICS_KEYS if k not in metrics]
    if absent:
        raise RunFormatError(f"{path / 'metrics.json'} lacks {', '.join(absent)} (incompatible version)")
    config = _read_json(path / "config.json")
    history = pd.read_csv(path / "history.csv")
    cols = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if cols:
        raise RunFormatError(f"{path / 'history.csv'} lacks columns {', '.join(cols)} (incompatible version)")
    return RunRecord(path=path, name=path.resolve().name, config=config, history=history, metrics=metrics)


def load_runs(paths: list[str | Path]) -> list[RunRecord]:
    """Load several runs; labels are made unique (``name``, ``name-2``, ...).

    Raises:
        RunFormatError: As :func:`load_run`; also for an empty list.
    """
    if not paths:
        raise RunFormatError("no run folders given")
    runs = [load_run(p) for p in paths]
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.name] = seen.get(run.name, 0) + 1
        if seen[run.name] > 1:
            run.name = f"{run.name}-{seen[run.name]}"
    return runs
