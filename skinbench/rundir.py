"""The run folder of ``skinbench train``: its one owner.

Layout (every file written atomically, see :mod:`skinbench.atomic`)::

    config.json       the resolved TrainConfig (normalisation mean/std included)
    split.csv         the lesion-level train/val/test split the run uses
    history.csv       one row per epoch, columns HISTORY_COLUMNS (seconds = train_seconds + val_seconds)
    last.pt           after every epoch: model, optimizer, AMP scaler, loop state, RNG, config
    best.pt           the epoch with the best monitored metric: model, epoch, monitor, value, config
    metrics.json      test-split metrics (schema in skinbench.evaluate)
    predictions.csv   one row per test image
    external/<name>/metrics.json, predictions.csv
                      an external labelled test set (skinbench evaluate --images --labels)
    export/<variant>.onnx|.pt, <variant>.json
                      an exported model and its record: parity, test accuracy (skinbench export)
    copied_from.json  only in a records copy (:meth:`RunDir.copy_records`): the run folder it
                      was copied from; such a copy holds every file above except split.csv,
                      the checkpoints and the exported models themselves

Training, evaluation and the report read and write these files only through
:class:`RunDir`; the one exception is ``split.csv``, which
:func:`skinbench.data.load_or_create_split` writes at the path :attr:`RunDir.split_path`.
Funnelling every write through one object is what would let a distributed version
make only rank 0 write (not implemented).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from skinbench.atomic import atomic_path, write_json
from skinbench.checkpoint import load_checkpoint, load_weights, save_checkpoint
from skinbench.config import TrainConfig
from skinbench.errors import ConfigError, RunError

__all__ = ["HISTORY_COLUMNS", "RunDir", "check_name"]

#: Columns of ``history.csv``, written by training and required by the report.
#: ``seconds`` is the whole epoch: ``train_seconds`` (the training pass) plus
#: ``val_seconds`` (the validation pass); ``lr`` is the learning rate of the epoch's last step.
HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "phase",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_balanced_acc",
    "lr",
    "seconds",
    "train_seconds",
    "val_seconds",
)

#: Columns added since the first version; older ``history.csv`` files read them as NaN.
_ADDED_HISTORY_COLUMNS = ("train_seconds", "val_seconds")


class RunDir:
    """A run folder: its file names, and every read and write of its files.

    Args:
        path: The folder (need not exist yet).

    Example:
        >>> import tempfile
        >>> run = RunDir(Path(tempfile.mkdtemp()) / "run")
        >>> run.write_history([dict.fromkeys(HISTORY_COLUMNS, 1)])
        >>> run.read_history().columns.tolist() == list(HISTORY_COLUMNS), run.has(RunDir.HISTORY)
        (True, True)
    """

    CONFIG = "config.json"
    SPLIT = "split.csv"
    HISTORY = "history.csv"
    LAST = "last.pt"
    BEST = "best.pt"
    METRICS = "metrics.json"
    PREDICTIONS = "predictions.csv"
    EXTERNAL = "external"
    EXPORT = "export"
    COPIED_FROM = "copied_from.json"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The folder's name (the run's label in reports)."""
        return self.path.resolve().name

    @property
    def split_path(self) -> Path:
        """Where the run's split CSV is (created by the data loading on first use)."""
        return self.path / self.SPLIT

    def file(self, name: str) -> Path:
        """The path of file ``name`` in the folder."""
        return self.path / name

    def has(self, *names: str) -> bool:
        """Whether every file in ``names`` exists."""
        return all((self.path / n).is_file() for n in names)

    def require(self, *names: str, purpose: str, hint: str = "") -> None:
        """Check that the folder holds ``names``.

        Args:
            names: File names that must exist.
            purpose: What the folder must be, e.g. ``"a skinbench run folder"``.
            hint: Appended to the message, e.g. how to make the missing file.

        Raises:
            RunError: ``{path} is not {purpose}: missing a, b{hint}``.
        """
        missing = [n for n in names if not (self.path / n).is_file()]
        if missing:
            raise RunError(f"{self.path} is not {purpose}: missing {', '.join(missing)}{hint}")

    # ------------------------------------------------------------------ configuration
    def save_config(self, config: TrainConfig) -> None:
        """Write ``config.json``."""
        write_json(self.path / self.CONFIG, config.to_dict())

    def load_config(self) -> TrainConfig:
        """Read ``config.json`` as a :class:`TrainConfig`.

        Raises:
            RunError: Not valid JSON or not an object.
            ConfigError: Keys that are not configuration fields.
        """
        return TrainConfig.from_saved(self.read_json(self.CONFIG))

    def resume_config(self, given: Mapping[str, Any]) -> TrainConfig:
        """The configuration to resume this run with: the saved one plus the allowed changes.

        Args:
            given: Every field (``TrainConfig.to_dict()``) or only those set explicitly.

        Raises:
            ConfigError: No ``last.pt``/``config.json`` to resume from, or ``given``
                changes a field :data:`skinbench.config.RESUMABLE_CHANGES` does not allow.
        """
        if not self.has(self.LAST, self.CONFIG):
            raise ConfigError(f"cannot resume: {self.path} has no {self.LAST}/{self.CONFIG}")
        return self.load_config().with_changes(given, run=self.path)

    # ------------------------------------------------------------------ history
    def write_history(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write ``history.csv``: one row per epoch, :data:`HISTORY_COLUMNS` in order."""
        with atomic_path(self.path / self.HISTORY) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def read_history(self) -> pd.DataFrame:
        """Read ``history.csv``.

        Columns added since the first version (:data:`_ADDED_HISTORY_COLUMNS`) are NaN
        when the file predates them (its ``seconds`` included validation too).

        Raises:
            RunError: Unreadable, or a column of :data:`HISTORY_COLUMNS` is missing.
        """
        path = self.path / self.HISTORY
        try:
            history = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise RunError(f"{path} is not a readable CSV ({str(exc).splitlines()[0]})") from None
        absent = [c for c in HISTORY_COLUMNS if c not in history.columns and c not in _ADDED_HISTORY_COLUMNS]
        if absent:
            raise RunError(f"{path} lacks columns {', '.join(absent)} (incompatible version)")
        for column in _ADDED_HISTORY_COLUMNS:
            if column not in history.columns:
                history[column] = float("nan")
        return history

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, name: str, obj: dict[str, Any]) -> None:
        """Write checkpoint ``name`` (``last.pt`` or ``best.pt``)."""
        save_checkpoint(obj, self.path / name)

    def load_checkpoint(self, name: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """Read checkpoint ``name`` (tensors and primitive containers only).

        Raises:
            RunError: Not a readable checkpoint.
        """
        return load_checkpoint(self.path / name, map_location=map_location)

    def load_weights(
        self,
        name: str,
        model: torch.nn.Module,
        *,
        map_location: str | torch.device = "cpu",
        require: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Read checkpoint ``name``, load its weights into ``model`` and return it.

        Args:
            name: ``best.pt`` or ``last.pt``.
            model: The run's model.
            map_location: Where the tensors go.
            require: Keys the checkpoint must hold besides ``model`` (``last.pt`` on resume).

        Raises:
            RunError: Unreadable, lacking a key of ``require``, or weights of another model.
        """
        path = self.path / name
        ckpt = load_checkpoint(path, map_location=map_location)
        missing = [k for k in require if k not in ckpt]
        if missing:
            raise RunError(f"{path} lacks {', '.join(missing)} (not a {name} of this skinbench version)")
        load_weights(model, ckpt, path)
        return ckpt

    # ------------------------------------------------------------------ metrics
    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Write ``metrics.json``."""
        write_json(self.path / self.METRICS, metrics)

    def read_metrics(self) -> dict[str, Any]:
        """Read ``metrics.json`` (see :meth:`read_json`)."""
        return self.read_json(self.METRICS)

    def write_predictions(self, frame: pd.DataFrame) -> None:
        """Write ``predictions.csv`` (no index column)."""
        with atomic_path(self.path / self.PREDICTIONS) as tmp:
            frame.to_csv(tmp, index=False)

    # ------------------------------------------------------------------ external test sets
    def external_dir(self, name: str) -> Path:
        """Folder of external test set ``name`` (``external/<name>``; see :func:`check_name`)."""
        return self.path / self.EXTERNAL / check_name(name, "external test set")

    def write_external(self, name: str, metrics: Mapping[str, Any], frame: pd.DataFrame) -> Path:
        """Write ``external/<name>/metrics.json`` and ``predictions.csv``; never the run's own files."""
        folder = self.external_dir(name)
        write_json(folder / self.METRICS, metrics)
        with atomic_path(folder / self.PREDICTIONS) as tmp:
            frame.to_csv(tmp, index=False)
        return folder

    def external_metrics(self) -> dict[str, dict[str, Any]]:
        """``{name: metrics}`` of every external test set evaluated, by name."""
        root = self.path / self.EXTERNAL
        found = sorted(p.parent.name for p in root.glob(f"*/{self.METRICS}")) if root.is_dir() else []
        return {name: self.read_json(f"{self.EXTERNAL}/{name}/{self.METRICS}") for name in found}

    # ------------------------------------------------------------------ exported models
    def export_file(self, filename: str) -> Path:
        """Path of ``export/<filename>`` (an exported model or its record)."""
        return self.path / self.EXPORT / filename

    def write_export_record(self, variant: str, record: Mapping[str, Any], *, failed: bool = False) -> Path:
        """Write ``export/<variant>.json`` (``<variant>.failed.json`` for a rejected export)."""
        check_name(variant, "export variant")
        if not failed:  # a passing export supersedes an earlier failure's record
            self.export_file(variant + ".failed.json").unlink(missing_ok=True)
        return write_json(self.export_file(variant + (".failed.json" if failed else ".json")), record)

    def export_records(self) -> dict[str, dict[str, Any]]:
        """``{variant: record}`` of every export that passed its checks and whose file is there.

        In a records copy (:attr:`is_copy`) the exported files were never copied, so every
        passing record counts.
        """
        root = self.path / self.EXPORT
        records = {}
        for path in sorted(root.glob("*.json")) if root.is_dir() else []:
            if path.name.endswith(".failed.json"):
                continue
            record = self.read_json(f"{self.EXPORT}/{path.name}")
            if self.is_copy or (root / str(record.get("file", ""))).is_file():
                records[path.stem] = record
        return records

    # ------------------------------------------------------------------ records copies
    @property
    def is_copy(self) -> bool:
        """Whether this folder is a records copy made by :meth:`copy_records`."""
        return self.has(self.COPIED_FROM)

    def record_files(self) -> list[str]:
        """The run's record files, relative to the folder: everything but the split and the binaries.

        That is ``config.json``, ``history.csv``, ``metrics.json``, ``predictions.csv``, the
        external test sets' ``metrics.json``/``predictions.csv`` and the passing export records
        (``export/<variant>.json``), where they exist: kilobytes, against the megabytes of the
        checkpoints and exported models, and all a report reads.
        """
        own = [n for n in (self.CONFIG, self.HISTORY, self.METRICS, self.PREDICTIONS) if self.has(n)]
        external = sorted(
            str(p.relative_to(self.path))
            for p in (self.path / self.EXTERNAL).glob("*/*")
            if p.name in (self.METRICS, self.PREDICTIONS)
        )
        exports = [f"{self.EXPORT}/{variant}.json" for variant in self.export_records()]
        return own + external + exports

    def copy_records(self, dest: str | Path) -> RunDir:
        """Copy the run's :meth:`record_files` to folder ``dest`` and mark it a records copy.

        The copy is what a report needs to be regenerated and what a repository can keep
        (``skinbench report`` writes one per run under ``OUT/runs/``); the checkpoints stay
        with the run. Files are replaced atomically; files of ``dest`` the run no longer has
        are left alone. Copying a folder onto itself does nothing.

        Returns:
            The copy.

        Example:
            >>> import tempfile
            >>> root = Path(tempfile.mkdtemp())
            >>> run = RunDir(root / "run")
            >>> run.write_history([dict.fromkeys(HISTORY_COLUMNS, 1)])
            >>> _ = run.file(RunDir.LAST).write_bytes(b"weights")
            >>> copy = run.copy_records(root / "copy")
            >>> sorted(p.name for p in copy.path.iterdir()), copy.is_copy, run.is_copy
            (['copied_from.json', 'history.csv'], True, False)
        """
        copy = RunDir(dest)
        if copy.path.resolve() == self.path.resolve():
            return copy
        source = str(self.read_json(self.COPIED_FROM)["source"]) if self.is_copy else str(self.path)
        for name in self.record_files():
            with atomic_path(copy.path / name) as tmp:
                shutil.copyfile(self.path / name, tmp)
        write_json(copy.path / self.COPIED_FROM, {"source": source})
        return copy

    def read_json(self, name: str) -> dict[str, Any]:
        """Read the JSON object in file ``name``.

        Raises:
            RunError: Not valid JSON, or not an object.
        """
        path = self.path / name
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise RunError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise RunError(f"{path} does not hold a JSON object")
        return data


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(name: str, what: str) -> str:
    """``name`` if it is safe as one folder or file name (letters, digits, ``._-``, no leading dot).

    Raises:
        ConfigError: Anything else (an empty name, a path, ``..``).

    Example:
        >>> check_name("isic2018_test", "external test set")
        'isic2018_test'
        >>> check_name("../x", "external test set")
        Traceback (most recent call last):
        ...
        skinbench.errors.ConfigError: bad external test set name '../x': use letters, digits, '.', '_' and '-'
    """
    if not _NAME.fullmatch(name or ""):
        raise ConfigError(f"bad {what} name {name!r}: use letters, digits, '.', '_' and '-'")
    return name
