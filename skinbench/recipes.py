"""Training recipes: named sets of defaults for how a model is trained (one home).

A recipe fills the :class:`~skinbench.config.TrainConfig` fields of :data:`RECIPE_FIELDS`
that were not given explicitly; an explicit value (a flag, a keyword) always wins, and
``config.json`` records the recipe's name and every resolved value.

* ``strong`` (the default of new runs): the field's best practice for dermoscopy
  (the ISIC 2019 winning entries): flips both ways, any rotation, zoom and shift and a
  mild colour jitter, applied per batch on tensors (:class:`~skinbench.data.augment.BatchAugment`);
  class-balanced cross-entropy (inverse-frequency weights) with label smoothing 0.1;
  AdamW with one epoch of linear warm-up and cosine decay; flip test-time augmentation;
  model selection on validation balanced accuracy (mean per-class recall).
* ``paper``: what the paper (Mamun et al.) states: Adam (eq. 5), flips and rotations,
  binary cross-entropy (eq. 4, here one-vs-rest sigmoid BCE on one-hot targets, as a
  7-class problem needs), no class weighting, model selection on validation accuracy.
  What it does not state (learning rate, epochs, rotation range) is chosen here and
  documented in ``docs/skinbench/training.md``.
* ``legacy``: skinbench before recipes existed (per-image flips and any rotation with
  black corners, unweighted cross-entropy, Adam at a constant learning rate, and a frozen
  head phase even on a random backbone). Run folders whose ``config.json`` has no
  ``recipe`` were trained this way and load as ``legacy``.

Plain data only (no torch), so :mod:`skinbench.config` can import it.

Example:
    >>> RECIPES["strong"]["optimizer"], RECIPES["paper"]["loss"], RECIPES["legacy"]["augment"]
    ('adamw', 'bce', 'legacy')
    >>> sorted(AUGMENTATIONS["flip_rotate"])
    ['hflip', 'rotation', 'vflip']
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AUGMENTATIONS",
    "CHOICES",
    "CLASS_BALANCES",
    "DEFAULT_RECIPE",
    "LOSSES",
    "OPTIMIZERS",
    "RECIPES",
    "RECIPE_FIELDS",
    "SCHEDULES",
    "TTAS",
]

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine")
#: ``ce``: softmax cross-entropy; ``bce``: one sigmoid BCE per class on one-hot targets
#: (the binary task always uses BCE on its one logit, eq. 4).
LOSSES = ("ce", "bce")
#: ``loss``: inverse-frequency class weights in the loss; ``sqrt``: their square roots
#: (a milder balance that keeps more of the accuracy on the common classes); ``sampler``:
#: batches drawn with probability inverse to the class frequency (with replacement),
#: unweighted loss.
CLASS_BALANCES = ("none", "loss", "sqrt", "sampler")
#: ``flip``: average the class probabilities over the 4 flips (none, left-right,
#: top-bottom, both) at test-time evaluation.
TTAS = ("none", "flip")

#: Augmentation presets: keyword arguments of :class:`~skinbench.data.augment.BatchAugment`,
#: applied to each training batch on the device before normalisation. ``legacy`` is the
#: per-image torchvision pipeline of :func:`skinbench.data.make_transform` (flips and a
#: rotation by any angle, black corners), run in the dataset instead.
AUGMENTATIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "legacy": {},
    "flip_rotate": {"hflip": True, "vflip": True, "rotation": 180.0},
    "strong": {
        "hflip": True,
        "vflip": True,
        "rotation": 180.0,
        "scale": (0.9, 1.5),
        "translate": 0.1,
        "brightness": 0.2,
        "contrast": 0.2,
        "saturation": 0.2,
        "hue": 0.02,
    },
}

#: The recipes, field by field (see the module docstring and docs/skinbench/training.md).
RECIPES: dict[str, dict[str, Any]] = {
    "strong": {
        "optimizer": "adamw",
        "weight_decay": 0.05,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "loss": "ce",
        "label_smoothing": 0.1,
        "class_balance": "loss",
        "augment": "strong",
        "tta": "flip",
        "monitor": "val_balanced_acc",
        "force_frozen_random": False,
    },
    "paper": {
        "optimizer": "adam",
        "weight_decay": 0.0,
        "schedule": "constant",
        "warmup_epochs": 0,
        "loss": "bce",
        "label_smoothing": 0.0,
        "class_balance": "none",
        "augment": "flip_rotate",
        "tta": "none",
        "monitor": "val_acc",
        "force_frozen_random": False,
    },
    "legacy": {
        "optimizer": "adam",
        "weight_decay": 0.0,
        "schedule": "constant",
        "warmup_epochs": 0,
        "loss": "ce",
        "label_smoothing": 0.0,
        "class_balance": "none",
        "augment": "legacy",
        "tta": "none",
        "monitor": "val_balanced_acc",
        "force_frozen_random": True,
    },
}

DEFAULT_RECIPE = "strong"

#: The configuration fields a recipe sets (the same in every recipe).
RECIPE_FIELDS: tuple[str, ...] = tuple(RECIPES[DEFAULT_RECIPE])

#: The allowed values of the recipe fields that are names.
CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "loss": LOSSES,
    "class_balance": CLASS_BALANCES,
    "augment": tuple(AUGMENTATIONS),
    "tta": TTAS,
}
