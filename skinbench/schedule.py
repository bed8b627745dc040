"""A run's schedule (its phases) and where the training loop is in it (:class:`LoopState`).

Plain Python, no tensors: :class:`LoopState` goes into ``last.pt`` as a dict of
primitives, so ``torch.load(weights_only=True)`` reads it back and ``--resume``
continues from the next epoch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from skinbench.config import TrainConfig
from skinbench.models import is_transfer

__all__ = ["LoopState", "Phase", "plan_phases"]


@dataclass(frozen=True)
class Phase:
    """One training phase.

    Attributes:
        name: ``"full"`` (every layer), ``"head"`` (frozen backbone) or ``"finetune"``.
        epochs: Maximum epochs of the phase.
        lr: Peak learning rate of the phase.
    """

    name: str
    epochs: int
    lr: float


def plan_phases(config: TrainConfig) -> list[Phase]:
    """The phases a run of ``config`` goes through.

    ``custom_cnn``, and a transfer model without pretrained weights (unless
    ``force_frozen_random``): one phase ``full`` (``epochs`` at ``lr``, every layer).
    Transfer models with weights: ``head`` (``head_epochs`` at ``lr``, backbone frozen),
    then ``finetune`` (``epochs`` at ``finetune_lr``); see :mod:`skinbench.train`.

    Example:
        >>> [p.name for p in plan_phases(TrainConfig(data="d", out="r", model="resnet18"))]
        ['head', 'finetune']
        >>> [p.name for p in plan_phases(TrainConfig(data="d", out="r", model="resnet18", pretrained=False))]
        ['full']
    """
    if not is_transfer(config.model) or not (config.pretrained or config.force_frozen_random):
        return [Phase("full", config.epochs, config.lr)]
    return [Phase("head", config.head_epochs, config.lr), Phase("finetune", config.epochs, config.finetune_lr)]


def _better(value: float, best: float | None, monitor: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best if monitor == "val_loss" else value > best


@dataclass
class LoopState:
    """Where the training loop is; saved in ``last.pt`` as a plain dict (see :meth:`to_dict`).

    Attributes:
        epoch: Epochs done, over all phases.
        phase: Index of the current phase in :func:`plan_phases`.
        phase_epoch: Epochs done in the current phase.
        phase_best: Best monitored value of the current phase (early stopping).
        bad_epochs: Epochs of the current phase since ``phase_best`` last improved.
        stopped: Early stopping ended the current phase.
        best: Best monitored value of the run (``best.pt``).
        best_epoch: Epoch of ``best``.
        history: One row per epoch, keys :data:`HISTORY_COLUMNS`.
        timings: One-off costs in seconds (phase 1 feature extraction).
    """

    epoch: int = 0
    phase: int = 0
    phase_epoch: int = 0
    phase_best: float | None = None
    bad_epochs: int = 0
    stopped: bool = False
    best: float | None = None
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The state as primitives (``torch.load(weights_only=True)`` reads them back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopState:
        """Read :meth:`to_dict` output (also the ``state`` dict of older ``last.pt`` files)."""
        return cls(**d)

    def record(self, row: dict[str, Any], monitor: str, patience: int) -> bool:
        """Add an epoch's history row; update the best value and early stopping.

        Returns:
            Whether the epoch is the best of the run so far (``best.pt`` is due).
        """
        self.history.append(row)
        self.epoch = row["epoch"]
        self.phase_epoch += 1
        value = row[monitor]
        improved = _better(value, self.best, monitor)
        if improved:
            self.best, self.best_epoch = value, self.epoch
        if _better(value, self.phase_best, monitor):
            self.phase_best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
            self.stopped = 0 < patience <= self.bad_epochs
        return improved

    def next_phase(self) -> None:
        """Move to the next phase, with fresh early-stopping counters."""
        self.phase += 1
        self.phase_epoch, self.phase_best, self.bad_epochs, self.stopped = 0, None, 0, False
