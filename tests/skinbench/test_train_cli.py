"""``skinbench train`` / ``skinbench evaluate``: one-line errors, the pretrained switch, a tiny run."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest

from skinbench.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make torchvision's weight download fail as it does offline; record the URLs tried."""
    tried: list[str] = []

    def fail(url: str, *args, **kwargs):
        tried.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", fail)
    return tried


def _error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("skinbench"), captured.err
    assert ": error: " in captured.err
    return captured.err


FAST = ["--image-size", "16", "--epochs", "1", "--batch-size", "64", "--no-progress"]


def test_unknown_model_is_one_line(synthetic_root: Path, tmp_path: Path, capsys) -> None:
    err = _error_line(
        capsys, ["train", "--data", str(synthetic_root), "--model", "resnet5", "--out", str(tmp_path / "run"), *FAST]
    )
    assert "unknown model 'resnet5'" in err and "resnet50" in err


def test_missing_data_folder_is_one_line(tmp_path: Path, capsys) -> None:
    err = _error_line(
        capsys,
        ["train", "--data", str(tmp_path / "nowhere"), "--model", "custom_cnn", "--out", str(tmp_path / "run"), *FAST],
    )
    assert "data folder not found" in err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--data", "d", "--model", "custom_cnn", "--out", "r", "--bogus"], "unrecognized arguments"),
        (["train", "--data", "d", "--model", "custom_cnn", "--out", "r", "--epochs", "many"], "invalid int value"),
        (["train", "--data", "d", "--model", "custom_cnn", "--out", "r", "--task", "cancer"], "invalid choice"),
        (["train", "--data", "d", "--out", "r"], "--model"),
        (["evaluate"], "run"),
    ],
)
def test_bad_flags_are_one_line(capsys, argv: list[str], fragment: str) -> None:
    assert fragment in _error_line(capsys, argv)


def test_pretrained_unavailable_without_flag_is_one_line_error(
    synthetic_root: Path, tmp_path: Path, capsys, no_network: list[str]
) -> None:
    err = _error_line(
        capsys,
        ["train", "--data", str(synthetic_root), "--model", "resnet50_tl", "--out", str(tmp_path / "run"), *FAST],
    )
    assert "ImageNet weights for resnet50" in err and "--no-pretrained" in err
    assert no_network and not (tmp_path / "run").exists()


def test_no_pretrained_trains_from_random_init_with_notice_then_evaluates(
    synthetic_root: Path, tmp_path: Path, capsys, no_network: list[str]
) -> None:
    run = tmp_path / "run"
    argv = [
        "train",
        "--data",
        str(synthetic_root),
        "--model",
        "mobilenet_v3_small",
        "--out",
        str(run),
        "--no-pretrained",
        *FAST,
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    notices = [line for line in captured.err.splitlines() if "notice" in line]
    assert len(notices) == 1 and "random initialisation" in notices[0]
    assert "test accuracy" in captured.out
    assert no_network == []  # --no-pretrained does not even try the download
    config = json.loads((run / "config.json").read_text())
    assert config["pretrained"] is False and config["model"] == "mobilenet_v3_small"

    before = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").unlink()
    assert main(["evaluate", str(run)]) == 0
    after = json.loads((run / "metrics.json").read_text())
    assert after["accuracy"] == before["accuracy"] and after["confusion_matrix"] == before["confusion_matrix"]
    assert "balanced accuracy" in capsys.readouterr().out

    # A resumed run that is already complete only re-evaluates; changed settings are refused.
    assert main([*argv, "--resume"]) == 0
    assert "resuming" in capsys.readouterr().err
    assert "lr" in _error_line(capsys, [*argv, "--resume", "--lr", "0.5"])


def test_evaluate_on_a_non_run_folder_is_one_line(tmp_path: Path, capsys) -> None:
    assert "not a skinbench run folder" in _error_line(capsys, ["evaluate", str(tmp_path)])
