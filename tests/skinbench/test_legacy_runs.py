"""Run folders written before the RunDir refactor still load, resume, evaluate and report.

``data/legacy_run`` holds the text files of a run the previous code wrote (custom_cnn,
8 px, 2 epochs on the synthetic set; only the paths in config.json were neutralised).
``data/legacy_checkpoint_layout.json`` is the key structure of that run's ``last.pt`` and
``best.pt`` (the weights themselves are too big to keep in the repository).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from skinbench.checkpoint import load_checkpoint, save_checkpoint
from skinbench.config import TrainConfig
from skinbench.data import default_cache_dir
from skinbench.evaluate import evaluate_run
from skinbench.recipes import RECIPES
from skinbench.reports.runs import load_run
from skinbench.rundir import HISTORY_COLUMNS, RunDir
from skinbench.train import main

DATA = Path(__file__).parent / "data"
LEGACY_RUN = DATA / "legacy_run"
#: Fields of torchrun training (skinbench.distributed), added after the legacy run.
DIST_FIELDS = ("dist_backend", "world_size", "per_rank_batch_size")
#: Fields of training recipes (skinbench.recipes, issue 13), added after the legacy run
#: (weight_decay and monitor were there before).
RECIPE_FIELDS = ("recipe", *(set(RECIPES["legacy"]) - {"weight_decay", "monitor"}), "notes")


pytestmark = pytest.mark.usefixtures("one_thread")


def _layout(x: Any) -> Any:
    """Keys and value types of a checkpoint, as in data/legacy_checkpoint_layout.json."""
    if isinstance(x, dict):
        return {str(k): _layout(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [type(x).__name__, len(x)]
    return type(x).__name__


def _checkpoint_layout(path: Path) -> dict[str, Any]:
    ckpt = load_checkpoint(path)
    ckpt["model"] = "state_dict"
    if "optimizer" in ckpt:
        ckpt["optimizer"] = {"state": "...", "param_groups": "..."}
    return {k: v if k == "model" else _layout(v) for k, v in ckpt.items()}


def _config(data: Path, out: Path, **kw: Any) -> TrainConfig:
    legacy = TrainConfig.load(LEGACY_RUN / "config.json").to_dict()
    paths = {"data": str(data), "out": str(out), "cache_dir": str(default_cache_dir())}
    return TrainConfig.from_dict(legacy | paths | {"mean": None, "std": None} | kw)


def test_legacy_run_loads_for_a_report() -> None:
    record = load_run(LEGACY_RUN)
    assert record.name == "legacy_run" and record.model == "custom_cnn" and record.num_outputs == 7
    assert tuple(record.history.columns) == HISTORY_COLUMNS and len(record.history) == 2
    assert RunDir(LEGACY_RUN).load_config().image_size == 8


def test_new_checkpoints_keep_the_legacy_layout(synthetic_root: Path, tmp_path: Path) -> None:
    main(_config(synthetic_root, tmp_path / "run"))
    legacy = json.loads((DATA / "legacy_checkpoint_layout.json").read_text())
    for name in (RunDir.LAST, RunDir.BEST):
        new = _checkpoint_layout(tmp_path / "run" / name)
        old = dict(legacy[name])
        old_config, new_config = old.pop("config"), new.pop("config")
        assert {k: new[k] for k in old} == old, name
        # configuration fields keep their types; later versions only add fields (with defaults)
        assert {k: new_config[k] for k in old_config} == old_config, name
        assert set(new_config) - set(old_config) == {"skip", "split_file", *DIST_FIELDS, *RECIPE_FIELDS}, name
    # the only addition: last.pt names its epoch, as best.pt always did
    assert set(_checkpoint_layout(tmp_path / "run" / RunDir.LAST)) - set(legacy[RunDir.LAST]) == {"epoch"}


def test_resume_and_evaluate_from_a_legacy_last_pt(synthetic_root: Path, tmp_path: Path) -> None:
    full, killed = tmp_path / "full", tmp_path / "killed"
    main(_config(synthetic_root, full))

    def kill(row: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        main(_config(synthetic_root, killed), on_epoch_end=kill)
    ckpt = load_checkpoint(killed / RunDir.LAST)
    legacy_keys = json.loads((DATA / "legacy_checkpoint_layout.json").read_text())[RunDir.LAST]
    save_checkpoint({k: ckpt[k] for k in legacy_keys}, killed / RunDir.LAST)  # as the previous code wrote it

    shutil.copytree(killed, tmp_path / "killed_copy")
    metrics = evaluate_run(tmp_path / "killed_copy", checkpoint=RunDir.LAST)
    assert metrics["epoch"] == 1 and metrics["checkpoint"] == "last.pt"

    main(_config(synthetic_root, killed, resume=True))
    a, b = load_checkpoint(full / RunDir.LAST)["model"], load_checkpoint(killed / RunDir.LAST)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
