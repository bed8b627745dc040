"""No crash and no data loss in normal use: batch of one, synth into a dataset, bad checkpoints and flags.

Also the small CLI promises of issue #11: --skip and --split for train, an absolute data
folder in config.json, epoch lines with --no-progress, a decode progress bar, --version,
``python -m skinbench`` and a bare ``skinbench`` that prints its help.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import BatchSampler

from skinbench.checkpoint import load_checkpoint
from skinbench.cli import main as cli
from skinbench.config import TrainConfig
from skinbench.data import cached_images, load_metadata
from skinbench.data.batching import MergedLastBatchSampler
from skinbench.train import main as train

pytestmark = pytest.mark.usefixtures("one_thread")


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("skinbench: error: "), err
    return err


def _checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


# ----------------------------------------------------------------------------- batch of one
def test_merged_last_batch_uses_every_index_once_in_the_sampler_order() -> None:
    for n in range(1, 40):
        for size in (1, 2, 3, 7, 16):
            batches = list(MergedLastBatchSampler(range(n), size))
            assert [i for b in batches for i in b] == list(range(n))
            assert len(batches) == len(MergedLastBatchSampler(range(n), size))
            assert all(len(b) > 1 for b in batches) or size == 1 or n == 1
            plain = list(BatchSampler(range(n), size, drop_last=False))
            assert batches == plain or (len(plain[-1]) == 1 and batches[-1] == plain[-2] + plain[-1])


def _transfer_config(data: Path, out: Path, batch_size: int, **kw) -> TrainConfig:
    return TrainConfig(
        data=str(data),
        out=str(out),
        model="mobilenet_v3_small",
        image_size=16,
        head_epochs=1,
        epochs=2,
        batch_size=batch_size,
        pretrained=False,
        force_frozen_random=True,  # the two phases, without ImageNet weights offline
        progress=False,
        patience=0,
        **kw,
    )


def _singleton_batch_size(run_split: Path) -> int:
    n_train = int((pd.read_csv(run_split)["split"] == "train").sum())
    return next(b for b in range(8, n_train) if n_train % b == 1)


@pytest.mark.slow
def test_a_last_batch_of_one_trains_and_resumes(synthetic_root: Path, tmp_path: Path) -> None:
    from skinbench.data import load_or_create_split

    split = tmp_path / "split.csv"
    load_or_create_split(load_metadata(synthetic_root), split)
    size = _singleton_batch_size(split)  # the train split is one more than a multiple of the batch
    full, killed = tmp_path / "full", tmp_path / "killed"
    metrics = train(_transfer_config(synthetic_root, full, size))
    assert metrics["n"] > 0 and len(pd.read_csv(full / "history.csv")) == 3  # head, finetune, finetune

    class Killed(Exception):
        pass

    def kill(row: dict) -> None:
        if row["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        train(_transfer_config(synthetic_root, killed, size), on_epoch_end=kill)
    train(_transfer_config(synthetic_root, killed, size, resume=True))
    a, b = load_checkpoint(full / "last.pt")["model"], load_checkpoint(killed / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_without_the_merge_the_batch_of_one_crashes(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case above is the issue's crash: plain batching raises BatchNorm's error."""
    from skinbench.data import load_or_create_split

    split = tmp_path / "split.csv"
    load_or_create_split(load_metadata(synthetic_root), split)
    size = _singleton_batch_size(split)
    monkeypatch.setattr("skinbench.context.MergedLastBatchSampler", lambda s, n: BatchSampler(s, n, False))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        train(_transfer_config(synthetic_root, tmp_path / "run", size))


# ----------------------------------------------------------------------------- synth
def test_synth_into_an_existing_dataset_refuses_and_changes_nothing(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = tmp_path / "ours"
    shutil.copytree(synthetic_root, ours)
    foreign = tmp_path / "foreign"  # a real dataset: a metadata file synth did not write
    shutil.copytree(synthetic_root, foreign)
    (foreign / ".skinbench-synthetic.json").unlink()
    before = {p: _checksums(p) for p in (ours, foreign)}
    assert "not empty" in _error_line(capsys, ["synth", "--out", str(ours), "--n", "7", "--size", "16", "12"])
    assert "not empty" in _error_line(capsys, ["synth", "--out", str(foreign), "--n", "7"])
    err = _error_line(capsys, ["synth", "--out", str(foreign), "--n", "7", "--force"])
    assert "refusing to replace" in err and "HAM10000_metadata.csv" in err
    (foreign / "HAM10000_metadata.csv").write_text("edited")  # an edited metadata file is not synth's either
    before[foreign] = _checksums(foreign)
    assert "refusing" in _error_line(capsys, ["synth", "--out", str(foreign), "--n", "7", "--force"])
    assert {p: _checksums(p) for p in (ours, foreign)} == before

    assert cli(["synth", "--out", str(ours), "--n", "7", "--size", "16", "12", "--force"]) == 0  # its own: fine
    assert len(load_metadata(ours)) == 7
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(["synth", "--out", str(empty), "--n", "7", "--size", "16", "12"]) == 0


# ----------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "no_model"])
def test_a_damaged_checkpoint_is_one_line_naming_the_file(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    for name in ("best.pt", "last.pt"):
        path = run / name
        data = path.read_bytes()
        if damage == "no_model":
            torch.save({"epoch": 1}, path)
        else:
            path.write_bytes(
                {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"\x80not a zip" * 50}[damage]
            )
    assert "best.pt" in _error_line(capsys, ["evaluate", str(run)])
    assert "best.pt" in _error_line(
        capsys, ["predict", str(run), str(run / "config.json"), "--out", str(tmp_path / "p")]
    )
    config = json.loads((run / "config.json").read_text())
    argv = ["train", "--data", config["data"], "--model", "custom_cnn", "--out", str(run), "--resume", "--no-progress"]
    assert "last.pt" in _error_line(capsys, argv)


# ----------------------------------------------------------------------------- bad flags
@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--lr", "nan"], "lr must be a positive finite number"),
        (["--finetune-lr", "inf"], "finetune_lr must be a positive finite number"),
        (["--device", "gpu"], "unknown device 'gpu'"),
        (["--image-size", "4"], "image_size must be at least 8"),
        (["--batch-size", "1", "--model", "resnet18"], "batch_size must be at least 2"),
    ],
)
def test_bad_settings_are_one_line_and_leave_no_run_folder(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fragment: str
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--data", str(synthetic_root), "--model", "custom_cnn", "--out", str(out), *flags]
    assert fragment in _error_line(capsys, argv)
    assert not out.exists()


# ----------------------------------------------------------------------------- train --skip, --split, paths
def test_skip_and_split_file(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    shutil.copytree(synthetic_root, data)
    victim = sorted(data.glob("HAM10000_images_part_1/*.jpg"))[0]
    victim.write_bytes(victim.read_bytes()[:200])  # a truncated JPEG
    monkeypatch.chdir(tmp_path)  # relative paths below: config.json must store them absolute
    fast = ["--image-size", "8", "--epochs", "1", "--no-progress"]
    err = _error_line(capsys, ["train", "--data", "data", "--model", "custom_cnn", "--out", "r1", *fast])
    assert f"--skip {victim.stem}" in err  # the message says what to pass

    assert cli(["split", "--data", "data", "--out", "s.csv", "--seed", "5", "--skip", victim.stem]) == 0
    argv = ["train", "--data", "data", "--model", "custom_cnn", "--out", "r2", *fast]
    assert cli([*argv, "--skip", victim.stem, "--split", "s.csv"]) == 0
    err = capsys.readouterr().err
    assert "epoch 1 [full]" in err  # --no-progress hides the bars, not the epoch line
    own, given = pd.read_csv(tmp_path / "r2" / "split.csv"), pd.read_csv(tmp_path / "s.csv")
    pd.testing.assert_frame_equal(
        own.sort_values("image_id", ignore_index=True), given.sort_values("image_id", ignore_index=True)
    )
    assert victim.stem not in set(own["image_id"])
    config = json.loads((tmp_path / "r2" / "config.json").read_text())
    assert config["data"] == str(data) and config["split_file"] == str(tmp_path / "s.csv")
    assert config["skip"] == [victim.stem]

    monkeypatch.chdir(tmp_path.parent)  # evaluate RUN from any folder
    assert cli(["evaluate", str(tmp_path / "r2"), "--device", "cpu"]) == 0


def test_decode_shows_a_progress_bar(synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = load_metadata(synthetic_root)["path"].tolist()[:5]
    images = cached_images(paths, 8, cache_dir=tmp_path, progress=True)
    assert images.shape == (5, 8, 8, 3) and "decode 8px" in capsys.readouterr().err
    cached_images(paths, 9, cache_dir=tmp_path)
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- the command itself
def test_version_bare_command_and_python_m(capsys: pytest.CaptureFixture[str]) -> None:
    from flopcount._version import __version__

    assert cli(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"skinbench {__version__}"
    assert cli([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: skinbench") and "predict" in out and "export" in out
    done = subprocess.run([sys.executable, "-m", "skinbench", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"skinbench {__version__}"


def test_a_collapsed_model_is_flagged() -> None:
    from skinbench.evaluate import compute_metrics, metrics_summary

    probs = np.tile([0.1, 0.9], (4, 1))
    metrics = {**compute_metrics(np.array([0, 1, 1, 0]), probs, ["a", "b"]), "epoch": 1}
    assert "predicts b for every one of the 4 images" in metrics_summary(metrics, "run")
