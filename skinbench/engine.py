"""One epoch of training, one pass of evaluation, feature extraction: the inner loops.

These functions know nothing about runs, phases or files; :mod:`skinbench.train`
drives them. They work on any module, so the same loop trains a whole network on
images or a head on cached feature vectors.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score
from torch import nn
from tqdm import tqdm

#: What the loops iterate over: ``(inputs, int64 labels)`` batches, e.g. a DataLoader.
Batches = Iterable[Sequence[torch.Tensor]]
#: A batch transform run on the device before the model (uint8 -> augmented, normalised floats).
Prepare = Callable[[torch.Tensor], torch.Tensor]
#: The flips of flip test-time augmentation (dims of an NCHW batch); the identity is the first view.
TTA_FLIPS: tuple[tuple[int, ...], ...] = ((3,), (2,), (2, 3))


class BinaryBCE(nn.Module):
    """Binary cross-entropy on one logit per image (paper eq. 4), with integer 0/1 targets.

    Args:
        pos_weight: Weight of the positive (malignant) class; None for unweighted.
    """

    def __init__(self, pos_weight: float | None = None) -> None:
        super().__init__()
        weight = None if pos_weight is None else torch.tensor([float(pos_weight)])
        self.loss = nn.BCEWithLogitsLoss(pos_weight=weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean BCE of logits ``(N, 1)`` against labels ``(N,)`` in {0, 1}."""
        loss: torch.Tensor = self.loss(logits.reshape(-1), target.to(logits.dtype))
        return loss


def inverse_frequency_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Class weights ``N / (K * n_c)`` (1 for a balanced set; 0 for a class with no samples).

    Example:
        >>> [round(w, 4) for w in inverse_frequency_weights(np.array([0, 0, 0, 1]), 2).tolist()]
        [0.6667, 2.0]
    """
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    weights = np.divide(len(labels), num_classes * counts, out=np.zeros_like(counts), where=counts > 0)
    return torch.tensor(weights, dtype=torch.float32)


def make_criterion(task: str, train_labels: np.ndarray, num_classes: int, *, class_weights: bool) -> nn.Module:
    """Loss for ``task``: cross-entropy over the classes (dx) or BCE on one logit (binary).

    Args:
        task: ``"dx"`` or ``"binary"``.
        train_labels: Training labels, for the inverse-frequency weights.
        num_classes: Number of classes (2 for binary).
        class_weights: Weight classes by inverse frequency (binary: ``pos_weight = n_neg / n_pos``).
    """
    if task == "binary":
        pos_weight = None
        if class_weights:
            n_pos = int(np.sum(train_labels == 1))
            pos_weight = (len(train_labels) - n_pos) / max(n_pos, 1)
        return BinaryBCE(pos_weight)
    weight = inverse_frequency_weights(train_labels, num_classes) if class_weights else None
    return nn.CrossEntropyLoss(weight=weight)


def logits_to_probs(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(N, K)``: softmax, or ``[1 - p, p]`` for a single binary logit."""
    logits = logits.float()
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def _batches(loader: Batches, desc: str, progress: bool) -> tqdm[Sequence[torch.Tensor]]:
    return tqdm(
        loader,
        desc=desc,
        leave=False,
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
    )


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def train_one_epoch(
    model: nn.Module,
    loader: Batches,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    scaler: torch.amp.GradScaler | None = None,
    amp: bool = False,
    channels_last: bool = False,
    desc: str = "train",
    progress: bool = False,
    loss_scale: Sequence[float] | None = None,
    prepare: Prepare | None = None,
    lr_at: Callable[[int], float] | None = None,
) -> dict[str, float]:
    """Train ``model`` for one pass over ``loader``.

    Args:
        model: Any module mapping a batch of inputs to logits (a network or a head).
        loader: Yields ``(inputs, int64 labels)``.
        criterion: Loss of ``(logits, labels)``.
        optimizer: Optimizer over the trainable parameters.
        device: Where to compute.
        scaler: Gradient scaler for mixed precision; None without AMP.
        amp: float16 autocast (CUDA only).
        channels_last: channels_last inputs (4-D inputs only).
        desc: Progress bar label.
        progress: Show a tqdm bar with the running loss and accuracy.
        loss_scale: Per step, a factor on the loss before ``backward`` (not on the loss
            reported); see :meth:`skinbench.sharding.ShardedBatchSampler.loss_scales`.
        prepare: Applied to each input batch once it is on ``device`` (conversion,
            augmentation, normalisation: :class:`skinbench.data.pipeline.BatchPipeline`).
        lr_at: The learning rate of step ``i`` of the epoch, set on every parameter group
            before the step; None keeps the optimizer's.

    Returns:
        ``{"loss": mean loss per sample, "acc": accuracy, "n": samples, "lr": learning
        rate of the last step}`` over the epoch.
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = _batches(loader, desc, progress)
    for step, (x, y) in enumerate(bar):
        if prepare is not None:
            x = prepare(x.to(device, non_blocking=True))
        x, y = _to_device(x, device, channels_last), y.to(device, non_blocking=True)
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
        with _autocast(device, amp):
            logits = model(x)
            loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        scaled = loss if loss_scale is None or loss_scale[step] == 1 else loss * loss_scale[step]
        if scaler is not None and scaler.is_enabled():
            scaler.scale(scaled).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            scaled.backward()
            optimizer.step()
        n = len(y)
        total_loss += float(loss.detach()) * n
        correct += int((logits_to_probs(logits.detach()).argmax(1) == y).sum())
        seen += n
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}", refresh=False)
    bar.close()
    lr = float(optimizer.param_groups[0]["lr"]) if optimizer.param_groups else float("nan")
    return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1), "n": seen, "lr": lr}


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: Batches,
    device: torch.device,
    *,
    criterion: nn.Module | None = None,
    amp: bool = False,
    channels_last: bool = False,
    desc: str = "eval",
    progress: bool = False,
    tta: bool = False,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Run ``model`` in eval mode over ``loader``.

    With ``tta`` (image batches), the class probabilities are the mean over the image and
    its 3 flips (:data:`TTA_FLIPS`); the loss is that of the image itself.

    Returns:
        ``(labels (N,), class probabilities (N, K), mean loss)``; the loss is NaN
        without ``criterion``.
    """
    model.eval()
    labels, probs = [], []
    total_loss, seen = 0.0, 0
    for x, y in _batches(loader, desc, progress):
        x, y = _to_device(x, device, channels_last), y.to(device, non_blocking=True)
        with _autocast(device, amp):
            logits = model(x)
            p = logits_to_probs(logits)
            for dims in TTA_FLIPS if tta else ():
                p = p + logits_to_probs(model(torch.flip(x, dims)))
        if criterion is not None:
            total_loss += float(criterion(logits.float(), y)) * len(y)
        seen += len(y)
        labels.append(y.cpu())
        probs.append((p / (1 + len(TTA_FLIPS)) if tta else p).cpu())
    loss = total_loss / seen if criterion is not None and seen else float("nan")
    return torch.cat(labels).numpy(), torch.cat(probs).double().numpy(), loss


def evaluate(
    model: nn.Module,
    loader: Batches,
    criterion: nn.Module,
    device: torch.device,
    *,
    amp: bool = False,
    channels_last: bool = False,
    desc: str = "val",
    progress: bool = False,
) -> dict[str, float]:
    """Validation loss, accuracy and balanced accuracy (mean per-class recall) of ``model``.

    Returns:
        ``{"loss", "acc", "balanced_acc"}``.
    """
    y, probs, loss = predict(
        model,
        loader,
        device,
        criterion=criterion,
        amp=amp,
        channels_last=channels_last,
        desc=desc,
        progress=progress,
    )
    return scores(y, probs, loss)


def scores(y: np.ndarray, probs: np.ndarray, loss: float) -> dict[str, float]:
    """``{"loss", "acc", "balanced_acc"}`` of labels ``y`` and class probabilities ``probs``.

    Example:
        >>> scores(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]), 0.5)
        {'loss': 0.5, 'acc': 0.5, 'balanced_acc': 0.5}
    """
    pred = probs.argmax(1)
    return {
        "loss": loss,
        "acc": float(np.mean(pred == y)),
        "balanced_acc": float(balanced_accuracy_score(y, pred)),
    }


@torch.no_grad()
def extract_features(
    backbone: nn.Module,
    loader: Batches,
    device: torch.device,
    *,
    amp: bool = False,
    channels_last: bool = False,
    desc: str = "features",
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a frozen ``backbone`` (eval mode) over ``loader`` once.

    Returns:
        ``(features (N, D) float32 on CPU, labels (N,) int64)``.
    """
    was_training = backbone.training
    backbone.eval()
    feats, labels = [], []
    for x, y in _batches(loader, desc, progress):
        with _autocast(device, amp):
            f = backbone(_to_device(x, device, channels_last))
        feats.append(torch.flatten(f, 1).float().cpu())
        labels.append(y)
    backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels)
