"""Train one model on HAM10000: ``main(config)`` runs phases, checkpoints, early stopping, evaluation.

``main`` is a short sequence of named steps, as in torchvision's classification
reference: :func:`setup_run` (configuration, resume, model, data, loss), then
:func:`run_phase` for every phase (each epoch is :func:`train_epoch`, then
:func:`save_epoch`), then :func:`finish_run` (evaluate ``best.pt`` on the test split).
The loop's position lives in one small :class:`~skinbench.schedule.LoopState`; the run
folder's files are read and written through :class:`~skinbench.rundir.RunDir`.

Phases:

* ``custom_cnn`` has one phase, ``full``: every layer, ``config.epochs`` epochs at ``config.lr``;
  so has a transfer model without pretrained weights (a frozen random backbone is refused
  unless ``config.force_frozen_random``).
* Transfer models (``resnet50_tl`` and other torchvision models) with weights have two:
  ``head`` (phase 1, ``config.head_epochs`` epochs at ``config.lr``) trains only the new
  head with the backbone frozen, and ``finetune`` (phase 2, ``config.epochs`` epochs at
  the lower ``config.finetune_lr``) also trains the last ``config.unfreeze_stages``
  backbone stages, with a fresh optimizer.

The optimizer, learning-rate schedule, loss, class balance, augmentation and test-time
augmentation come from the configuration (its recipe, :mod:`skinbench.recipes`):
:mod:`skinbench.optim`, :mod:`skinbench.losses` and
:class:`~skinbench.data.pipeline.BatchPipeline` (per batch, on the device).

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

Run folder: see :mod:`skinbench.rundir` (``history.csv`` has :data:`HISTORY_COLUMNS`).

Under ``torchrun`` the same loop runs in every process with DistributedDataParallel;
what changes (global batch, sharded evaluation, rank 0 alone writing) is in
:mod:`skinbench.distributed`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset
from tqdm import tqdm

from skinbench.checkpoint import rng_state, set_rng_state
from skinbench.config import TrainConfig
from skinbench.context import Item, RunContext, build_context, resolve_device
from skinbench.distributed import DistEnv, barrier, check_batch, rank_seed, session, sum_over_ranks, unwrap, wrap
from skinbench.engine import evaluate, extract_features, scores, train_one_epoch
from skinbench.errors import ConfigError
from skinbench.evaluate import evaluate_model, metrics_summary, write_run_metrics
from skinbench.losses import make_loss, sample_weights
from skinbench.models import TransferModel, is_transfer
from skinbench.optim import lr_schedule, make_optimizer
from skinbench.resources import applied_config, local_processes, run_lines
from skinbench.rundir import HISTORY_COLUMNS, RunDir
from skinbench.schedule import LoopState, Phase, plan_phases
from skinbench.sharding import ShardedBatchSampler, gather_rows, loss_weights, shard

__all__ = [
    "HISTORY_COLUMNS",
    "LoopState",
    "Phase",
    "Trainer",
    "evaluate",
    "finish_run",
    "main",
    "plan_phases",
    "run_phase",
    "save_epoch",
    "setup_run",
    "train_command",
    "train_epoch",
    "train_one_epoch",
]

#: Called with each epoch's history row once its checkpoint is written.
EpochHook = Callable[[dict[str, Any]], None]


@dataclass
class Trainer:
    """Everything the training loop works with, built once by :func:`setup_run`.

    Attributes:
        ctx: Configuration, run folder, device, model and data (shared with evaluation).
        criterion: The loss.
        scaler: AMP gradient scaler (disabled off CUDA).
        phases: The run's phases.
        resume_optimizer: Optimizer state from ``last.pt`` for the first phase that runs
            after a resume; None otherwise.
        weights: Per-image sampling weights of the training split (``class_balance="sampler"``).
    """

    ctx: RunContext
    criterion: nn.Module
    scaler: torch.amp.GradScaler
    phases: list[Phase]
    resume_optimizer: dict[str, Any] | None = None
    weights: torch.Tensor | None = None

    @property
    def config(self) -> TrainConfig:
        """The run configuration."""
        return self.ctx.config


def _log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def _log_main(dist: DistEnv, message: str) -> None:
    if dist.is_main:
        _log(message)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63)


def setup_run(config: TrainConfig, dist: DistEnv | None = None) -> tuple[Trainer, LoopState]:
    """Check the configuration, set up model and data, and restore ``last.pt`` on resume.

    ``dist`` is this process's place in a torchrun job (default: a single process).

    Raises:
        ConfigError: Invalid configuration, an existing run without ``resume``, or a
            ``resume`` with incompatible settings.
        skinbench.errors.DataError: Missing or invalid data.
        skinbench.errors.ModelError: Unknown model, or ImageNet weights unavailable.
    """
    config.validate()
    dist = dist or DistEnv()
    run = RunDir(config.out)
    if config.resume:
        config = run.resume_config(config.to_dict())
    config = config.with_absolute_paths()  # config.json then works from any folder
    if not config.resume and run.has(RunDir.LAST):
        raise ConfigError(f"{run.path} already holds a run (last.pt); pass --resume or choose another --out")
    per_rank = check_batch(config.batch_size, dist, needs_two=is_transfer(config.model))
    config = dataclasses.replace(config, world_size=dist.world_size, per_rank_batch_size=per_rank)
    config = applied_config(config, resolve_device(config.device).type, local_processes(dist.world_size))
    torch.set_num_threads(config.threads)
    ctx = build_context(config, run, pretrained=config.pretrained, dist=dist)
    if not dist.is_main:  # one process prints and writes
        ctx.config = config = dataclasses.replace(ctx.config, progress=False)
    config = ctx.config  # with the normalisation resolved
    if dist.is_main:
        run.save_config(config)
    labels = ctx.splits["train"].labels
    criterion = make_loss(config, labels, len(ctx.classes)).to(ctx.device)
    trainer = Trainer(ctx, criterion, torch.amp.GradScaler("cuda", enabled=ctx.amp), plan_phases(config))
    if config.class_balance == "sampler":
        trainer.weights = sample_weights(labels, len(ctx.classes))
    if not config.resume:
        return trainer, LoopState()
    ckpt = run.load_weights(
        RunDir.LAST, ctx.model, map_location=ctx.device, require=("optimizer", "scaler", "rng", "state")
    )
    trainer.scaler.load_state_dict(ckpt["scaler"])
    trainer.resume_optimizer = ckpt["optimizer"]
    set_rng_state(ckpt["rng"])
    state = LoopState.from_dict(ckpt["state"])
    if dist.is_main:
        _log(f"skinbench: resuming {run.path} after epoch {state.epoch} on {dist.world_size} process(es)")
    return trainer, state


def _trainable(model: nn.Module, phase: Phase, config: TrainConfig) -> list[nn.Parameter]:
    """Freeze/unfreeze for ``phase``; return the parameters to optimize."""
    if isinstance(model, TransferModel):
        if phase.name == "head":
            model.freeze_backbone()
        elif phase.name == "full":  # no pretrained weights: every layer trains
            model.requires_grad_(True)
        else:
            model.unfreeze_last(config.unfreeze_stages)
    return [p for p in model.parameters() if p.requires_grad]


def _phase_data(trainer: Trainer, state: LoopState, phase: Phase) -> tuple[nn.Module, Dataset[Item], Dataset[Item]]:
    """The module to train and its train/val data: images, or cached backbone features in phase 1."""
    ctx = trainer.ctx
    if not (phase.name == "head" and trainer.config.cache_features):
        return ctx.model, ctx.dataset("train", augment=True), ctx.dataset("val")
    model = ctx.model
    assert isinstance(model, TransferModel)
    feats = {}
    for split in ("train", "val"):
        t0 = time.perf_counter()
        part = shard(len(ctx.splits[split].labels), ctx.dist)  # each process its shard; all get every row
        feats[split] = extract_features(
            model.backbone,
            ctx.loader(Subset(ctx.dataset(split), part) if ctx.dist.distributed else ctx.dataset(split)),
            ctx.device,
            amp=ctx.amp,
            channels_last=ctx.channels_last,
            desc=f"features {split}",
            progress=trainer.config.progress,
        )
        feats[split] = gather_rows(ctx.dist, part, *feats[split])
        state.timings[f"features_{split}_seconds"] = time.perf_counter() - t0
    return model.head, TensorDataset(*feats["train"]), TensorDataset(*feats["val"])


def train_epoch(
    trainer: Trainer,
    net: nn.Module,
    data: tuple[Dataset[Item], Dataset[Item]],
    optimizer: torch.optim.Optimizer,
    phase: Phase,
    epoch: int,
    phase_epoch: int = 0,
) -> dict[str, Any]:
    """Train ``net`` for global epoch ``epoch`` (``phase_epoch`` of ``phase``, 0-based) and validate it.

    Returns the epoch's history row.
    """
    ctx, config = trainer.ctx, trainer.config
    seed = _epoch_seed(config.seed, epoch)
    torch.manual_seed(rank_seed(seed, ctx.dist))  # dropout, augmentation; the order comes from `seed` alone
    t0 = time.perf_counter()
    desc = f"epoch {epoch} {phase.name}"
    common: dict[str, Any] = {"amp": ctx.amp, "channels_last": ctx.channels_last, "progress": config.progress}
    train_set, val_set = data
    loader = ctx.loader(train_set, shuffle=True, seed=seed, weights=trainer.weights)
    batches = loader.batch_sampler
    if isinstance(batches, ShardedBatchSampler):  # each process's share weighs what it holds of the global batch
        batches.weights = loss_weights(trainer.criterion, ctx.splits["train"].labels)
        common["loss_scale"] = batches.loss_scales()
    images = not isinstance(train_set, TensorDataset)  # not cached features: converted and augmented per batch
    common["prepare"] = ctx.batch_pipeline(rank_seed(seed, ctx.dist)) if images else None
    common["lr_at"] = lr_schedule(config, phase.lr, phase.epochs, phase_epoch, len(loader))
    tr = train_one_epoch(
        net, loader, trainer.criterion, optimizer, ctx.device, scaler=trainer.scaler, desc=desc, **common
    )
    lr = tr["lr"]
    loss_sum, correct, seen = sum_over_ranks(ctx.dist, tr["loss"] * tr["n"], tr["acc"] * tr["n"], tr["n"])
    tr = {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1)}
    t1 = time.perf_counter()
    va = scores(*ctx.predict(unwrap(net), val_set, criterion=trainer.criterion, desc=f"{desc} val"))
    t2 = time.perf_counter()
    return {
        "epoch": epoch,
        "phase": phase.name,
        "train_loss": tr["loss"],
        "train_acc": tr["acc"],
        "val_loss": va["loss"],
        "val_acc": va["acc"],
        "val_balanced_acc": va["balanced_acc"],
        "lr": lr,
        "seconds": t2 - t0,
        "train_seconds": t1 - t0,
        "val_seconds": t2 - t1,
    }


def save_epoch(trainer: Trainer, state: LoopState, optimizer: torch.optim.Optimizer, *, improved: bool) -> None:
    """Write ``best.pt`` (when ``improved``), ``last.pt`` and ``history.csv`` after an epoch (rank 0; others wait)."""
    run, config, model = trainer.ctx.run, trainer.config, trainer.ctx.model
    if not trainer.ctx.dist.is_main:
        barrier(trainer.ctx.dist)
        return
    if improved:
        best = {"model": model.state_dict(), "epoch": state.epoch, "monitor": config.monitor, "value": state.best}
        run.save_checkpoint(RunDir.BEST, {**best, "config": config.to_dict()})
    last = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "state": state.to_dict(),
        "rng": rng_state(),
        "config": config.to_dict(),
        "epoch": state.epoch,
    }
    run.save_checkpoint(RunDir.LAST, last)
    run.write_history(state.history)
    barrier(trainer.ctx.dist)


def run_phase(trainer: Trainer, state: LoopState, phase: Phase, on_epoch_end: EpochHook | None = None) -> None:
    """Train ``phase`` from ``state`` until its epochs are done or early stopping ends it."""
    config = trainer.config
    optimizer = make_optimizer(config, _trainable(trainer.ctx.model, phase, config), phase.lr)
    if trainer.resume_optimizer is not None:
        optimizer.load_state_dict(trainer.resume_optimizer)
        trainer.resume_optimizer = None
    net, train_set, val_set = _phase_data(trainer, state, phase)
    net = wrap(net, trainer.ctx.dist, trainer.ctx.device)  # DistributedDataParallel under torchrun
    while state.phase_epoch < phase.epochs and not state.stopped:
        row = train_epoch(trainer, net, (train_set, val_set), optimizer, phase, state.epoch + 1, state.phase_epoch)
        improved = state.record(row, config.monitor, config.patience)
        save_epoch(trainer, state, optimizer, improved=improved)
        # one line per epoch, with or without --no-progress (which hides only the bars)
        _log_main(
            trainer.ctx.dist,
            f"epoch {row['epoch']} [{phase.name}] train_loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | "
            f"val_loss {row['val_loss']:.4f} acc {row['val_acc']:.3f} bal_acc {row['val_balanced_acc']:.3f} | "
            f"{row['seconds']:.1f}s" + (" | early stop" if state.stopped else ""),
        )
        if on_epoch_end is not None:
            on_epoch_end(row)


def finish_run(trainer: Trainer, state: LoopState) -> dict[str, Any]:
    """Evaluate the ``best.pt`` weights on the test split; write ``metrics.json`` and ``predictions.csv``."""
    ctx = trainer.ctx
    if ctx.run.has(RunDir.BEST):
        ctx.run.load_weights(RunDir.BEST, ctx.model, map_location=ctx.device)
    metrics, probs = evaluate_model(ctx, epoch=state.best_epoch)
    rows = state.history  # rows of runs from before the seconds split count whole (`seconds`)
    metrics["timings"] = {
        "train_seconds": sum(r.get("train_seconds", r["seconds"]) for r in rows),
        "val_seconds": sum(r.get("val_seconds", 0.0) for r in rows),
        **state.timings,
    }
    if ctx.dist.is_main:
        write_run_metrics(ctx.run, metrics, probs, ctx.splits["test"])
    barrier(ctx.dist)
    return metrics


def main(config: TrainConfig, *, on_epoch_end: EpochHook | None = None) -> dict[str, Any]:
    """Train ``config.model`` on ``config.data`` into the run folder ``config.out``, then evaluate.

    Under torchrun (``RANK``/``WORLD_SIZE`` set, world size above 1) every process calls
    this; it joins the job's process group for the run (:func:`skinbench.distributed.session`).

    Args:
        config: The run configuration.
        on_epoch_end: Called with each epoch's history row after its checkpoint is written
            (tests raise from it to simulate a kill).

    Returns:
        The test metrics written to ``metrics.json``.

    Raises:
        ConfigError: Invalid configuration, an existing run without ``resume``, or a
            ``resume`` with incompatible settings.
        skinbench.errors.DataError: Missing or invalid data.
        skinbench.errors.UnknownModelError: Unknown model name.
        skinbench.errors.PretrainedUnavailable: ImageNet weights requested but unavailable.
    """
    with session(config.dist_backend, resolve_device(config.device)) as dist:
        trainer, state = setup_run(config, dist)
        for line in run_lines(trainer.config):  # the recipe, threads, workers; a random-weights notice
            _log_main(dist, line)
        while state.phase < len(trainer.phases):
            phase = trainer.phases[state.phase]
            if not state.stopped and state.phase_epoch < phase.epochs:
                run_phase(trainer, state, phase, on_epoch_end)
            # a phase's optimizer state never carries over: the next phase starts a fresh Adam
            trainer.resume_optimizer = None
            state.next_phase()
        return finish_run(trainer, state)


def train_command(config: TrainConfig) -> int:
    """``skinbench train``: :func:`main`, then the test metrics' summary (printed by rank 0 alone)."""
    metrics = main(config)
    if DistEnv.from_environ().is_main:
        print(metrics_summary(metrics, config.out))
    return 0
