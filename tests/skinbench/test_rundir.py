"""RunDir (the run folder's one owner) and the atomic-write helper every skinbench write goes through."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
import torch

from skinbench import atomic
from skinbench.atomic import atomic_path, write_json, write_text
from skinbench.config import RESUMABLE_CHANGES, TrainConfig
from skinbench.errors import ConfigError, RunError
from skinbench.reports import runs as report_runs
from skinbench.rundir import HISTORY_COLUMNS, RunDir
from skinbench.train import HISTORY_COLUMNS as TRAIN_HISTORY_COLUMNS


def _row(epoch: int) -> dict[str, object]:
    return {c: epoch for c in HISTORY_COLUMNS} | {"phase": "full", "train_loss": 0.5 + epoch}


# ---------------------------------------------------------------------------- atomic writes
def test_atomic_success_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.txt"
    write_text(target, "old")
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".x.txt.") and tmp.name.endswith(".tmp")
        assert not tmp.exists()
        tmp.write_text("new")
        assert target.read_text() == "old"  # not replaced before the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.txt"]


def test_atomic_failure_keeps_the_old_file_and_removes_the_temporary_one(tmp_path: Path) -> None:
    target = write_text(tmp_path / "x.json", "old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_files_get_the_usual_permissions(tmp_path: Path) -> None:
    """Temporary files are created by the writer (not mkstemp's 0600), so reports stay readable."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = write_json(tmp_path / "a.json", {"a": 1})
    assert stat.S_IMODE(os.stat(written).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
    assert json.loads(written.read_text()) == {"a": 1} and written.read_text().endswith("}\n")


def test_atomic_syncs_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: synced.append(fd))
    write_text(tmp_path / "x.txt", "x")
    assert len(synced) == 2  # the file before the rename, the folder after it


# ---------------------------------------------------------------------------- names and checks
def test_file_names_and_history_columns_have_one_owner() -> None:
    assert (RunDir.CONFIG, RunDir.SPLIT, RunDir.HISTORY, RunDir.LAST, RunDir.BEST) == (
        "config.json",
        "split.csv",
        "history.csv",
        "last.pt",
        "best.pt",
    )
    assert (RunDir.METRICS, RunDir.PREDICTIONS) == ("metrics.json", "predictions.csv")
    assert TRAIN_HISTORY_COLUMNS is HISTORY_COLUMNS is report_runs.HISTORY_COLUMNS
    assert report_runs.REQUIRED_FILES == (RunDir.CONFIG, RunDir.HISTORY, RunDir.METRICS)


def test_require_names_every_missing_file(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    write_text(run.file(RunDir.CONFIG), "{}")
    run.require(RunDir.CONFIG, purpose="a run")
    with pytest.raises(RunError, match=rf"^{tmp_path} is not a run: missing split.csv, best.pt \(hint\)$"):
        run.require(RunDir.CONFIG, RunDir.SPLIT, RunDir.BEST, purpose="a run", hint=" (hint)")


def test_history_round_trip_and_missing_column(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.write_history([_row(1), _row(2)])
    history = run.read_history()
    assert tuple(history.columns) == HISTORY_COLUMNS and history["epoch"].tolist() == [1, 2]
    history.drop(columns="lr").to_csv(run.file(RunDir.HISTORY), index=False)
    with pytest.raises(RunError, match=r"history\.csv lacks columns lr"):
        run.read_history()
    run.file(RunDir.HISTORY).write_text("")
    with pytest.raises(RunError, match="not a readable CSV"):
        run.read_history()


def test_read_json_errors(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.file(RunDir.METRICS).write_text("{oops")
    with pytest.raises(RunError, match=r"metrics.json is not valid JSON \(.*line 1\)"):
        run.read_metrics()
    run.file(RunDir.METRICS).write_text("[1, 2]")
    with pytest.raises(RunError, match="does not hold a JSON object"):
        run.read_metrics()


def test_checkpoint_round_trip_and_a_truncated_file(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.save_checkpoint(RunDir.LAST, {"model": {"w": torch.ones(2)}, "epoch": 3})
    assert run.load_checkpoint(RunDir.LAST)["epoch"] == 3
    data = run.file(RunDir.LAST).read_bytes()
    run.file(RunDir.LAST).write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match=r"cannot load checkpoint .*last\.pt"):
        run.load_checkpoint(RunDir.LAST)


# ---------------------------------------------------------------------------- configuration
def _saved_run(tmp_path: Path, **kw: object) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.save_config(TrainConfig(data="d", out=str(run.path), lr=0.01, mean=[0.5] * 3, std=[0.2] * 3, **kw))
    run.save_checkpoint(RunDir.LAST, {"epoch": 1})
    return run


def test_resume_config_applies_only_the_allowed_changes(tmp_path: Path) -> None:
    run = _saved_run(tmp_path)
    # explicit flags only (the CLI), or a whole configuration whose mean/std are unresolved (the library)
    config = run.resume_config({"out": str(run.path), "epochs": 40, "device": "cpu", "resume": True})
    assert (config.lr, config.epochs, config.device, config.resume, config.mean) == (0.01, 40, "cpu", True, [0.5] * 3)
    whole = TrainConfig(data="elsewhere", out=str(run.path), lr=0.01, epochs=3, resume=True).to_dict()
    assert run.resume_config(whole).data == "elsewhere"
    assert {"data", "epochs", "device", "out"} <= RESUMABLE_CHANGES and "lr" not in RESUMABLE_CHANGES


def test_resume_config_refuses_other_changes_and_missing_files(tmp_path: Path) -> None:
    run = _saved_run(tmp_path)
    with pytest.raises(ConfigError, match=r"cannot resume .*run: lr, seed differ from its config.json"):
        run.resume_config({"lr": 0.5, "seed": 3})
    with pytest.raises(ConfigError, match="unknown configuration keys: bogus"):
        run.resume_config({"bogus": 1})
    run.file(RunDir.LAST).unlink()
    with pytest.raises(ConfigError, match=r"cannot resume: .* has no last.pt/config.json"):
        run.resume_config({})


def test_config_json_errors_are_run_errors(tmp_path: Path) -> None:
    run = _saved_run(tmp_path)
    run.file(RunDir.CONFIG).write_text("not json")
    with pytest.raises(RunError, match=r"config\.json is not valid JSON"):
        run.load_config()


def test_write_predictions_and_metrics(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    run.write_metrics({"accuracy": 0.5})
    run.write_predictions(pd.DataFrame({"image_id": ["a"], "label": [1]}))
    assert run.read_metrics() == {"accuracy": 0.5}
    assert run.file(RunDir.PREDICTIONS).read_text() == "image_id,label\na,1\n"
    assert run.name == "r" and run.split_path == run.path / "split.csv"
