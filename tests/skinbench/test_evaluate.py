"""Test-split metrics: values on hand-checked examples, ROC storage, JSON safety."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skinbench.evaluate import compute_metrics


def _onehot_probs(pred: list[int], k: int, confidence: float = 0.8) -> np.ndarray:
    probs = np.full((len(pred), k), (1 - confidence) / (k - 1))
    probs[np.arange(len(pred)), pred] = confidence
    return probs


def test_values_on_a_hand_checked_example() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    m = compute_metrics(y, _onehot_probs([0, 1, 1, 1, 2, 0], 3), ["a", "b", "c"], baseline_label=1)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert [m["per_class"][c]["precision"] for c in "abc"] == pytest.approx([1 / 2, 2 / 3, 1])
    assert [m["per_class"][c]["recall"] for c in "abc"] == pytest.approx([1 / 2, 1, 1 / 2])
    assert [m["per_class"][c]["f1"] for c in "abc"] == pytest.approx([1 / 2, 4 / 5, 2 / 3])
    assert [m["per_class"][c]["support"] for c in "abc"] == [2, 2, 2]
    assert m["f1"]["macro"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert m["f1"]["weighted"] == pytest.approx(m["f1"]["macro"])  # equal supports
    assert m["recall"]["macro"] == pytest.approx(m["balanced_accuracy"])
    assert m["baseline"] == {"class": "b", "accuracy": pytest.approx(1 / 3), "balanced_accuracy": pytest.approx(1 / 3)}


def test_roc_curves_and_auc() -> None:
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
    m = compute_metrics(y, probs, ["neg", "pos"])
    roc = m["roc"]["pos"]
    assert roc["fpr"][0] == 0 and roc["tpr"][0] == 0 and roc["fpr"][-1] == 1 and roc["tpr"][-1] == 1
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    # Positive scores 0.3, 0.8 vs negative 0.1, 0.4: 3 of 4 pairs ranked right.
    assert m["per_class"]["pos"]["auc"] == pytest.approx(0.75) == roc["auc"]
    assert m["auc_macro"] == pytest.approx(0.75)


def test_class_absent_from_test_split_has_null_auc_and_json_is_strict() -> None:
    y = np.array([0, 1, 0, 1])
    m = compute_metrics(y, _onehot_probs([0, 1, 1, 1], 3), ["a", "b", "c"])
    assert m["per_class"]["c"]["auc"] is None and m["roc"]["c"] == {"fpr": [], "tpr": [], "auc": None}
    assert m["per_class"]["c"]["support"] == 0
    assert m["auc_macro"] == pytest.approx(np.mean([m["per_class"]["a"]["auc"], m["per_class"]["b"]["auc"]]))
    json.dumps(m, allow_nan=False)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(np.array([0, 1]), np.ones((2, 3)) / 3, ["a", "b"])
