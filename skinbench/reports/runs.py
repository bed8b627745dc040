"""Read a run folder written by ``skinbench train`` and check that a report can use it.

File names, ``history.csv``'s columns and the JSON reading come from
:class:`~skinbench.rundir.RunDir`, the run folder's one owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from skinbench.data import task_outputs
from skinbench.errors import RunError
from skinbench.rundir import HISTORY_COLUMNS, RunDir

__all__ = ["HISTORY_COLUMNS", "REQUIRED_FILES", "RunFormatError", "RunRecord", "expand_sweeps", "load_run", "load_runs"]

#: The name this module has always raised; the same class as :class:`skinbench.errors.RunError`.
RunFormatError = RunError

#: metrics.json schema versions this report reads.
SUPPORTED_SCHEMAS = (1,)
REQUIRED_FILES = (RunDir.CONFIG, RunDir.HISTORY, RunDir.METRICS)
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


@dataclass
class RunRecord:
    """One finished run, as the report reads it.

    Attributes:
        path: The run folder.
        name: Its label in every table and figure (the folder name).
        config: ``config.json`` as a dict.
        history: ``history.csv``.
        metrics: ``metrics.json`` as a dict.
        external: ``{name: metrics}`` of the external test sets (``external/<name>/metrics.json``).
        exports: ``{variant: record}`` of the exported models (``export/<variant>.json``).
    """

    path: Path
    name: str
    config: dict[str, Any]
    history: pd.DataFrame
    metrics: dict[str, Any]
    external: dict[str, dict[str, Any]] = field(default_factory=dict)
    exports: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model name (``custom_cnn``, ``resnet50_tl``, a torchvision name)."""
        return str(self.metrics["model"])

    @property
    def num_outputs(self) -> int:
        """Outputs of the model: 1 logit for the binary task, else one per class."""
        return task_outputs(self.metrics["task"])


def load_run(path: str | Path) -> RunRecord:
    """Load and check one run folder.

    Args:
        path: A folder written by ``skinbench train`` (``config.json``, ``history.csv``,
            ``metrics.json``; ``split.csv``, checkpoints and ``predictions.csv`` are not needed;
            ``external/`` and ``export/`` are read when present).

    Returns:
        The run.

    Raises:
        RunError: The folder is missing, lacks a file, a file lacks a column or key,
            or ``metrics.json`` has an unsupported ``schema_version``; the message names
            what is missing.
    """
    run = RunDir(path)
    if not run.path.is_dir():
        raise RunError(f"{run.path}: no such run folder")
    hint = "" if run.has(RunDir.METRICS) else " (training not finished, or not evaluated yet: run skinbench evaluate)"
    run.require(*REQUIRED_FILES, purpose="a finished skinbench run", hint=hint)
    metrics = run.read_metrics()
    metrics_path = run.path / RunDir.METRICS
    version = metrics.get("schema_version")
    if version not in SUPPORTED_SCHEMAS:
        raise RunError(
            f"{metrics_path} has schema_version {version!r}; this skinbench reads "
            f"{', '.join(map(str, SUPPORTED_SCHEMAS))} (incompatible version: re-run skinbench evaluate)"
        )
    absent = [k for k in METRICS_KEYS if k not in metrics]
    if absent:
        raise RunError(f"{metrics_path} lacks {', '.join(absent)} (incompatible version)")
    # config.json stays a dict: a report reads runs of other versions, whose fields may differ
    config = run.read_json(RunDir.CONFIG)
    return RunRecord(
        path=run.path,
        name=run.name,
        config=config,
        history=run.read_history(),
        metrics=metrics,
        external=run.external_metrics(),
        exports=run.export_records(),
    )


def expand_sweeps(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """Replace each sweep folder (a folder of run folders, ``skinbench sweep``) by its finished runs.

    A path with a ``config.json`` is a run and stays; a folder without one contributes
    its sub-folders that hold a ``config.json``, by name (a folder with none stays, so
    that loading it names what is missing).

    Returns:
        ``(runs, unfinished)``: the run folders, and the sweep's runs left out because
        they have no ``metrics.json`` yet (an explicitly given run is never left out).
    """
    runs: list[Path] = []
    unfinished: list[Path] = []
    for path in map(Path, paths):
        children = sorted(p for p in path.iterdir() if RunDir(p).has(RunDir.CONFIG)) if path.is_dir() else []
        if RunDir(path).has(RunDir.CONFIG) or not children:
            runs.append(path)  # a run, or not a sweep either: load_run names what is missing
            continue
        for child in children:
            (runs if RunDir(child).has(RunDir.METRICS) else unfinished).append(child)
    return runs, unfinished


def load_runs(paths: list[str | Path]) -> list[RunRecord]:
    """Load several runs (or the finished runs of sweep folders), with unique labels.

    A run is labelled by its folder name; when two runs in different parent folders
    have the same name (two sweeps of one model, ``strong/`` and ``paper/``), every run
    is labelled ``<parent>/<name>`` (``strong/custom_cnn-64px-seed0``), and a name that
    is still taken gets ``-2``, ``-3``, ...

    Raises:
        RunError: As :func:`load_run`; also for an empty list, or sweep folders without a
            finished run.
    """
    if not paths:
        raise RunError("no run folders given")
    found, _ = expand_sweeps(paths)
    if not found:
        raise RunError(f"no finished runs in {', '.join(map(str, paths))} (skinbench sweep still running?)")
    runs = [load_run(p) for p in found]
    parents: dict[str, set[Path]] = {}
    for run in runs:
        parents.setdefault(run.name, set()).add(run.path.resolve().parent)
    if any(len(p) > 1 for p in parents.values()):  # one name in two folders: every run says its folder
        for run in runs:
            run.name = f"{run.path.resolve().parent.name}/{run.name}"
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.name] = seen.get(run.name, 0) + 1
        if seen[run.name] > 1:
            run.name = f"{run.name}-{seen[run.name]}"
    return runs
