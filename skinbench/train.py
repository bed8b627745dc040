"""Train one model on HAM10000: ``main(config)`` runs phases, checkpoints, early stopping, evaluation.

Phases:

* ``custom_cnn`` has one phase, ``full``: every layer, ``config.epochs`` epochs at ``config.lr``.
* Transfer models (``resnet50_tl`` and other torchvision models) have two:
  ``head`` (phase 1, ``config.head_epochs`` epochs at ``config.lr``) trains only the new
  head with the backbone frozen, and ``finetune`` (phase 2, ``config.epochs`` epochs at
  the lower ``config.finetune_lr``) also trains the last ``config.unfreeze_stages``
  backbone stages, with a fresh Adam optimizer.

Phase 1 on cached features: a frozen backbone in eval mode maps an image to the same
vector every epoch, so with ``config.cache_features`` (the default) the train and val
features are computed once and the head trains on them. Augmentation is therefore off
in phase 1 (a flipped or rotated image would need a new backbone pass); phase 2 uses
augmentation as usual.

Reproducibility and resume: each epoch reseeds torch from ``(config.seed, epoch)``
before shuffling, augmentation and dropout, so an epoch's result depends only on the
weights and optimizer state it starts from. ``last.pt`` (written atomically after every
epoch) holds exactly those plus the loop state (phase, epoch, early-stopping counters,
history); ``--resume`` reloads it and continues with the next epoch, which therefore
gives the same final weights as an uninterrupted run.

Run folder: ``config.json``, ``split.csv``, ``history.csv`` (one row per epoch,
:data:`HISTORY_COLUMNS`), ``last.pt``, ``best.pt`` (best ``config.monitor``),
``metrics.json`` (see :mod:`skinbench.evaluate`) and ``predictions.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm import tqdm

from skinbench.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from skinbench.config import ConfigError, TrainConfig
from skinbench.data import IMAGENET_MEAN, IMAGENET_STD, LesionDataset, channel_stats, make_transform, task_classes
from skinbench.engine import evaluate, extract_features, make_criterion, train_one_epoch
from skinbench.evaluate import evaluate_model, write_run_metrics
from skinbench.models import TransferModel, build_model, is_transfer
from skinbench.rundata import SplitData, load_splits

__all__ = ["HISTORY_COLUMNS", "Phase", "evaluate", "main", "train_one_epoch"]

HISTORY_COLUMNS = (
    "epoch",
    "phase",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_balanced_acc",
    "lr",
    "seconds",
)

#: Configuration fields that may differ between a run and its ``--resume``.
RESUMABLE_CHANGES = frozenset(
    {
        "data",
        "out",
        "resume",
        "epochs",
        "head_epochs",
        "patience",
        "num_workers",
        "threads",
        "device",
        "progress",
        "cache_dir",
    }
)


@dataclasses.dataclass(frozen=True)
class Phase:
    """One training phase.

    Attributes:
        name: ``"full"`` (custom_cnn), ``"head"`` (frozen backbone) or ``"finetune"``.
        epochs: Maximum epochs of the phase.
        lr: Adam learning rate of the phase.
    """

    name: str
    epochs: int
    lr: float


def plan_phases(config: TrainConfig) -> list[Phase]:
    """The phases a run of ``config`` goes through (see the module docstring)."""
    if not is_transfer(config.model):
        return [Phase("full", config.epochs, config.lr)]
    return [Phase("head", config.head_epochs, config.lr), Phase("finetune", config.epochs, config.finetune_lr)]


def _log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but CUDA is not available")
    return torch.device(name)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63)


def _loader(
    ds: Dataset, config: TrainConfig, device: torch.device, *, shuffle: bool, epoch_seed: int = 0
) -> DataLoader:
    generator = torch.Generator().manual_seed(epoch_seed)
    return DataLoader(
        ds,
        batch_size=config.batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )


def _resolve_resume(config: TrainConfig, out: Path) -> TrainConfig:
    """Configuration of a resumed run: the saved one, with the allowed changes applied."""
    last = out / "last.pt"
    if not last.is_file() or not (out / "config.json").is_file():
        raise ConfigError(f"cannot resume: {out} has no last.pt/config.json")
    saved = TrainConfig.load(out / "config.json")
    given = config.to_dict()
    differ = [
        k
        for k, v in saved.to_dict().items()
        if k not in RESUMABLE_CHANGES and k not in ("mean", "std") and given[k] != v
    ]
    if differ:
        raise ConfigError(f"cannot resume {out}: {', '.join(differ)} differ from its config.json")
    return dataclasses.replace(saved, **{k: given[k] for k in RESUMABLE_CHANGES if k in given})


def _normalisation(config: TrainConfig, train: SplitData) -> tuple[list[float], list[float]]:
    if is_transfer(config.model) and config.pretrained:
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    mean, std = channel_stats(train.images)
    return list(mean), list(std)


def _write_history(rows: list[dict[str, Any]], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _better(value: float, best: float | None, monitor: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best if monitor == "val_loss" else value > best


def _setup_phase(model: nn.Module, phase: Phase, config: TrainConfig) -> list[nn.Parameter]:
    """Freeze/unfreeze for ``phase``; return the parameters to optimize."""
    if isinstance(model, TransferModel):
        if phase.name == "head":
            model.freeze_backbone()
        else:
            model.unfreeze_last(config.unfreeze_stages)
    return [p for p in model.parameters() if p.requires_grad]


def main(config: TrainConfig, *, on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train ``config.model`` on ``config.data`` into the run folder ``config.out``, then evaluate.

    Args:
        config: The run configuration.
        on_epoch_end: Called with each epoch's history row after its checkpoint is written
            (tests raise from it to simulate a kill).

    Returns:
        The test metrics written to ``metrics.json``.

    Raises:
        ConfigError: Invalid configuration, an existing run without ``resume``, or a
            ``resume`` with incompatible settings.
        skinbench.data.DataError: Missing or invalid data.
        skinbench.models.UnknownModelError: Unknown model name.
        skinbench.models.PretrainedUnavailable: ImageNet weights requested but unavailable.
    """
    config.validate()
    out = Path(config.out)
    if config.resume:
        config = _resolve_resume(config, out)
    elif (out / "last.pt").exists():
        raise ConfigError(f"{out} already holds a run (last.pt); pass --resume or choose another --out")
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    use_amp = config.amp and device.type == "cuda"
    channels_last = config.channels_last and device.type == "cuda"
    classes = task_classes(config.task)
    num_outputs = 1 if config.task == "binary" else len(classes)

    torch.manual_seed(config.seed)
    model = build_model(config.model, num_outputs, pretrained=config.pretrained, image_size=config.image_size)
    if is_transfer(config.model) and not config.pretrained:
        _log(
            f"skinbench: notice: {config.model} starts from random initialisation (--no-pretrained), "
            "not ImageNet weights"
        )
    out.mkdir(parents=True, exist_ok=True)
    splits = load_splits(config, out / "split.csv")
    if config.mean is None or config.std is None:
        config.mean, config.std = _normalisation(config, splits["train"])
    config.save(out / "config.json")

    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    criterion = make_criterion(
        config.task, splits["train"].labels, len(classes), class_weights=config.class_weights
    ).to(device)
    train_tf = make_transform(True, config.mean, config.std)
    eval_tf = make_transform(False, config.mean, config.std)
    train_ds = LesionDataset(splits["train"].images, splits["train"].labels, train_tf)
    val_ds = LesionDataset(splits["val"].images, splits["val"].labels, eval_tf)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    phases = plan_phases(config)
    state: dict[str, Any] = {
        "epoch": 0,
        "phase": 0,
        "phase_epoch": 0,
        "phase_best": None,
        "bad_epochs": 0,
        "stopped": False,
        "best": None,
        "best_epoch": 0,
        "history": [],
        "timings": {},
    }
    opt_state = None
    if config.resume:
        ckpt = load_checkpoint(out / "last.pt", map_location=device)
        model.load_state_dict(ckpt["model"])
        state = ckpt["state"]
        opt_state = ckpt["optimizer"]
        scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        _log(f"skinbench: resuming {out} after epoch {state['epoch']}")

    while state["phase"] < len(phases):
        phase = phases[state["phase"]]
        if state["stopped"] or state["phase_epoch"] >= phase.epochs:
            state.update(phase=state["phase"] + 1, phase_epoch=0, phase_best=None, bad_epochs=0, stopped=False)
            opt_state = None
            continue
        params = _setup_phase(model, phase, config)
        optimizer = torch.optim.Adam(params, lr=phase.lr, weight_decay=config.weight_decay)
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
            opt_state = None

        net: nn.Module = model
        train_set: Dataset = train_ds
        val_set: Dataset = val_ds
        if phase.name == "head" and config.cache_features:
            assert isinstance(model, TransferModel)
            net = model.head
            feats = {}
            for split, ds in (
                ("train", LesionDataset(splits["train"].images, splits["train"].labels, eval_tf)),
                ("val", val_ds),
            ):
                t0 = time.perf_counter()
                feats[split] = extract_features(
                    model.backbone,
                    _loader(ds, config, device, shuffle=False),
                    device,
                    amp=use_amp,
                    channels_last=channels_last,
                    desc=f"features {split}",
                    progress=config.progress,
                )
                state["timings"][f"features_{split}_seconds"] = time.perf_counter() - t0
            train_set, val_set = TensorDataset(*feats["train"]), TensorDataset(*feats["val"])

        while state["phase_epoch"] < phase.epochs and not state["stopped"]:
            epoch = state["epoch"] + 1
            seed = _epoch_seed(config.seed, epoch)
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            desc = f"epoch {epoch} {phase.name}"
            tr = train_one_epoch(
                net,
                _loader(train_set, config, device, shuffle=True, epoch_seed=seed),
                criterion,
                optimizer,
                device,
                scaler=scaler,
                amp=use_amp,
                channels_last=channels_last,
                desc=desc,
                progress=config.progress,
            )
            va = evaluate(
                net,
                _loader(val_set, config, device, shuffle=False),
                criterion,
                device,
                amp=use_amp,
                channels_last=channels_last,
                desc=f"{desc} val",
                progress=config.progress,
            )
            row = {
                "epoch": epoch,
                "phase": phase.name,
                "train_loss": tr["loss"],
                "train_acc": tr["acc"],
                "val_loss": va["loss"],
                "val_acc": va["acc"],
                "val_balanced_acc": va["balanced_acc"],
                "lr": phase.lr,
                "seconds": time.perf_counter() - t0,
            }
            state["history"].append(row)
            state["epoch"] = epoch
            state["phase_epoch"] += 1
            value = row[config.monitor]
            if _better(value, state["best"], config.monitor):
                state["best"], state["best_epoch"] = value, epoch
                save_checkpoint(
                    {
                        "model": model.state_dict(),
                        "epoch": epoch,
                        "monitor": config.monitor,
                        "value": value,
                        "config": config.to_dict(),
                    },
                    out / "best.pt",
                )
            if _better(value, state["phase_best"], config.monitor):
                state["phase_best"], state["bad_epochs"] = value, 0
            else:
                state["bad_epochs"] += 1
                state["stopped"] = 0 < config.patience <= state["bad_epochs"]
            save_checkpoint(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(),
                    "state": state,
                    "rng": rng_state(),
                    "config": config.to_dict(),
                },
                out / "last.pt",
            )
            _write_history(state["history"], out / "history.csv")
            if config.progress:
                _log(
                    f"epoch {epoch} [{phase.name}] train_loss {tr['loss']:.4f} acc {tr['acc']:.3f} | "
                    f"val_loss {va['loss']:.4f} acc {va['acc']:.3f} bal_acc {va['balanced_acc']:.3f} | "
                    f"{row['seconds']:.1f}s" + (" | early stop" if state["stopped"] else "")
                )
            if on_epoch_end is not None:
                on_epoch_end(row)

    if (out / "best.pt").is_file():
        model.load_state_dict(load_checkpoint(out / "best.pt", map_location=device)["model"])
    metrics, probs = evaluate_model(model, config, splits, device, epoch=state["best_epoch"])
    metrics["timings"] = {"train_seconds": sum(r["seconds"] for r in state["history"]), **state["timings"]}
    write_run_metrics(metrics, probs, out, splits["test"])
    return metrics
