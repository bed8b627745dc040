"""The optimizer of a phase and its learning rate per step (warm-up, cosine decay).

The learning rate is a pure function of the step within the phase (:func:`lr_factor`),
set on the optimizer before every step, so no scheduler state has to be saved: a resumed
run recomputes it from the epoch it continues with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from skinbench.config import TrainConfig

__all__ = ["lr_factor", "lr_schedule", "make_optimizer"]


def make_optimizer(config: TrainConfig, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """``Adam`` (weight decay as L2, one parameter group, as before recipes) or ``AdamW``.

    AdamW decays the weights of multi-dimensional parameters (convolutions, linear
    layers) and not biases or normalisation weights, the usual practice.

    Example:
        >>> net = nn.Linear(2, 2)
        >>> opt = make_optimizer(TrainConfig(data="d", out="r", optimizer="adamw"), net.parameters(), 1e-3)
        >>> type(opt).__name__, [g["weight_decay"] for g in opt.param_groups]
        ('AdamW', [0.05, 0.0])
    """
    params = list(params)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=config.weight_decay)
    decay = [p for p in params if p.dim() > 1]
    rest = [p for p in params if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def lr_factor(schedule: str, warmup_epochs: int, epochs: int, step: int, steps_per_epoch: int) -> float:
    """The share of the phase's learning rate at ``step`` (0 = the phase's first step).

    Linear warm-up over the first ``warmup_epochs`` epochs (from ``1/warm`` to 1), then 1
    (``constant``) or a cosine from 1 down to 0 at the end of the phase's ``epochs`` epochs.

    Example:
        >>> [round(lr_factor("cosine", 1, 3, s, 2), 3) for s in range(6)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
        >>> lr_factor("constant", 0, 3, 5, 2)
        1.0
    """
    warm = warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    span = max(epochs * steps_per_epoch - warm, 1)
    return 0.5 * (1 + math.cos(math.pi * min((step - warm) / span, 1.0)))


def lr_schedule(
    config: TrainConfig, base_lr: float, epochs: int, phase_epoch: int, steps_per_epoch: int
) -> Callable[[int], float] | None:
    """The learning rate of each step of epoch ``phase_epoch`` (0-based) of a phase; None when constant.

    Example:
        >>> c = TrainConfig(data="d", out="r", schedule="cosine", warmup_epochs=0)
        >>> lr_schedule(c, 0.1, 2, 1, 2)(0)
        0.05
    """
    if config.schedule == "constant" and not config.warmup_epochs:
        return None
    first = phase_epoch * steps_per_epoch

    def lr_at(step: int) -> float:
        return base_lr * lr_factor(config.schedule, config.warmup_epochs, epochs, first + step, steps_per_epoch)

    return lr_at
