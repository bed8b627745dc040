"""Pareto fronts on hand-made points: dominance, ties, duplicates, NaN; the front table and plot."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from skinbench.reports.pareto import COSTS, SCORES, front_table, pareto_front, plot_fronts

nan = math.nan


@pytest.mark.parametrize(
    ("costs", "scores", "front"),
    [
        ([1, 2, 3, 4], [0.5, 0.7, 0.6, 0.9], [0, 1, 3]),  # (3, .6) dominated by (2, .7)
        ([4, 3, 2, 1], [0.9, 0.6, 0.7, 0.5], [0, 2, 3]),  # order of the input does not matter
        ([1, 2, 3], [0.9, 0.8, 0.7], [0]),  # the cheapest is also the best
        ([1, 2, 3], [0.1, 0.2, 0.3], [0, 1, 2]),  # a strict trade-off: all on the front
        ([1, 1, 2], [0.5, 0.5, 0.4], [0, 1]),  # exact duplicates both stay
        ([2, 2, 2], [0.5, 0.5, 0.5], [0, 1, 2]),  # all identical
        ([1, 1], [0.4, 0.5], [1]),  # same cost: the higher score wins
        ([1, 2], [0.5, 0.5], [0]),  # same score: the lower cost wins
        ([1, 2, 2], [0.5, 0.7, 0.7], [0, 1, 2]),  # duplicates on the front
        ([1, 3, 3], [0.9, 0.7, 0.7], [0]),  # dominated duplicates both go
        ([5], [0.1], [0]),  # one point
        ([], [], []),
        ([nan, 1, 2], [0.9, 0.5, nan], [1]),  # NaN points are never on the front
    ],
)
def test_front_on_hand_made_points(costs: list, scores: list, front: list) -> None:
    assert pareto_front(costs, scores) == front


def test_front_agrees_with_brute_force_definition() -> None:
    import random

    rng = random.Random(0)
    for _ in range(50):
        pts = [(rng.randint(1, 5), rng.randint(1, 5) / 5) for _ in range(rng.randint(1, 9))]
        c, s = zip(*pts)
        expected = [
            i
            for i, (ci, si) in enumerate(pts)
            if not any(cj <= ci and sj >= si and (cj, sj) != (ci, si) for cj, sj in pts)
        ]
        assert pareto_front(list(c), list(s)) == expected


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 costs but 1 scores"):
        pareto_front([1, 2], [0.5])


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": ["cnn", "r50", "mob", "dup"],
            "accuracy": [0.80, 0.85, 0.82, 0.82],
            "balanced_accuracy": [0.5, 0.4, 0.6, 0.6],
            "f1_macro": [0.4, 0.5, 0.45, 0.45],
            "macs": [500, 4000, 60, 60],
            "params": [25e6, 24e6, 2e6, 2e6],
            "latency_ms": [1.0, 9.0, 2.0, 2.0],
        }
    )


def test_front_table_lists_each_front_by_increasing_cost() -> None:
    t = front_table(_frame())
    assert set(zip(t["score"], t["cost"])) == {(s, c) for s in SCORES for c in COSTS}
    macs_acc = t[(t["score"] == "accuracy") & (t["cost"] == "macs")]
    assert macs_acc["run"].tolist() == ["mob", "dup", "r50"] and macs_acc["rank"].tolist() == [1, 2, 3]
    lat_bal = t[(t["score"] == "balanced_accuracy") & (t["cost"] == "latency_ms")]
    assert lat_bal["run"].tolist() == ["cnn", "mob", "dup"]
    assert front_table(_frame().drop(columns="latency_ms"))["cost"].nunique() == 2


def test_plot_fronts_writes_png_and_svg(tmp_path) -> None:
    paths = plot_fronts(_frame(), "macs", tmp_path / "pareto_macs")
    assert [p.name for p in paths] == ["pareto_macs.png", "pareto_macs.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[1].read_text()
    assert "<svg" in svg and "r50" in svg and "log" in svg  # labelled points, log axis label
