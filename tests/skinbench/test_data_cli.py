"""``skinbench split`` and ``skinbench synth``: outputs and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from skinbench.cli import main


def _one_line_error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        code = main(argv)
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("skinbench"), err
    return err


def test_split_writes_then_reuses_csv(synthetic_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "split.csv"
    assert main(["split", "--data", str(synthetic_root), "--out", str(out), "--seed", "3"]) == 0
    assert "wrote" in capsys.readouterr().out
    split = pd.read_csv(out)
    assert list(split.columns) == ["image_id", "lesion_id", "dx", "split"]
    assert set(split["split"]) == {"train", "val", "test"}
    assert (split.groupby("lesion_id")["split"].nunique() == 1).all()
    before = out.read_bytes()
    assert main(["split", "--data", str(synthetic_root), "--out", str(out), "--seed", "4"]) == 0
    assert "reused" in capsys.readouterr().out and out.read_bytes() == before
    assert main(["split", "--data", str(synthetic_root), "--out", str(out), "--seed", "4", "--force"]) == 0
    assert out.read_bytes() != before


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["split", "--data", "{tmp}/missing", "--out", "{tmp}/s.csv"], "data folder not found"),
        (["split", "--data", "{tmp}", "--out", "{tmp}/s.csv", "--bogus"], "unrecognized arguments: --bogus"),
        (["split", "--out", "{tmp}/s.csv"], "required: --data"),
        (["split", "--data", "{tmp}", "--out", "{tmp}/s.csv", "--fractions", "0.5", "x", "0.5"], "invalid float"),
        (["synth", "--out", "{tmp}/syn", "--n", "2"], "at least 7"),
        (["synth", "--out", "{tmp}/syn", "--n", "many"], "invalid int value"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, capsys, argv: list[str], fragment: str) -> None:
    err = _one_line_error(capsys, [a.format(tmp=tmp_path) for a in argv])
    assert fragment in err


def test_split_bad_fractions_is_one_line(synthetic_root: Path, tmp_path: Path, capsys) -> None:
    argv = [
        "split",
        "--data",
        str(synthetic_root),
        "--out",
        str(tmp_path / "s.csv"),
        "--fractions",
        "0.5",
        "0.5",
        "0.5",
    ]
    assert "split fractions" in _one_line_error(capsys, argv)
    assert not (tmp_path / "s.csv").exists()


def test_synth_then_split(tmp_path: Path, capsys) -> None:
    data = tmp_path / "syn"
    assert main(["synth", "--out", str(data), "--n", "30", "--size", "40", "30", "--seed", "1"]) == 0
    assert (data / "HAM10000_metadata.csv").is_file()
    assert len(list(data.glob("HAM10000_images_part_*/*.jpg"))) == 30
    assert main(["split", "--data", str(data), "--out", str(tmp_path / "s.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "s.csv")) == 30
