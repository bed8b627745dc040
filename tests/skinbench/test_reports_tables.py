"""Tables III and IV, the deviation formulas and table, and the md/tex/csv/json writer."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from flopcount import profile
from skinbench.cost import count
from skinbench.models import build_model
from skinbench.reports.deviation import (
    ZERO_BASELINE_NOTE,
    ZeroBaselineError,
    deviation,
    point_difference,
    relative_change,
)
from skinbench.reports.paper import PAPER, TABLE3
from skinbench.reports.tables import REPORTED_ONLY, deviation_table, table3, table4, write_table


@pytest.fixture(scope="module")
def paper_counts() -> dict:
    return {m: count(m, image_size=224) for m in ("custom_cnn", "resnet50_tl")}


def _params(name: str) -> int:
    with torch.device("meta"):
        model = build_model(name, 7, pretrained=False, image_size=224)
    return profile(model, input_shape=(1, 3, 224, 224)).total_params


# ---------------------------------------------------------------------------- formulas
@pytest.mark.parametrize(
    ("value", "base", "expected"),
    [(150, 100, 50.0), (50, 100, -50.0), (100, 100, 0.0), (-1, -2, 50.0), (3, -2, 250.0), (7, 1, 600.0)],
)
def test_relative_change_by_hand(value: float, base: float, expected: float) -> None:
    assert relative_change(value, base) == pytest.approx(expected)


def test_relative_change_zero_baseline_raises_or_flags() -> None:
    with pytest.raises(ZeroBaselineError, match="zero baseline"):
        relative_change(3, 0)
    with pytest.raises(ZeroDivisionError):  # ZeroBaselineError is one
        relative_change(0, 0)
    assert math.isnan(relative_change(3, 0, on_zero="nan"))
    d = deviation(3, 0)
    assert d.absolute == 3 and math.isnan(d.relative_pct) and d.note == ZERO_BASELINE_NOTE
    assert deviation(2, 4) == (-2, -50.0, "")
    with pytest.raises(ValueError, match="on_zero"):
        relative_change(1, 0, on_zero="ignore")


def test_paper_arithmetic() -> None:
    assert relative_change(4.00e9, 30.04e6) == pytest.approx((4.00e9 - 30.04e6) / 30.04e6 * 100)
    assert round(relative_change(4.00e9, 30.04e6), 2) == 13215.58  # the paper prints 13,216.76
    assert point_difference(89.08, 87.05) == pytest.approx(2.03)
    assert relative_change(89.08, 87.05) == pytest.approx(2.03 / 87.05 * 100)  # 2.33 %, not 0.022 %


# ---------------------------------------------------------------------------- Table III
def test_table3_recomputes_buildable_models_with_flopcount(paper_counts: dict) -> None:
    t = table3(["resnet18", "custom_cnn"], counts=paper_counts).set_index("model")
    assert len(t) == len(TABLE3) + 1  # custom_cnn is not listed twice
    cnn, tl = t.loc["Custom CNN Implementation"], t.loc["Baseline: ResNet50 + TL"]
    assert cnn["recomputed"] == _params("custom_cnn") == 25_785_415
    assert cnn["reported"] == 692_807 and cnn["abs_deviation"] == 25_785_415 - 692_807
    assert cnn["rel_deviation_pct"] == pytest.approx((25_785_415 - 692_807) / 692_807 * 100)
    assert tl["recomputed"] == _params("resnet50_tl") and tl["reported"] == 23_661_703
    assert tl["abs_deviation"] == tl["recomputed"] - 23_661_703
    assert t.loc["resnet18", "recomputed"] == _params("resnet18") and pd.isna(t.loc["resnet18", "reported"])
    assert t.loc["resnet18", "status"] == "not in the paper"


def test_table3_keeps_unbuildable_models_as_reported(paper_counts: dict) -> None:
    t = table3(counts=paper_counts).set_index("model")
    for name, reported, ours in TABLE3:
        assert t.loc[name, "reported"] == reported
        if ours is None:
            assert t.loc[name, "status"] == REPORTED_ONLY and pd.isna(t.loc[name, "recomputed"])
            assert pd.isna(t.loc[name, "abs_deviation"]) and math.isnan(t.loc[name, "rel_deviation_pct"])
    assert t.loc["MobileNet", "reported"] == 4_253_864 and "VGG16 + SA" in t.index


# ---------------------------------------------------------------------------- Table IV
def test_table4_costs_and_deviation_row(paper_counts: dict) -> None:
    cnn, tl = paper_counts["custom_cnn"], paper_counts["resnet50_tl"]
    t = table4(cnn=cnn, tl=tl, acc_cnn=80.0, acc_tl=84.0, cnn_note="run a", tl_note="run b")
    rows = {(q, u.split(" ")[0]): r for (q, u), r in zip(zip(t["quantity"], t["unit"]), t.to_dict("records"))}
    assert rows[("Custom CNN cost", "MACs")]["ours"] == 531_465_984 == cnn.macs_paper
    assert rows[("Custom CNN cost", "MACs")]["paper_printed"] == 30.04e6
    assert (
        rows[("ResNet50 + TL cost", "MACs")]["ours"] == tl.macs_paper and rows[("ResNet50 + TL cost", "MACs")]["flag"]
    )
    assert rows[("Custom CNN FLOPs", "FLOPs")]["ours"] == cnn.flops
    inc = t[(t["quantity"] == "Cost increase of TL over CNN") & t["unit"].str.contains("MACs")].iloc[0]
    inc_flops = t[(t["quantity"] == "Cost increase of TL over CNN") & t["unit"].str.contains("FLOPs")].iloc[0]
    assert inc_flops["ours"] == pytest.approx((tl.flops - cnn.flops) / cnn.flops * 100)
    assert inc["ours"] == pytest.approx((tl.macs_paper - cnn.macs_paper) / cnn.macs_paper * 100)
    assert inc["paper_printed"] == PAPER["flops_increase_pct"]
    assert inc["paper_recomputed"] == pytest.approx((4.00e9 - 30.04e6) / 30.04e6 * 100) and inc["flag"]
    pp = rows[("Accuracy difference TL - CNN", "percentage")]
    assert pp["ours"] == pytest.approx(4.0) and pp["paper_recomputed"] == pytest.approx(2.03)
    assert pp["paper_printed"] == 0.022 and pp["flag"] and "2.03 percentage points" in pp["explanation"]
    rel = rows[("Accuracy difference TL vs CNN", "%")]
    assert rel["ours"] == pytest.approx(5.0) and rel["paper_recomputed"] == pytest.approx(2.03 / 87.05 * 100)
    assert (
        rows[("Custom CNN accuracy", "%")]["ours"] == 80.0
        and "Ours: run a." in rows[("Custom CNN accuracy", "%")]["explanation"]
    )
    assert "Ours: run b." in rows[("ResNet50 + TL accuracy", "%")]["explanation"]
    assert all(isinstance(e, str) and e and "\n" not in e for e in t["explanation"])
    assert all(t.loc[t["flag"], "explanation"].str.len() > 20)


def test_table4_without_runs_has_nan_accuracy(paper_counts: dict) -> None:
    t = table4(cnn=paper_counts["custom_cnn"], tl=paper_counts["resnet50_tl"])
    acc = t[t["unit"] == "%"]
    assert acc["ours"].isna().all() and acc["paper_printed"].tolist() == [87.05, 89.08]


# ---------------------------------------------------------------------------- deviation table
def test_deviation_table_by_hand_with_zero_baseline() -> None:
    f = pd.DataFrame(
        {
            "run": ["base", "x"],
            "accuracy": [0.80, 0.84],
            "macs": [100, 250],
            "latency_ms": [0.0, 2.0],
            "params": [10, None],
        }
    )
    t = deviation_table(f, "base").set_index(["run", "metric"])
    acc = t.loc[("x", "accuracy (%)")]
    assert acc["value"] == pytest.approx(84) and acc["abs_deviation"] == pytest.approx(4)  # pp
    assert acc["rel_deviation_pct"] == pytest.approx(5.0)
    assert t.loc[("x", "MACs"), "rel_deviation_pct"] == 150.0
    lat = t.loc[("x", "latency (ms)")]
    assert lat["abs_deviation"] == 2.0 and math.isnan(lat["rel_deviation_pct"]) and lat["note"] == ZERO_BASELINE_NOTE
    assert ("x", "parameters") not in t.index  # missing value: no row
    assert (t.loc["base", "abs_deviation"] == 0).all()
    with pytest.raises(KeyError, match="nope"):
        deviation_table(f, "nope")


# ---------------------------------------------------------------------------- writer
def test_every_format_holds_the_same_numbers(tmp_path) -> None:
    f = pd.DataFrame({"model": ["a", "b"], "params": [25_785_415, 12], "acc": [0.123456, math.nan]})
    paths = write_table(f, tmp_path, "t")
    assert sorted(p.name for p in paths.values()) == ["t.csv", "t.json", "t.md", "t.tex"]
    assert pd.read_csv(paths["csv"]).equals(f)
    assert json.loads(paths["json"].read_text()) == [
        {"model": "a", "params": 25_785_415, "acc": 0.123456},
        {"model": "b", "params": 12, "acc": None},
    ]
    md, tex = paths["md"].read_text(), paths["tex"].read_text()
    assert "25,785,415" in md and "25,785,415" in tex and "0.1235" in md and "0.1235" in tex
    assert md.startswith("| model") and "\\toprule" in tex
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporary files
