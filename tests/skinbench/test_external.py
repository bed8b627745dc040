"""External labelled test sets: ISIC 2018 Task 3 and image_id,dx labels, ``evaluate --images --labels``, the report."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skinbench.cli import main as cli
from skinbench.data import CLASSES, load_metadata
from skinbench.data.external import ISIC2018_COLUMNS, read_external_labels
from skinbench.errors import DataError
from skinbench.evaluate import sensitivity_at_specificity
from skinbench.reports.report import build_report

HEADER = "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "ISIC2018_Task3_Test_Input"
    folder.mkdir()
    for name in ("ISIC_0034524", "ISIC_0034525", "ISIC_0034526"):
        Image.new("RGB", (600, 450)).save(folder / f"{name}.jpg")
    (folder / "LICENSE.txt").write_text("not an image")
    return folder


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_isic2018_layout(tmp_path: Path, images: Path) -> None:
    csv = _csv(
        tmp_path,
        f"{HEADER}\nISIC_0034524,0.0,1.0,0.0,0.0,0.0,0.0,0.0\nISIC_0034525,1,0,0,0,0,0,0\nISIC_0034526.jpg,0,0,0,0,0,0,1\n",
    )
    frame = read_external_labels(csv, images)
    assert frame.attrs["layout"] == "isic2018"
    assert frame["image_id"].tolist() == ["ISIC_0034524", "ISIC_0034525", "ISIC_0034526"]
    assert frame["dx"].tolist() == ["nv", "mel", "vasc"]
    assert frame["label"].tolist() == [CLASSES.index(c) for c in ("nv", "mel", "vasc")]
    assert all(Path(p).is_file() for p in frame["path"]) and frame["line"].tolist() == [2, 3, 4]
    assert set(ISIC2018_COLUMNS.values()) == set(CLASSES)


def test_plain_layout(tmp_path: Path, images: Path) -> None:
    csv = _csv(tmp_path, "image_id,dx,age\nISIC_0034525,MEL,50\nISIC_0034524,nv,\n")
    frame = read_external_labels(csv, images)
    assert frame.attrs["layout"] == "image_id,dx" and frame["dx"].tolist() == ["mel", "nv"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        (f"{HEADER}\nISIC_0034524,0,0,0,0,0,0,0\n", "line 2: ISIC_0034524 has no class marked 1"),
        (f"{HEADER}\nISIC_0034524,0,1,0,0,0,0,0\nISIC_0034525,1,1,0,0,0,0,0\n", "line 3: ISIC_0034525 has several"),
        (f"{HEADER}\nISIC_0034524,0,2,0,0,0,0,0\n", "line 2: value '2' in column NV is not 0 or 1"),
        (f"{HEADER},UNK\nISIC_0034524,0,0,0,0,0,0,0,1\n", "line 2: unknown class UNK for ISIC_0034524"),
        ("image,MEL,NV\nISIC_0034524,0,1\n", "ISIC layout without column(s) BCC"),
        ("image_id,dx\nISIC_0034524,melanoma\n", "line 2: unknown dx 'melanoma' for ISIC_0034524"),
        ("image_id,dx\nISIC_0034524,nv\nISIC_0034524,nv\n", "line 3: image ISIC_0034524 listed twice"),
        ("image_id,dx\nISIC_0099999,nv\n", "image ISIC_0099999 (labels.csv line 2) not found"),
        ("image_id,dx\n,nv\n", "line 2: empty image id"),
        ("name,label\nx,nv\n", "expected columns image,MEL,NV,BCC,AKIEC,BKL,DF,VASC"),
        ("image_id,dx\n", "no rows"),
    ],
)
def test_bad_labels_are_one_line_naming_file_and_line(tmp_path: Path, images: Path, text: str, fragment: str) -> None:
    with pytest.raises(DataError) as err:
        read_external_labels(_csv(tmp_path, text), images)
    message = str(err.value)
    assert fragment in message and "\n" not in message and "labels.csv" in message


def test_sensitivity_at_specificity_interpolates_the_roc_curve() -> None:
    fpr, tpr = np.array([0.0, 0.1, 0.1, 0.3, 1.0]), np.array([0.0, 0.2, 0.6, 0.8, 1.0])
    assert sensitivity_at_specificity(fpr, tpr, 0.9) == pytest.approx(0.6)  # vertical at FPR 0.1: the top
    assert sensitivity_at_specificity(fpr, tpr, 0.8) == pytest.approx(0.7)  # halfway from (0.1, .6) to (0.3, .8)
    assert sensitivity_at_specificity(fpr, tpr, 0.0) == 1.0


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_evaluate_on_an_external_set_writes_beside_the_run_and_into_the_report(
    trained_run: Path, synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    own = {name: _digest(run / name) for name in ("metrics.json", "predictions.csv")}
    split = pd.read_csv(run / "split.csv")
    test = split[split["split"] == "test"].merge(load_metadata(synthetic_root)[["image_id", "path"]], on="image_id")
    folder = tmp_path / "external"
    folder.mkdir()
    for path in test["path"]:
        shutil.copy(path, folder)
    one_hot = pd.DataFrame({"image": test["image_id"]})
    for column, dx in ISIC2018_COLUMNS.items():
        one_hot[column] = (test["dx"] == dx).astype(float)
    one_hot.to_csv(tmp_path / "gt.csv", index=False)
    test[["image_id", "dx"]].to_csv(tmp_path / "plain.csv", index=False)

    assert (
        cli(["evaluate", str(run), "--images", str(folder), "--labels", str(tmp_path / "gt.csv"), "--name", "isic"])
        == 0
    )
    assert "on isic: test accuracy" in capsys.readouterr().out
    assert cli(["evaluate", str(run), "--images", str(folder), "--labels", str(tmp_path / "plain.csv")]) == 0
    capsys.readouterr()
    assert {name: _digest(run / name) for name in own} == own  # the run's own files untouched

    reference = json.loads((run / "metrics.json").read_text())
    for name, layout in (("isic", "isic2018"), ("external", "image_id,dx")):
        metrics = json.loads((run / "external" / name / "metrics.json").read_text())
        assert metrics["split"] == "external" and metrics["layout"] == layout and metrics["n"] == reference["n"]
        # the same images, labels and weights as the test split: the same numbers
        assert metrics["confusion_matrix"] == reference["confusion_matrix"]
        assert metrics["melanoma"]["auroc"] == pytest.approx(reference["melanoma"]["auroc"], abs=1e-9)
        assert metrics["image_sizes"] == {"200x150": reference["n"]} and "stretched" in metrics["resize_rule"]
        assert len(pd.read_csv(run / "external" / name / "predictions.csv")) == reference["n"]

    result = build_report([run], tmp_path / "report", speed=None)
    table = result.frames["external"]
    assert table["set"].tolist() == ["external", "isic"] and "mel_sens_spec90" in table
    assert "## External test sets" in result.markdown.read_text()


def test_external_usage_errors_are_one_line(trained_run: Path, tmp_path: Path, capsys, images: Path) -> None:
    csv = _csv(tmp_path, "image_id,dx\nISIC_0034524,nv\n")
    for argv, fragment in [
        (["evaluate", str(trained_run), "--images", str(images)], "--images and --labels go together"),
        (
            ["evaluate", str(trained_run), "--labels", str(csv), "--images", str(images), "--name", "../x"],
            "bad external",
        ),
        (["evaluate", str(trained_run), "--labels", str(csv), "--images", str(tmp_path / "none")], "images folder"),
    ]:
        assert cli(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and fragment in err, err
    assert not (trained_run / "external").exists()
