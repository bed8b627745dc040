"""The examples: reproduce_tables (no data), reproduce_paper end to end (tiny), make demo's data choice."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str):
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_reproduce_tables_prints_and_writes_paper_values(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _load("reproduce_tables").main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for text in (
        "25,785,415",
        "692,807",
        "23,661,703",
        "531,465,984",
        "13,216.76",
        "13,215.58",
        "669.13",
        "reported, not recomputed",
    ):
        assert text in out
    t3 = {r["model"]: r for r in json.loads((tmp_path / "table3.json").read_text())}
    assert t3["Custom CNN Implementation"]["recomputed"] == 25_785_415
    assert {p.name for p in tmp_path.iterdir()} == {
        f"table{n}.{f}" for n in (3, 4) for f in ("md", "tex", "csv", "json")
    }


@pytest.mark.slow
def test_reproduce_paper_end_to_end_on_synthetic_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    before = torch.get_num_threads()
    args = [
        "--out",
        str(tmp_path),
        "--models",
        "custom_cnn",
        "resnet18",
        "--n",
        "140",
        "--synthetic-size",
        "48",
        "36",
        "--image-size",
        "16",
        "--epochs",
        "1",
        "--head-epochs",
        "1",
        "--no-speed",
    ]
    try:
        assert _load("reproduce_paper").main(args) == 0
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert "report: " in out and str(tmp_path / "report" / "report.md") in out
    assert (tmp_path / "data" / "HAM10000_metadata.csv").is_file()
    for model in ("custom_cnn", "resnet18"):
        assert (tmp_path / "runs" / model / "metrics.json").is_file()
        assert (tmp_path / "report" / "figures" / model / "roc.svg").is_file()
    assert "python examples/reproduce_paper.py --out" in (tmp_path / "report" / "report.md").read_text()


def test_demo_uses_real_data_only_when_the_user_sets_it() -> None:
    demo = _load("demo")
    assert "--data" not in demo.demo_args({}) and "--data" not in demo.demo_args({"SKINBENCH_DATA": ""})
    args = demo.demo_args({"SKINBENCH_DATA": "/data/ham"})
    assert args[args.index("--data") + 1] == "/data/ham"
    makefile = (EXAMPLES.parent / "Makefile").read_text()
    assert "SKINBENCH_DATA ?=" not in makefile and "export SKINBENCH_DATA" not in makefile
