"""The study's report: two sweep folders (strong and paper recipes), seeds, Table IV per recipe, exports.

Every run folder is fabricated (config.json from :class:`TrainConfig`, a fixed
history.csv, metrics.json from seeded probabilities, export records with a stand-in
file), so nothing trains; speed is not measured. The study itself is
``skinbench report runs/study/strong runs/study/paper --out docs/skinbench/study``
(docs/skinbench/study.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from skinbench.config import TrainConfig
from skinbench.data import CLASSES
from skinbench.evaluate import SCHEMA_VERSION, compute_metrics
from skinbench.reports import pareto
from skinbench.reports.aggregate import seed_table
from skinbench.reports.deployment import melanoma_recall
from skinbench.reports.paper import PAPER
from skinbench.reports.report import build_report
from skinbench.reports.runs import RunRecord, load_runs
from skinbench.reports.table4_recipes import table4_by_recipe

MEL, NV = CLASSES.index("mel"), CLASSES.index("nv")
SIZE = 16
HISTORY = pd.DataFrame(
    {
        "epoch": [1, 2],
        "phase": ["full", "full"],
        "train_loss": [1.5, 1.2],
        "train_acc": [0.5, 0.6],
        "val_loss": [1.4, 1.3],
        "val_acc": [0.55, 0.6],
        "val_balanced_acc": [0.3, 0.35],
        "lr": [1e-3, 1e-3],
        "seconds": [2.0, 2.0],
    }
)


def _probabilities(seed: int, *, collapsed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels and class probabilities: better than chance (a seed-dependent amount), or always nv."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), 70)
    probs = rng.dirichlet(np.ones(len(CLASSES)), len(y))
    if collapsed:
        probs[:, NV] += 2.0
    else:
        probs[np.arange(len(y)), y] += rng.uniform(0.0, 0.3 + 0.05 * (seed % 5), len(y))
    return y, probs / probs.sum(axis=1, keepdims=True)


def _write_run(path: Path, model: str, recipe: str, seed: int, *, collapsed: bool = False) -> dict[str, Any]:
    """A finished run folder (no checkpoints); returns its metrics."""
    path.mkdir(parents=True)
    config = TrainConfig(
        data="/data/ham10000",
        out=str(path),
        model=model,
        recipe=recipe,
        seed=seed,
        image_size=SIZE,
        epochs=2,
        pretrained=False,
        device="cpu",
        mean=[0.7, 0.5, 0.5],
        std=[0.1, 0.1, 0.1],
    )
    (path / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    HISTORY.to_csv(path / "history.csv", index=False)
    y, probs = _probabilities(100 * seed + len(model) + len(recipe), collapsed=collapsed)
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "run": path.name,
        "model": model,
        "task": "dx",
        "image_size": SIZE,
        "checkpoint": "best.pt",
        "epoch": 2,
        "split": "test",
        **compute_metrics(y, probs, CLASSES, baseline_label=NV),
        "params": 1,
        "timings": {"train_seconds": 4.0},
    }
    (path / "metrics.json").write_text(json.dumps(metrics) + "\n")
    return metrics


def _write_export(run: Path, variant: str, *, collapsed: bool = False) -> None:
    """An export record as ``skinbench export`` writes it, with a stand-in model file."""
    y, probs = _probabilities(7, collapsed=collapsed)
    m = compute_metrics(y, probs, CLASSES)
    test = {k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "auc_macro", "melanoma", "confusion_matrix")}
    int8 = variant.endswith("int8")
    (run / "export").mkdir(exist_ok=True)
    size = 1000 if int8 else 4000
    (run / "export" / f"{variant}.onnx").write_bytes(b"\0" * size)
    record = {
        "variant": variant,
        "format": "onnx",
        "precision": "int8" if int8 else "fp32",
        "file": f"{variant}.onnx",
        "classes": list(CLASSES),
        "preprocessing": {"image_size": SIZE},
        "test": {**test, "f1_macro": m["f1"]["macro"]},
        "test_pytorch": {"accuracy": 0.5},
        "parity": {"max_abs_diff": 0.01, "argmax_agreement": 0.95 if int8 else 1.0},
        "size_bytes": size,
    }
    (run / "export" / f"{variant}.json").write_text(json.dumps(record))


#: (recipe, model, seed, collapsed): seed 1 of the strong resnet50 is missing (not finished).
STUDY = [
    ("strong", "custom_cnn", 0, False),
    ("strong", "custom_cnn", 1, False),
    ("strong", "custom_cnn", 2, False),
    ("strong", "resnet50", 0, False),
    ("strong", "resnet50", 2, False),
    ("paper", "custom_cnn", 0, False),
    ("paper", "custom_cnn", 1, False),
    ("paper", "resnet50", 0, True),
]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two sweep folders, exports in three runs, and the report of both (made once)."""
    root = tmp_path_factory.mktemp("study")
    metrics = {}
    for recipe, model, seed, collapsed in STUDY:
        name = f"{model}-{SIZE}px-seed{seed}"
        metrics[recipe, model, seed] = _write_run(root / recipe / name, model, recipe, seed, collapsed=collapsed)
    (root / "strong" / "custom_cnn-16px-seed3").mkdir()  # a run still training: config.json, no metrics.json
    (root / "strong" / "custom_cnn-16px-seed3" / "config.json").write_text("{}")
    for recipe, seed in (("strong", 0), ("strong", 1), ("paper", 0)):
        _write_export(root / recipe / f"custom_cnn-16px-seed{seed}", "onnx_fp32")
        _write_export(root / recipe / f"custom_cnn-16px-seed{seed}", "onnx_int8", collapsed=seed == 1)
    plotted: list[pd.DataFrame] = []
    original = pareto.plot_fronts

    def spy(frame: pd.DataFrame, cost: str, out_stem: Path, **kwargs: Any) -> list[Path]:
        plotted.append(frame.copy())
        return original(frame, cost, out_stem, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pareto, "plot_fronts", spy)
        result = build_report([root / "strong", root / "paper"], root / "report", speed=None)
    return {"root": root, "metrics": metrics, "result": result, "plotted": plotted}


def _acc(study: dict[str, Any], recipe: str, model: str, seeds: list[int]) -> list[float]:
    return [study["metrics"][recipe, model, s]["accuracy"] * 100 for s in seeds]


def test_runs_of_two_sweeps_are_named_by_their_sweep(study: dict[str, Any]) -> None:
    runs = study["result"].frames["runs"]["run"].tolist()
    assert runs[:3] == [f"strong/custom_cnn-16px-seed{s}" for s in (0, 1, 2)]  # seed3 is unfinished: left out
    assert "paper/custom_cnn-16px-seed0" in runs and "strong/resnet50-16px-seed2" in runs  # every run says its sweep
    assert (study["root"] / "report" / "figures" / "paper" / "custom_cnn-16px-seed0" / "roc.png").is_file()
    unfinished = study["root"] / "strong" / "custom_cnn-16px-seed3"
    assert (
        f"Left out, not finished yet (no `metrics.json`): `{unfinished}`."
        in (study["root"] / "report" / "report.md").read_text()
    )


def test_seed_groups_mean_std_and_melanoma_recall(study: dict[str, Any]) -> None:
    seeds = study["result"].frames["seeds"].set_index("group")
    assert seeds.index.tolist() == [
        "custom_cnn-16px-strong",
        "resnet50-16px-strong",
        "custom_cnn-16px-paper",
        "resnet50-16px-paper",
    ]
    cnn = seeds.loc["custom_cnn-16px-strong"]
    assert (cnn["recipe"], cnn["n_seeds"], cnn["seeds"]) == ("strong", 3, "0, 1, 2")
    for score, key in (
        ("accuracy", "accuracy"),
        ("balanced_accuracy", "balanced_accuracy"),
        ("auc_macro", "auc_macro"),
    ):
        values = [study["metrics"]["strong", "custom_cnn", s][key] for s in (0, 1, 2)]
        assert cnn[score] == pytest.approx(np.mean(values)) and cnn[f"{score}_std"] == pytest.approx(
            np.std(values, ddof=1)
        )
    f1 = [study["metrics"]["strong", "custom_cnn", s]["f1"]["macro"] for s in (0, 1, 2)]
    assert cnn["f1_macro"] == pytest.approx(np.mean(f1))
    mel_auroc = [study["metrics"]["strong", "custom_cnn", s]["melanoma"]["auroc"] for s in (0, 1, 2)]
    assert cnn["mel_auroc_std"] == pytest.approx(np.std(mel_auroc, ddof=1))
    # melanoma recall by hand from each confusion matrix: true melanomas predicted as melanoma
    cms = [np.array(study["metrics"]["strong", "custom_cnn", s]["confusion_matrix"]) for s in (0, 1, 2)]
    recall = [cm[MEL, MEL] / cm[MEL].sum() for cm in cms]
    assert cnn["mel_recall"] == pytest.approx(np.mean(recall))
    assert cnn["mel_recall_std"] == pytest.approx(np.std(recall, ddof=1))
    assert cnn["params"] > 0 and cnn["macs"] > 0 and cnn["flops"] > cnn["macs"]
    one = seeds.loc["resnet50-16px-paper"]
    assert one["n_seeds"] == 1 and math.isnan(one["mel_recall_std"]) and one["mel_recall"] == 0.0
    assert one["note"] == "paper/resnet50-16px-seed0: predicts nv for every image"  # a collapsed seed stays flagged
    assert cnn["note"] == ""
    short = study["result"].frames["seeds_summary"].set_index("group")  # the same, as mean ± std in %
    acc = [study["metrics"]["strong", "custom_cnn", s]["accuracy"] * 100 for s in (0, 1, 2)]
    assert short.loc["custom_cnn-16px-strong", "accuracy (%)"] == f"{np.mean(acc):.2f} ± {np.std(acc, ddof=1):.2f}"
    assert short.loc["resnet50-16px-paper", "mel_recall (%)"] == "0.00"  # one seed: no spread
    assert (study["root"] / "report" / "figures" / "pareto_seeds_macs.png").is_file()


def test_accuracy_table_has_recipe_seed_and_melanoma_recall(study: dict[str, Any]) -> None:
    acc = study["result"].frames["accuracy"].set_index("run")
    row = acc.loc["strong/custom_cnn-16px-seed1"]
    assert (row["recipe"], row["seed"]) == ("strong", 1)
    assert row["mel_recall"] == study["metrics"]["strong", "custom_cnn", 1]["per_class"]["mel"]["recall"]
    assert acc.loc["paper/resnet50-16px-seed0", "note"] == "predicts nv for every image"


def test_table4_per_recipe_has_both_recipes_and_the_papers_values(study: dict[str, Any]) -> None:
    t = study["result"].frames["table4_recipes"]
    assert t["recipe"].tolist() == ["any"] * 3 + ["paper"] * 4 + ["strong"] * 4  # the paper's recipe first
    rows = {(r["recipe"], r["quantity"], r["unit"].split(" ")[0]): r for r in t.to_dict("records")}
    for recipe in ("paper", "strong"):
        assert rows[recipe, "Custom CNN accuracy", "%"]["paper_printed"] == PAPER["acc_cnn"] == 87.05
        assert rows[recipe, "ResNet50 + TL accuracy", "%"]["paper_printed"] == PAPER["acc_resnet"] == 89.08
        assert rows[recipe, "Accuracy difference TL - CNN", "percentage"]["paper_printed"] == 0.022
        assert rows[recipe, "Accuracy difference TL - CNN", "percentage"]["paper_recomputed"] == pytest.approx(2.03)
    strong_cnn = _acc(study, "strong", "custom_cnn", [0, 1, 2])
    r = rows["strong", "Custom CNN accuracy", "%"]
    assert r["ours"] == pytest.approx(np.mean(strong_cnn)) and r["ours_std"] == pytest.approx(
        np.std(strong_cnn, ddof=1)
    )
    assert r["n_seeds"] == 3 and "strong/custom_cnn-16px-seed2" in r["explanation"]
    tl = rows["strong", "ResNet50 + TL accuracy", "%"]
    assert tl["n_seeds"] == 2 and "random init (no ImageNet weights" in tl["explanation"]
    # seeds 0 and 2 of both models share their split: mean and std of the per-seed differences
    diffs = np.subtract(_acc(study, "strong", "resnet50", [0, 2]), _acc(study, "strong", "custom_cnn", [0, 2]))
    pp = rows["strong", "Accuracy difference TL - CNN", "percentage"]
    assert pp["ours"] == pytest.approx(diffs.mean()) and pp["ours_std"] == pytest.approx(np.std(diffs, ddof=1))
    assert pp["n_seeds"] == 2 and "(0, 2)" in pp["explanation"]
    paper_tl = rows["paper", "ResNet50 + TL accuracy", "%"]
    assert paper_tl["flag"] and "paper/resnet50-16px-seed0 predicts nv for every image" in paper_tl["explanation"]
    assert math.isnan(paper_tl["ours_std"]) and paper_tl["n_seeds"] == 1
    paper_cnn = _acc(study, "paper", "custom_cnn", [0, 1])
    assert rows["paper", "Custom CNN accuracy", "%"]["ours"] == pytest.approx(np.mean(paper_cnn))
    assert rows["any", "Cost increase of TL over CNN", "%"]["paper_printed"] == PAPER["flops_increase_pct"]
    report = (study["root"] / "report" / "report.md").read_text()
    assert "## Table IV per recipe: accuracy over seeds" in report
    assert (study["root"] / "report" / "tables" / "table4_recipes.tex").is_file()


def test_deployed_columns_on_a_sweep_report_and_int8_points(study: dict[str, Any]) -> None:
    deployed = study["result"].frames["deployed"]
    assert list(zip(deployed["run"], deployed["variant"])) == [
        ("strong/custom_cnn-16px-seed0", "onnx_fp32"),
        ("strong/custom_cnn-16px-seed0", "onnx_int8"),
        ("strong/custom_cnn-16px-seed1", "onnx_fp32"),
        ("strong/custom_cnn-16px-seed1", "onnx_int8"),
        ("paper/custom_cnn-16px-seed0", "onnx_fp32"),
        ("paper/custom_cnn-16px-seed0", "onnx_int8"),
    ]
    int8 = deployed[deployed["precision"] == "int8"]
    assert (int8["file_mb"] < deployed.loc[deployed["precision"] == "fp32", "file_mb"].to_numpy()).all()
    assert (deployed["macs"] > 0).all() and deployed["accuracy"].notna().all() and deployed["mel_recall"].notna().all()
    assert int8["note"].tolist() == ["", "predicts nv for every image", ""]  # the collapsed int8 model is flagged
    points = study["plotted"][0]  # the first plot is the main Pareto figure
    labels = set(points["run"])
    assert {"strong/custom_cnn-16px-seed1 [onnx_int8]", "paper/custom_cnn-16px-seed0 [onnx_fp32]"} <= labels
    assert [pareto.marker_of(v) for v in points["variant"]].count("^") == 3  # int8 triangles
    assert [pareto.marker_of(v) for v in points["variant"]].count("s") == 3  # float32 squares
    assert "## Deployed models" in (study["root"] / "report" / "report.md").read_text()


def _record(name: str, model: str, recipe: str, seed: int) -> RunRecord:
    config = {"model": model, "recipe": recipe, "seed": seed, "image_size": 64, "epochs": 15, "lr": 1e-3}
    return RunRecord(Path(name), name, config, pd.DataFrame(), {"task": "dx"})


def test_table4_by_recipe_by_hand() -> None:
    from skinbench.cost import Counts

    runs = [
        _record("c0", "custom_cnn", "strong", 0),
        _record("c1", "custom_cnn", "strong", 1),
        _record("t1", "resnet50_tl", "strong", 1),
        _record("t2", "resnet50_tl", "strong", 2),
        _record("t3", "resnet50_tl", "strong", 3),
        _record("p0", "custom_cnn", "paper", 0),
    ]
    frame = pd.DataFrame({"run": [r.name for r in runs], "accuracy": [0.70, 0.74, 0.80, 0.70, 0.75, 0.60]})
    frame["note"] = ["", "", "", "", "", "predicts nv for every image"]
    counts = Counts(params=1, trainable=1, macs=10, flops=20, macs_torchvision=10, macs_paper=10, coverage=1.0)
    t = table4_by_recipe(runs, frame, cnn=counts, tl=counts).set_index(["recipe", "quantity", "unit"])
    strong = t.loc["strong"]
    assert strong.loc[("Custom CNN accuracy", "%"), "ours"] == pytest.approx(72.0)
    assert strong.loc[("Custom CNN accuracy", "%"), "ours_std"] == pytest.approx(np.sqrt(8.0))  # (2^2 + 2^2) / 1
    assert strong.loc[("ResNet50 + TL accuracy", "%"), "ours"] == pytest.approx(75.0)
    pp = strong.loc[("Accuracy difference TL - CNN", "percentage points")]
    assert pp["ours"] == pytest.approx(6.0) and math.isnan(pp["ours_std"]) and pp["n_seeds"] == 1  # seed 1 only
    paper = t.loc["paper"]
    assert paper.loc[("Custom CNN accuracy", "%"), "flag"] and math.isnan(
        paper.loc[("Custom CNN accuracy", "%"), "ours_std"]
    )
    assert math.isnan(paper.loc[("ResNet50 + TL accuracy", "%"), "ours"])
    assert "Ours: no run of this recipe." in paper.loc[("ResNet50 + TL accuracy", "%"), "explanation"]
    assert table4_by_recipe([_record("x", "resnet18", "strong", 0)], frame.iloc[:1], cnn=counts, tl=counts).empty


def test_seed_group_labels_name_the_recipe_then_other_differences() -> None:
    runs = [
        _record("a", "custom_cnn", "strong", 0),
        _record("b", "custom_cnn", "paper", 0),
        _record("c", "custom_cnn", "paper", 1),
        RunRecord(Path("d"), "d", {**_record("d", "custom_cnn", "paper", 0).config, "lr": 0.01}, pd.DataFrame(), {}),
    ]
    frame = pd.DataFrame({"run": list("abcd"), "accuracy": [0.5, 0.6, 0.7, 0.8], "note": ["", "", "x", ""]})
    t = seed_table(runs, frame)
    assert t["group"].tolist() == [
        "custom_cnn-64px-strong",
        "custom_cnn-64px-paper-lr=0.001",
        "custom_cnn-64px-paper-lr=0.01",
    ]
    assert t["note"].tolist() == ["", "c: x", ""]


def test_melanoma_recall_reads_per_class_or_the_confusion_matrix() -> None:
    y, probs = _probabilities(3)
    m = compute_metrics(y, probs, CLASSES)
    cm = np.array(m["confusion_matrix"])
    assert melanoma_recall(m) == pytest.approx(cm[MEL, MEL] / cm[MEL].sum())
    assert melanoma_recall({"classes": m["classes"], "confusion_matrix": m["confusion_matrix"]}) == melanoma_recall(m)
    no_mel = [[5 if i == j else 0 for j in range(7)] if i != MEL else [0] * 7 for i in range(7)]
    assert (
        melanoma_recall({"classes": list(CLASSES), "confusion_matrix": no_mel}) is None
    )  # no melanoma in the test set


def test_two_runs_with_one_name_in_one_folder_get_a_number(study: dict[str, Any]) -> None:
    run = study["root"] / "paper" / "custom_cnn-16px-seed1"
    assert [r.name for r in load_runs([run, run])] == ["custom_cnn-16px-seed1", "custom_cnn-16px-seed1-2"]


def test_trainable_counts_what_the_last_phase_trained() -> None:
    """A transfer model without weights trains every layer (one ``full`` phase), whatever ``unfreeze_stages`` says."""
    from skinbench.cost import count
    from skinbench.reports.report import _unfrozen_stages

    config = {"model": "resnet18", "unfreeze_stages": 1}
    end_to_end = RunRecord(Path("a"), "a", config, HISTORY, {"task": "dx"})
    two_phase = RunRecord(Path("b"), "b", config, HISTORY.assign(phase=["head", "finetune"]), {"task": "dx"})
    assert _unfrozen_stages(end_to_end) is None
    assert _unfrozen_stages(two_phase) == 1
    every_layer, last_stage = count("resnet18", image_size=32), count("resnet18", image_size=32, unfreeze_stages=1)
    assert count("resnet18", image_size=32, unfreeze_stages=None).trainable == every_layer.params
    assert last_stage.trainable < last_stage.params


def test_the_report_keeps_every_runs_records_and_remakes_itself_from_them(study: dict[str, Any]) -> None:
    report = study["root"] / "report"
    copy = report / "runs" / "strong" / "custom_cnn-16px-seed0"
    assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file()) == [
        "config.json",
        "copied_from.json",
        "export/onnx_fp32.json",
        "export/onnx_int8.json",
        "history.csv",
        "metrics.json",
    ]  # no model files, no checkpoints
    assert json.loads((copy / "copied_from.json").read_text())["source"] == str(study["root"] / "strong" / copy.name)
    assert not (report / "runs" / "strong" / "custom_cnn-16px-seed3").exists()  # still training: not in the report
    assert "runs/strong/custom_cnn-16px-seed0/metrics.json" in study["result"].files

    again = build_report([report / "runs" / "strong", report / "runs" / "paper"], study["root"] / "again", speed=None)
    first = study["result"].frames
    assert again.frames.keys() == first.keys()
    for name, frame in first.items():
        pd.testing.assert_frame_equal(again.frames[name], frame, check_like=True, obj=name)
    # copying a copy keeps where the run came from
    source = json.loads((study["root"] / "again" / "runs" / "strong" / copy.name / "copied_from.json").read_text())
    assert source["source"] == str(study["root"] / "strong" / copy.name)


def test_no_records_leaves_no_runs_folder(study: dict[str, Any], tmp_path: Path) -> None:
    build_report([study["root"] / "paper"], tmp_path / "out", speed=None, records=False)
    assert (tmp_path / "out" / "report.md").is_file() and not (tmp_path / "out" / "runs").exists()


def test_table4_by_recipe_keeps_a_changed_recipe_apart_and_pairs_like_with_like() -> None:
    from skinbench.cost import Counts

    def run(name: str, model: str, seed: int, **changes: Any) -> RunRecord:
        record = _record(name, model, "strong", seed)
        record.config.update(changes)
        return record

    runs = [
        run("c0", "custom_cnn", 0),
        run("c1", "custom_cnn", 1),
        run("k0", "custom_cnn", 0, epochs=40, class_balance="sqrt"),
        run("k1", "custom_cnn", 1, epochs=40, class_balance="sqrt"),
        run("t0", "resnet50_tl", 0),
    ]
    frame = pd.DataFrame({"run": [r.name for r in runs], "accuracy": [0.60, 0.62, 0.74, 0.76, 0.70], "note": ""})
    counts = Counts(params=1, trainable=1, macs=10, flops=20, macs_torchvision=10, macs_paper=10, coverage=1.0)
    t = table4_by_recipe(runs, frame, cnn=counts, tl=counts).set_index(["recipe", "quantity", "unit"])
    plain, tuned = t.loc["strong (class_balance=None, epochs=15)"], t.loc["strong (class_balance=sqrt, epochs=40)"]
    assert plain.loc[("Custom CNN accuracy", "%"), "ours"] == pytest.approx(61.0)
    assert plain.loc[("ResNet50 + TL accuracy", "%"), "ours"] == pytest.approx(70.0)  # same schedule: paired
    assert tuned.loc[("Custom CNN accuracy", "%"), "ours"] == pytest.approx(75.0)
    assert math.isnan(tuned.loc[("ResNet50 + TL accuracy", "%"), "ours"])  # no ResNet50 run of that variant
