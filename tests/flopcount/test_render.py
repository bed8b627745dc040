"""Renderers: golden text table, markdown/LaTeX/CSV/DataFrame/JSON from the same records.

Run ``pytest --update-golden`` to rewrite the golden files after an intended change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.zoo import PaperCNN
from flopcount import profile

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def table2():
    return profile(PaperCNN(), input_shape=(1, 3, 224, 224))


def _check_golden(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: run pytest --update-golden"
    assert text == path.read_text(), f"{name} changed: if intended, run pytest --update-golden"


def test_text_table_golden(table2, update_golden):
    _check_golden("paper_cnn_table.txt", str(table2) + "\n", update_golden)


def test_text_by_module_golden(table2, update_golden):
    _check_golden("paper_cnn_depth1.txt", table2.to_text(depth=1) + "\n", update_golden)


def test_markdown_golden(table2, update_golden):
    _check_golden("paper_cnn_table.md", table2.to_markdown(), update_golden)


def test_latex(table2):
    latex = table2.to_latex()
    assert latex.startswith("\\begin{tabular}") and "25,690,368" in latex and "\\bottomrule" in latex


def test_dataframe_and_csv_hold_the_same_numbers(table2):
    frame = table2.to_dataframe()
    assert list(frame.columns[:8]) == [
        "name",
        "type",
        "family",
        "input_shapes",
        "output_shape",
        "params",
        "macs",
        "flops",
    ]
    assert frame["params"].sum() == table2.total_params
    assert frame["macs"].sum() == table2.total_macs
    csv_lines = table2.to_csv().splitlines()
    assert len(csv_lines) == len(table2.layers) + 1


def test_json_schema(table2):
    data = json.loads(table2.to_json())
    assert data["schema"] == "flopcount.profile/1"
    assert set(data) >= {"model", "convention", "capture", "inputs", "totals", "coverage", "uncounted", "layers"}
    assert data["totals"]["params"] == 25_785_415
    assert data["totals"]["macs"] == table2.total_macs
    assert data["capture"] == {"method": "fx", "reason": None, "real_forward": False}
    assert data["layers"][0] == {
        "name": "features.0",
        "type": "Conv2d",
        "family": "conv",
        "input_shapes": [[1, 3, 224, 224]],
        "output_shape": [1, 32, 224, 224],
        "params": 896,
        "macs": 43_352_064,
        "flops": 88_309_760,
        "activation_bytes": 32 * 224 * 224 * 4,
        "node": "features_0",
        "counted": True,
        "dtype": "float32",
        "note": "",
    }


def test_by_module_and_by_op(table2):
    top = table2.by_module(depth=1)
    assert [(a.name, a.params) for a in top] == [("features", 93_248), ("classifier", 25_692_167)]
    assert table2.by_module(depth=0)[0].macs == table2.total_macs
    ops = table2.by_op()
    assert ops[0].name == "Conv2d" and ops[0].calls == 3
    with pytest.raises(ValueError, match="depth must be >= 0"):
        table2.by_module(-1)


def test_conventions_reuse_the_same_capture(table2):
    tv = table2.using("torchvision")
    assert tv.total_macs == table2.total_macs and tv.total_flops == 2 * tv.total_macs
    assert tv.using("flopcount").layers == table2.layers
    with pytest.raises(ValueError, match="unknown convention"):
        table2.using("nope")
