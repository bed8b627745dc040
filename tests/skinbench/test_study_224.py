"""examples/study_224.py: the paper's models with the strong and paper recipes, run tiny on CPU."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "study_224.py"


def _load():
    spec = importlib.util.spec_from_file_location("example_study_224", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_gpu_study_is_224_px_with_both_recipes(tmp_path: Path) -> None:
    study = _load()
    args = study.build_parser().parse_args(["--data", "d", "--out", str(tmp_path)])
    configs = study.run_configs(args, Path("d"))
    assert [(c.model, c.recipe) for c in configs] == [
        ("custom_cnn", "strong"),
        ("custom_cnn", "paper"),
        ("resnet50_tl", "strong"),
        ("resnet50_tl", "paper"),
    ]
    assert {(c.image_size, c.device, c.pretrained, c.epochs) for c in configs} == {(224, "cuda", True, 30)}
    assert {c.optimizer for c in configs} == {"adamw", "adam"}


@pytest.mark.slow
def test_tiny_study_trains_both_recipes_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = torch.get_num_threads()
    try:
        assert _load().main(["--tiny", "--out", str(tmp_path), "--models", "custom_cnn"]) == 0
    finally:
        torch.set_num_threads(before)
    for recipe in ("strong", "paper"):
        config = json.loads((tmp_path / "runs" / f"custom_cnn_{recipe}" / "config.json").read_text())
        assert (config["recipe"], config["image_size"], config["epochs"]) == (recipe, 32, 1)
        assert (tmp_path / "runs" / f"custom_cnn_{recipe}" / "metrics.json").is_file()
    assert (tmp_path / "report" / "report.md").is_file() and "report: " in capsys.readouterr().out
