"""The training loss of a run: cross-entropy or one-vs-rest BCE, class balance, label smoothing.

:func:`make_loss` reads the configuration: ``task`` (``binary``: BCE on one logit, eq. 4),
``loss`` (``ce`` softmax cross-entropy, or ``bce`` one sigmoid per class on one-hot
targets, as the paper's "binary cross-entropy" for 7 classes has to be read),
``class_balance`` (``loss``: inverse-frequency class weights; ``sqrt``: their square
roots) and ``label_smoothing``.
Without smoothing and with ``ce`` it is exactly the loss of runs before recipes
(:func:`skinbench.engine.make_criterion`), so those resume unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skinbench.config import TrainConfig
from skinbench.engine import BinaryBCE, inverse_frequency_weights

__all__ = ["ClassWeightedCrossEntropy", "OneVsRestBCE", "class_weights", "make_loss", "sample_weights"]


class ClassWeightedCrossEntropy(nn.Module):
    """Cross-entropy with label smoothing where each image counts ``weight[its label]`` times.

    ``nn.CrossEntropyLoss(weight=w, label_smoothing=e)`` weights the smoothing term of
    *every* image by the weights of *all* classes: with inverse-frequency weights an ``nv``
    image then pays for low probabilities of the rare classes as much as for its own label,
    which drags every prediction towards the rare classes (a confident, correct ``nv``
    prediction costs about 17 nats with HAM10000's weights). Here the smoothed loss of each
    image is weighted by its own class's weight, then averaged (weighted mean), which is
    what class-balancing means; without smoothing it equals ``nn.CrossEntropyLoss(weight=w)``.

    Example:
        >>> w = torch.tensor([0.2, 13.0, 13.0])
        >>> logits, y = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([0])
        >>> round(float(ClassWeightedCrossEntropy(w, 0.1)(logits, y)), 4)
        0.3026
        >>> round(float(nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(logits, y)), 4)
        17.5228
    """

    def __init__(self, weight: torch.Tensor, label_smoothing: float) -> None:
        super().__init__()
        self.label_smoothing = float(label_smoothing)
        self.weight: torch.Tensor
        self.register_buffer("weight", weight.float(), persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Weighted mean over the images of their label-smoothed cross-entropy."""
        per_image = F.cross_entropy(logits, target, label_smoothing=self.label_smoothing, reduction="none")
        w = self.weight[target]
        return (per_image * w).sum() / w.sum().clamp_min(1e-12)


class OneVsRestBCE(nn.Module):
    """Mean sigmoid BCE of every output against one-hot (or 0/1) targets.

    With ``weight``, each image's loss counts ``weight[label]`` times and the batch loss is
    the weighted mean (as ``nn.CrossEntropyLoss(weight=...)`` does). ``label_smoothing``
    ``e`` moves each target towards 1/2: ``t * (1 - e) + e / 2``.

    Args:
        num_outputs: Logits per image (1 for the binary task: one 0/1 target).
        weight: Per-class weights (``num_outputs`` values, 2 for the binary task), or None.
        label_smoothing: ``e`` in [0, 1).

    Example:
        >>> loss = OneVsRestBCE(3)
        >>> round(float(loss(torch.zeros(2, 3), torch.tensor([0, 2]))), 4)  # log 2
        0.6931
    """

    def __init__(self, num_outputs: int, weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.num_outputs = num_outputs
        self.label_smoothing = float(label_smoothing)
        self.weight: torch.Tensor | None
        self.register_buffer("weight", weight if weight is None else weight.float(), persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of logits ``(N, K)`` against integer labels ``(N,)``."""
        if self.num_outputs == 1:
            t = target.to(logits.dtype).view(-1, 1)
        else:
            t = F.one_hot(target, self.num_outputs).to(logits.dtype)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + self.label_smoothing / 2
        per_image = F.binary_cross_entropy_with_logits(logits, t, reduction="none").mean(dim=1)
        if self.weight is None:
            return per_image.mean()
        w = self.weight[target]
        return (per_image * w).sum() / w.sum().clamp_min(1e-12)


def make_loss(config: TrainConfig, train_labels: np.ndarray, num_classes: int) -> nn.Module:
    """The loss of a run of ``config`` (see the module docstring).

    Args:
        config: The run configuration (``task``, ``loss``, ``class_balance``, ``label_smoothing``).
        train_labels: Labels of the training split, for the inverse-frequency weights.
        num_classes: Classes of the task (2 for binary).

    Example:
        >>> c = TrainConfig(data="d", out="r", loss="ce", class_balance="none", label_smoothing=0.1)
        >>> make_loss(c, np.array([0, 1, 1]), 7)
        CrossEntropyLoss()
    """
    smoothing = config.label_smoothing
    if config.task == "binary":
        if not smoothing and config.class_balance != "sqrt":  # as before recipes: pos_weight = n_neg / n_pos
            n_pos = int(np.sum(train_labels == 1))
            return BinaryBCE((len(train_labels) - n_pos) / max(n_pos, 1) if config.class_balance == "loss" else None)
        return OneVsRestBCE(1, class_weights(config.class_balance, train_labels, 2), smoothing)
    weight = class_weights(config.class_balance, train_labels, num_classes)
    if config.loss == "bce":
        return OneVsRestBCE(num_classes, weight, smoothing)
    if weight is not None and smoothing:
        return ClassWeightedCrossEntropy(weight, smoothing)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing)


def class_weights(class_balance: str, train_labels: np.ndarray, num_classes: int) -> torch.Tensor | None:
    """The loss's class weights for ``class_balance``: inverse frequency, its square root, or None.

    Example:
        >>> [round(w, 4) for w in class_weights("sqrt", np.array([0, 0, 0, 1]), 2).tolist()]
        [0.8165, 1.4142]
        >>> class_weights("sampler", np.array([0, 1]), 2) is None  # balanced by sampling instead
        True
    """
    if class_balance == "loss":
        return inverse_frequency_weights(train_labels, num_classes)
    if class_balance == "sqrt":
        return inverse_frequency_weights(train_labels, num_classes).sqrt()
    return None


def sample_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Per-image sampling weights ``1 / n_class`` (``class_balance="sampler"``): every class equally likely.

    Example:
        >>> sample_weights(np.array([0, 0, 0, 1]), 2).tolist()
        [0.3333333432674408, 0.3333333432674408, 0.3333333432674408, 1.0]
    """
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    return torch.tensor(1.0 / counts[np.asarray(labels)], dtype=torch.float32)
