"""Training recipes (issue 13): documented defaults, explicit flags win, honest transfer learning, what applied."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from skinbench.cli import build_parser
from skinbench.cli import main as cli
from skinbench.cli_train import train_config
from skinbench.config import ConfigError, TrainConfig
from skinbench.data import make_transform
from skinbench.data.pipeline import BatchPipeline
from skinbench.engine import predict
from skinbench.losses import ClassWeightedCrossEntropy, OneVsRestBCE, make_loss
from skinbench.recipes import RECIPE_FIELDS, RECIPES
from skinbench.resources import applied_config, auto_threads, auto_workers, busy_cores
from skinbench.rundir import HISTORY_COLUMNS, RunDir
from skinbench.train import main as train

DOCS = Path(__file__).resolve().parents[2] / "docs" / "skinbench" / "training.md"


pytestmark = pytest.mark.usefixtures("one_thread")


def _documented_recipes() -> dict[str, dict[str, str]]:
    """The recipe table of docs/skinbench/training.md: {recipe: {field: value as written}}."""
    text = DOCS.read_text()
    section = text[text.index("## Recipes") :]
    table = {name: {} for name in RECIPES}
    header: list[str] = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| field"):
            header = cells
        elif header and line.startswith("| `"):
            field = cells[0].strip("`")
            for name in RECIPES:
                table[name][field] = cells[header.index(name)].strip("`")
        elif header and not line.startswith("|"):
            break
    return table


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_recipe_gives_its_documented_config(name: str) -> None:
    config = TrainConfig(data="d", out="r", recipe=name)
    assert {f: getattr(config, f) for f in RECIPE_FIELDS} == RECIPES[name]
    assert tuple(RECIPES[name]) == RECIPE_FIELDS  # every recipe sets every field
    documented = _documented_recipes()[name]
    assert set(documented) == set(RECIPE_FIELDS)
    assert documented == {f: str(v).lower() if isinstance(v, bool) else str(v) for f, v in RECIPES[name].items()}


def test_new_runs_default_to_strong_and_saved_runs_without_a_recipe_are_legacy() -> None:
    assert TrainConfig(data="d", out="r").recipe == "strong"
    old = TrainConfig.from_saved({"data": "d", "out": "r", "model": "resnet18", "pretrained": False, "head_epochs": 5})
    assert (old.recipe, old.augment, old.optimizer, old.schedule, old.loss, old.tta) == (
        "legacy",
        "legacy",
        "adam",
        "constant",
        "ce",
        "none",
    )
    assert old.force_frozen_random and old.head_epochs == 5  # trained that way: it resumes that way
    assert TrainConfig.from_saved({"data": "d", "out": "r", "class_weights": True}).class_balance == "loss"


def _cli_config(*flags: str) -> TrainConfig:
    return train_config(
        build_parser().parse_args(["train", "--data", "d", "--model", "custom_cnn", "--out", "r", *flags])
    )


def test_explicit_flags_win_over_the_recipe() -> None:
    config = _cli_config("--recipe", "paper", "--optimizer", "adamw", "--tta", "flip", "--label-smoothing", "0.2")
    assert config.recipe == "paper" and (config.optimizer, config.tta, config.label_smoothing) == ("adamw", "flip", 0.2)
    assert (config.loss, config.augment, config.monitor) == ("bce", "flip_rotate", "val_acc")  # the rest: paper
    assert _cli_config("--recipe", "paper", "--class-weights").class_balance == "loss"  # the old flag, an alias
    assert _cli_config().recipe == "strong"
    with pytest.raises(ConfigError, match="--class-weights means --class-balance loss"):
        _cli_config("--class-weights", "--class-balance", "sampler")


def test_bad_recipe_values_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = ["train", "--data", "d", "--model", "custom_cnn", "--out", str(tmp_path / "r")]
    assert cli([*base, "--label-smoothing", "1.5"]) == 2
    assert "label_smoothing must be in [0, 1)" in capsys.readouterr().err
    assert cli([*base, "--recipe", "best"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_frozen_random_backbone_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--data", "d", "--model", "resnet18", "--out", str(tmp_path / "r"), "--no-pretrained"]
    assert cli([*argv, "--head-epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "frozen random backbone" in err and "--force-frozen-random" in err
    assert not (tmp_path / "r").exists()
    assert _plan(TrainConfig(data="d", out="r", model="resnet18", pretrained=False)) == ["full"]
    assert _plan(TrainConfig(data="d", out="r", model="resnet18", pretrained=False, force_frozen_random=True)) == [
        "head",
        "finetune",
    ]


def _plan(config: TrainConfig) -> list[str]:
    from skinbench.schedule import plan_phases

    config.validate()
    return [p.name for p in plan_phases(config)]


def _tiny(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(image_size=16, epochs=1, batch_size=32, progress=False, patience=0, device="cpu", pretrained=False)
    return TrainConfig(data=str(data), out=str(out), **(base | kw))


def test_transfer_model_without_weights_trains_end_to_end(
    synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from skinbench.models import build_model

    run = tmp_path / "run"
    config = _tiny(synthetic_root, run, model="mobilenet_v3_small")
    torch.manual_seed(config.seed)
    initial = build_model("mobilenet_v3_small", 7, pretrained=False, image_size=16).state_dict()
    train(config)
    notices = [line for line in capsys.readouterr().err.splitlines() if "notice" in line]
    assert len(notices) == 1 and "trains end to end" in notices[0]
    assert pd.read_csv(run / "history.csv")["phase"].tolist() == ["full"]
    final = RunDir(run).load_checkpoint(RunDir.LAST)["model"]
    first_conv = next(k for k in initial if k.startswith("backbone.features.0.") and k.endswith("weight"))
    assert not torch.equal(final[first_conv], initial[first_conv])  # the first backbone layer trained too
    saved = json.loads((run / "config.json").read_text())
    assert saved["head_epochs"] == 0 and "unfreeze_stages" in saved["notes"] and "finetune_lr" in saved["notes"]


def test_forced_frozen_random_backbone_trains_two_phases(synthetic_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(_tiny(synthetic_root, run, model="mobilenet_v3_small", head_epochs=1, force_frozen_random=True))
    assert pd.read_csv(run / "history.csv")["phase"].tolist() == ["head", "finetune"]


def test_config_records_only_what_applied_and_history_splits_seconds(synthetic_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"  # custom_cnn asked for pretrained, AMP and channels_last (the defaults) on CPU
    metrics = train(_tiny(synthetic_root, run, pretrained=True, recipe="paper", class_balance="sampler"))
    saved = json.loads((run / "config.json").read_text())
    assert (saved["pretrained"], saved["amp"], saved["channels_last"], saved["head_epochs"]) == (False, False, False, 0)
    assert {"pretrained", "amp", "channels_last", "threads", "num_workers"} <= set(saved["notes"])
    assert saved["threads"] >= 1 and saved["num_workers"] == 0 and saved["recipe"] == "paper"
    assert saved["notes"]["threads"].startswith("auto: ")
    history = pd.read_csv(run / "history.csv")
    assert tuple(history.columns) == HISTORY_COLUMNS
    row = history.iloc[0]
    assert row["train_seconds"] > 0 and row["val_seconds"] > 0
    assert row["seconds"] == pytest.approx(row["train_seconds"] + row["val_seconds"], abs=1e-6)
    assert metrics["timings"]["train_seconds"] == pytest.approx(row["train_seconds"])
    assert metrics["tta"] == "none"


def test_old_history_files_read_with_empty_new_columns(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    old = pd.DataFrame([dict.fromkeys(HISTORY_COLUMNS[:9], 1)])  # the columns before the split
    old.to_csv(run.file(RunDir.HISTORY), index=False)
    history = run.read_history()
    assert tuple(history.columns) == HISTORY_COLUMNS and history["train_seconds"].isna().all()


def test_applied_config_and_auto_resources() -> None:
    cuda = applied_config(TrainConfig(data="d", out="r", model="resnet18", threads=2, num_workers=3), "cuda")
    assert (cuda.amp, cuda.channels_last, cuda.pretrained, cuda.notes) == (True, True, True, {})
    assert auto_threads(2, 1)[0] == 1 and auto_threads(8, 2, busy=0.0)[0] == 4 and auto_threads(8, 1, busy=7.5)[0] == 1
    why = "auto: 10 (16 usable cores, 1 process(es), 5.2 busy; one per idle core)"
    assert auto_threads(16, 1, busy=5.2) == (10, why)
    busy = busy_cores(0.05)
    assert busy is None or 0 <= busy <= (os.cpu_count() or 1)
    assert auto_workers("cpu", 16)[0] == 0 and auto_workers("cuda", 16, 8)[0] == 1


def test_losses_of_the_recipes() -> None:
    labels = np.array([0, 0, 0, 1, 2])
    paper = make_loss(TrainConfig(data="d", out="r", recipe="paper"), labels, 3)
    assert isinstance(paper, OneVsRestBCE) and paper.weight is None
    logits, target = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    expected = nn.functional.binary_cross_entropy_with_logits(logits, nn.functional.one_hot(target, 3).float())
    assert torch.allclose(paper(logits, target), expected)
    strong = make_loss(TrainConfig(data="d", out="r"), labels, 3)
    assert isinstance(strong, ClassWeightedCrossEntropy) and strong.label_smoothing == 0.1
    assert strong.weight.tolist() == pytest.approx([5 / 9, 5 / 3, 5 / 3])
    # each image weighted by its own class: a weighted mean of the plain smoothed losses
    plain = nn.functional.cross_entropy(logits, target, label_smoothing=0.1, reduction="none")
    w = strong.weight[target]
    assert torch.allclose(strong(logits, target), (plain * w).sum() / w.sum())
    # a confident, correct prediction of the common class is cheap (torch's weight + smoothing is not)
    sure = torch.tensor([[6.0, 0.0, 0.0]])
    assert float(strong(sure, torch.tensor([0]))) < 0.5
    # without smoothing it is torch's weighted cross-entropy
    unsmoothed = make_loss(TrainConfig(data="d", out="r", label_smoothing=0.0), labels, 3)
    assert isinstance(unsmoothed, nn.CrossEntropyLoss) and unsmoothed.weight is not None
    # sqrt: the square roots of the inverse-frequency weights, the rare classes still count more
    sqrt = make_loss(TrainConfig(data="d", out="r", class_balance="sqrt"), labels, 3)
    assert isinstance(sqrt, ClassWeightedCrossEntropy)
    assert sqrt.weight.tolist() == pytest.approx([(5 / 9) ** 0.5, (5 / 3) ** 0.5, (5 / 3) ** 0.5])
    binary = make_loss(TrainConfig(data="d", out="r", task="binary", class_balance="sqrt"), np.array([0, 0, 0, 1]), 2)
    assert isinstance(binary, OneVsRestBCE) and binary.weight.tolist() == pytest.approx([(2 / 3) ** 0.5, 2**0.5])


def test_batch_pipeline_normalises_like_the_evaluation_transform() -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    mean, std = (0.7, 0.5, 0.4), (0.2, 0.15, 0.1)
    batch = torch.from_numpy(images).permute(0, 3, 1, 2)
    per_image = torch.stack([make_transform(False, mean, std)(im) for im in images])
    assert torch.allclose(BatchPipeline(None, mean, std)(batch), per_image, atol=1e-6)


def test_flip_tta_averages_the_four_flips() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).eval()
    x = torch.randn(6, 3, 4, 4)
    _, probs, _ = predict(model, [(x, torch.zeros(6, dtype=torch.int64))], torch.device("cpu"), tta=True)
    with torch.no_grad():
        views = [x, x.flip(3), x.flip(2), x.flip(2, 3)]
        expected = torch.stack([torch.softmax(model(v), 1) for v in views]).mean(0)
    assert np.allclose(probs, expected.double().numpy(), atol=1e-6)


def test_recipe_help_names_every_recipe() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()  # type: ignore[union-attr]
    assert re.search(r"--recipe \{strong,paper,legacy\}", text) and "strong adamw, paper adam" in text
