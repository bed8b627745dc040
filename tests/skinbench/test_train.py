"""Training loop on the synthetic dataset: learning, run folder, phases, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from skinbench.checkpoint import load_checkpoint
from skinbench.config import ConfigError, TrainConfig
from skinbench.train import HISTORY_COLUMNS, main

pytestmark = pytest.mark.usefixtures("one_thread")


class Killed(Exception):
    """Stands in for a kill -9 right after an epoch's checkpoint is written."""


def _kill_after(epoch: int):
    def hook(row: dict) -> None:
        if row["epoch"] == epoch:
            raise Killed

    return hook


def _config(data: Path, out: Path, **kw) -> TrainConfig:
    defaults = dict(
        model="custom_cnn",
        image_size=16,
        epochs=3,
        batch_size=32,
        lr=1e-3,
        pretrained=False,
        progress=False,
        seed=0,
        patience=0,
    )
    defaults.update(kw)
    return TrainConfig(data=str(data), out=str(out), **defaults)


def _assert_same_weights(a: Path, b: Path) -> None:
    sa, sb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _history(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "history.csv").drop(columns=["seconds", "train_seconds", "val_seconds"])


@pytest.mark.slow
def test_synthetic_data_trains_clearly_above_chance(synthetic_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    metrics = main(_config(synthetic_root, run, image_size=32, epochs=8, lr=2e-3))
    assert metrics["balanced_accuracy"] > 0.4  # chance is 1/7
    assert metrics["accuracy"] > metrics["baseline"]["accuracy"] + 0.15
    assert metrics["auc_macro"] > 0.8


def test_run_folder_contents(synthetic_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    metrics = main(_config(synthetic_root, run, epochs=2))
    assert {"config.json", "split.csv", "history.csv", "last.pt", "best.pt", "metrics.json", "predictions.csv"} <= {
        p.name for p in run.iterdir()
    }
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    saved = TrainConfig.load(run / "config.json")
    assert saved.model == "custom_cnn" and saved.mean is not None and len(saved.std) == 3
    history = pd.read_csv(run / "history.csv")
    assert tuple(history.columns) == HISTORY_COLUMNS
    assert history["epoch"].tolist() == [1, 2] and set(history["phase"]) == {"full"}
    assert json.loads((run / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    best = load_checkpoint(run / "best.pt")
    # CSV round trip: older pandas parse floats to within one ulp, not bit-exactly.
    assert best["value"] == pytest.approx(history["val_balanced_acc"].max(), rel=1e-12)
    assert metrics["epoch"] == best["epoch"]
    with pytest.raises(ConfigError, match="already holds a run"):
        main(_config(synthetic_root, run, epochs=2))


def test_resume_after_kill_gives_identical_weights(synthetic_root: Path, tmp_path: Path) -> None:
    full, killed = tmp_path / "full", tmp_path / "killed"
    main(_config(synthetic_root, full))
    with pytest.raises(Killed):
        main(_config(synthetic_root, killed), on_epoch_end=_kill_after(1))
    assert len(pd.read_csv(killed / "history.csv")) == 1 and not (killed / "metrics.json").exists()
    main(_config(synthetic_root, killed, resume=True))
    _assert_same_weights(full / "last.pt", killed / "last.pt")
    _assert_same_weights(full / "best.pt", killed / "best.pt")
    pd.testing.assert_frame_equal(_history(full), _history(killed))


@pytest.mark.slow
def test_transfer_phases_and_resume_across_the_phase_boundary(synthetic_root: Path, tmp_path: Path) -> None:
    # no ImageNet weights offline: a frozen random backbone, forced, exercises the two-phase machinery
    kw = dict(model="resnet18", image_size=32, head_epochs=2, epochs=2, lr=1e-3, finetune_lr=1e-4)
    kw |= dict(force_frozen_random=True)
    full, killed = tmp_path / "full", tmp_path / "killed"
    main(_config(synthetic_root, full, **kw))
    for epoch in (1, 2):  # inside phase 1 (features recomputed), then right at the phase boundary
        with pytest.raises(Killed):
            main(_config(synthetic_root, killed, resume=epoch > 1, **kw), on_epoch_end=_kill_after(epoch))
    main(_config(synthetic_root, killed, resume=True, **kw))
    _assert_same_weights(full / "last.pt", killed / "last.pt")
    history = _history(full)
    pd.testing.assert_frame_equal(history, _history(killed))
    assert history["phase"].tolist() == ["head", "head", "finetune", "finetune"]
    lr = history["lr"].tolist()  # warm-up and cosine decay within each phase, from its own peak
    assert lr[0] == 1e-3 > lr[1] > 0 and lr[2] == 1e-4 > lr[3] > 0
    timings = json.loads((full / "metrics.json").read_text())["timings"]
    assert timings["features_train_seconds"] > 0


def test_phase_1_leaves_the_backbone_untouched(synthetic_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = _config(
        synthetic_root, run, model="resnet18", image_size=32, head_epochs=2, epochs=0, force_frozen_random=True
    )
    torch.manual_seed(cfg.seed)
    from skinbench.models import build_model

    initial = build_model("resnet18", 7, pretrained=False, image_size=32).state_dict()
    main(cfg)
    final = load_checkpoint(run / "last.pt")["model"]
    for key, value in initial.items():  # weights and BatchNorm running statistics
        if key.startswith("backbone."):
            assert torch.equal(final[key], value), key
    assert not torch.equal(final["head.0.weight"], initial["head.0.weight"])


def test_binary_task_uses_one_logit_and_two_classes(synthetic_root: Path, tmp_path: Path) -> None:
    metrics = main(_config(synthetic_root, tmp_path / "run", task="binary", epochs=1, class_weights=True))
    assert metrics["classes"] == ["benign", "malignant"]
    assert len(metrics["confusion_matrix"]) == 2
    best = load_checkpoint(tmp_path / "run" / "best.pt")["model"]
    assert best["classifier.4.weight"].shape[0] == 1


def test_early_stopping_ends_the_phase(synthetic_root: Path, tmp_path: Path) -> None:
    # At lr 1e-9 the weights barely move, so val_acc plateaus after epoch 1.
    run = tmp_path / "run"
    main(_config(synthetic_root, run, epochs=6, patience=1, lr=1e-9, monitor="val_acc"))
    history = pd.read_csv(run / "history.csv")
    assert len(history) == 2  # epoch 2 did not improve val_acc, so patience 1 stops there


def test_resume_rejects_changed_settings(synthetic_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(Killed):
        main(_config(synthetic_root, run), on_epoch_end=_kill_after(1))
    with pytest.raises(ConfigError, match="lr"):
        main(_config(synthetic_root, run, lr=0.5, resume=True))
    with pytest.raises(ConfigError, match="cannot resume"):
        main(_config(synthetic_root, tmp_path / "empty", resume=True))
