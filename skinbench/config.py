"""Training configuration: one dataclass, stored as plain JSON in each run folder."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skinbench.atomic import write_json
from skinbench.errors import ConfigError
from skinbench.recipes import CHOICES, DEFAULT_RECIPE, RECIPES

__all__ = ["MIN_IMAGE_SIZE", "MONITORS", "RESUMABLE_CHANGES", "TASKS", "ConfigError", "TrainConfig", "check_device"]

TASKS = ("dx", "binary")
MONITORS = ("val_balanced_acc", "val_acc", "val_loss")

#: Smallest image side: custom_cnn's three 2x2 max-pools need 8 px (torchvision models would
#: run on less, but every feature map would be padding).
MIN_IMAGE_SIZE = 8

#: Device names a run accepts: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")

#: Fields that hold paths; stored absolute so a run folder works from any working folder.
_PATHS = ("data", "cache_dir", "split_file")

#: Fields that may differ between a run's config.json and its resume or re-evaluation:
#: where the data and run folder are, how long to train, and how to run (not what).
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
        "dist_backend",
        "world_size",
        "per_rank_batch_size",
    }
)

#: Fields that training resolves and saves; a resumed run keeps the saved values.
_RESOLVED = ("mean", "std", "amp", "channels_last", "pretrained", "notes")

#: Default of the fields a recipe sets (see :mod:`skinbench.recipes`): filled in by
#: ``__post_init__`` unless given. Typed ``Any`` so the fields keep their own types.
_FROM_RECIPE: Any = None

#: Head epochs of a transfer model with pretrained weights when not given.
DEFAULT_HEAD_EPOCHS = 5


@dataclass
class TrainConfig:
    """Everything one training run depends on.

    Transfer models (every model but ``custom_cnn``) with pretrained weights train in two
    phases: ``head_epochs`` epochs of the new head on cached backbone features at ``lr``,
    then ``epochs`` epochs of fine-tuning the last ``unfreeze_stages`` backbone stages plus
    the head at ``finetune_lr``. ``custom_cnn``, and a transfer model without pretrained
    weights, train all their layers for ``epochs`` epochs at ``lr`` (one phase, ``full``).

    The fields of :data:`skinbench.recipes.RECIPE_FIELDS` that are not given come from
    ``recipe`` (given values win); ``config.json`` records the recipe and every value.

    Attributes:
        data: HAM10000 folder (``HAM10000_metadata.csv`` plus images).
        out: Run folder for config.json, split.csv, history.csv, checkpoints, metrics.json.
        model: Model name, see :func:`skinbench.models.available_models`.
        task: ``"dx"`` (7 classes) or ``"binary"`` (malignant vs benign, BCE on one logit).
        recipe: ``strong``, ``paper`` or ``legacy`` (:data:`skinbench.recipes.RECIPES`): the
            defaults of the training fields below that are not given.
        image_size: Side of the square training images in pixels.
        epochs: Epochs of the main phase (fine-tuning for transfer models).
        head_epochs: Epochs of phase 1 (frozen backbone) for transfer models; when not
            given, 5 with pretrained weights (or ``force_frozen_random``), else 0.
        batch_size: Mini-batch size.
        lr: Peak learning rate (phase 1 for transfer models).
        finetune_lr: Learning rate of phase 2, lower so pretrained layers move slowly.
        weight_decay: Weight decay (Adam: L2 in the gradient; AdamW: decoupled, not on
            biases and normalisation weights).
        unfreeze_stages: Backbone stages unfrozen in phase 2, counted from the output.
        class_weights: Alias of ``class_balance="loss"`` (older runs, ``--class-weights``);
            resolved to whether ``class_balance`` is ``loss``.
        pretrained: Start transfer models from ImageNet weights (error when unavailable);
            resolved to False for ``custom_cnn``.
        cache_features: Train phase 1 on backbone features computed once (no augmentation
            in that phase) instead of running the frozen backbone every epoch.
        seed: Seed of the split, the initial weights, shuffling, augmentation and dropout.
        fractions: Train/val/test fractions of the lesion-level split.
        monitor: Validation metric that picks best.pt and drives early stopping.
        patience: Epochs without improvement of ``monitor`` before a phase stops; 0 disables.
        num_workers: DataLoader worker processes; -1: chosen from the device and cores
            (:func:`skinbench.resources.auto_workers`), resolved by training.
        threads: torch CPU threads; 0: chosen from the cores per process
            (:func:`skinbench.resources.auto_threads`), resolved by training.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        amp: Mixed precision (CUDA only; resolved to False elsewhere).
        channels_last: channels_last memory format (CUDA only; resolved to False elsewhere).
        cache_dir: Folder for decoded, resized images reused across runs; None uses
            :func:`skinbench.data.default_cache_dir` (``$SKINBENCH_CACHE`` or ~/.cache/skinbench).
        progress: Show tqdm progress bars.
        resume: Continue the run in ``out`` from its last.pt.
        dist_backend: torch.distributed backend under torchrun: ``auto`` (NCCL on CUDA,
            else Gloo), ``nccl`` or ``gloo`` (see :mod:`skinbench.distributed`).
        world_size: Processes that trained the run (last launch); resolved by training.
        per_rank_batch_size: ``batch_size / world_size``, the batch of each process;
            ``batch_size`` is the global batch. Resolved by training.
        skip: image_ids left out of the dataset (e.g. JPEGs that cannot be decoded).
        split_file: A split CSV written by ``skinbench split`` to use instead of making
            one; copied into the run folder as ``split.csv``. None: split with
            ``fractions`` and ``seed``.
        optimizer, schedule, warmup_epochs, loss, label_smoothing, class_balance, augment,
            tta: See :data:`skinbench.recipes.CHOICES` and docs/skinbench/training.md.
        force_frozen_random: Allow a frozen head phase on a random backbone (else refused).
        notes: Why a recorded value differs from what was asked (resolved by training).
        mean: Per-channel normalisation mean; resolved by training (None until then).
        std: Per-channel normalisation std; resolved by training.
    """

    data: str
    out: str
    model: str = "custom_cnn"
    task: str = "dx"
    recipe: str = DEFAULT_RECIPE
    image_size: int = 224
    epochs: int = 20
    head_epochs: int = _FROM_RECIPE
    batch_size: int = 32
    lr: float = 1e-3
    finetune_lr: float = 1e-4
    weight_decay: float = _FROM_RECIPE
    unfreeze_stages: int = 1
    class_weights: bool = _FROM_RECIPE
    pretrained: bool = True
    cache_features: bool = True
    seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    monitor: str = _FROM_RECIPE
    patience: int = 5
    num_workers: int = -1
    threads: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    cache_dir: str | None = None
    progress: bool = True
    resume: bool = False
    skip: list[str] = field(default_factory=list)
    split_file: str | None = None
    dist_backend: str = "auto"
    world_size: int = 1
    per_rank_batch_size: int | None = None
    optimizer: str = _FROM_RECIPE
    schedule: str = _FROM_RECIPE
    warmup_epochs: int = _FROM_RECIPE
    loss: str = _FROM_RECIPE
    label_smoothing: float = _FROM_RECIPE
    class_balance: str = _FROM_RECIPE
    augment: str = _FROM_RECIPE
    tta: str = _FROM_RECIPE
    force_frozen_random: bool = _FROM_RECIPE
    notes: dict[str, str] = field(default_factory=dict)
    mean: list[float] | None = field(default=None)
    std: list[float] | None = field(default=None)

    def __post_init__(self) -> None:
        """Fill the fields not given from the recipe (and ``head_epochs``, ``class_weights``)."""
        if self.recipe not in RECIPES:
            raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        if self.class_balance is None and self.class_weights:
            self.class_balance = "loss"  # --class-weights, and runs from before class_balance
        for name, value in RECIPES[self.recipe].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.class_weights = self.class_balance == "loss"
        if self.head_epochs is None:  # custom_cnn (models.is_transfer) has no head phase
            frozen_ok = self.model != "custom_cnn" and (self.pretrained or self.force_frozen_random)
            self.head_epochs = DEFAULT_HEAD_EPOCHS if frozen_ok else 0

    def validate(self) -> None:
        """Check value ranges.

        Raises:
            ConfigError: The first invalid value, in one line.
        """
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.monitor not in MONITORS:
            raise ConfigError(f"monitor must be one of {', '.join(MONITORS)}, got {self.monitor!r}")
        if self.image_size < MIN_IMAGE_SIZE:
            raise ConfigError(
                f"image_size must be at least {MIN_IMAGE_SIZE} px (custom_cnn's three 2x2 max-pools), "
                f"got {self.image_size}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
        if self.batch_size < 2 and self.model != "custom_cnn":
            raise ConfigError(
                f"batch_size must be at least 2 for {self.model}: its BatchNorm layers train on batch statistics"
            )
        for name in ("epochs", "head_epochs", "patience", "threads", "unfreeze_stages", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.num_workers < -1:
            raise ConfigError(f"num_workers must be >= 0 (or -1: auto), got {self.num_workers}")
        self._validate_training()
        for name in ("lr", "finetune_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive finite number, got {value}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        check_device(self.device)
        if self.dist_backend not in ("auto", "nccl", "gloo"):
            raise ConfigError(f"dist_backend must be one of auto, nccl, gloo, got {self.dist_backend!r}")
        if len(self.fractions) != 3 or abs(sum(self.fractions) - 1) > 1e-6 or min(self.fractions) <= 0:
            raise ConfigError(f"fractions must be three positive numbers summing to 1, got {self.fractions}")

    def _validate_training(self) -> None:
        """The recipe fields: known choices, label smoothing in [0, 1), no frozen random backbone."""
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not (math.isfinite(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        frozen_random = self.model != "custom_cnn" and not self.pretrained and self.head_epochs > 0
        if frozen_random and not self.force_frozen_random:
            raise ConfigError(
                f"{self.model} without pretrained weights: {self.head_epochs} head epochs would train a head on a "
                "frozen random backbone; leave out --head-epochs to train end to end, or pass --force-frozen-random"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-serialisable dict of primitives."""
        d = dataclasses.asdict(self)
        d["fractions"] = list(self.fractions)
        d["skip"] = list(self.skip)
        return d

    def with_absolute_paths(self) -> TrainConfig:
        """This configuration with ``data``, ``cache_dir`` and ``split_file`` as absolute paths.

        A run folder's ``config.json`` then works from any working folder
        (``skinbench evaluate RUN``, ``skinbench predict RUN ...``).

        Example:
            >>> TrainConfig(data="d", out="r").with_absolute_paths().data == str(Path("d").absolute())
            True
        """
        paths: dict[str, Any] = {k: _absolute(getattr(self, k)) for k in _PATHS}
        return dataclasses.replace(self, **paths)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build a configuration from :meth:`to_dict` output; unknown keys are an error.

        Raises:
            ConfigError: ``d`` has keys that are not configuration fields.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
        d = dict(d)
        if "fractions" in d:
            d["fractions"] = tuple(d["fractions"])
        return cls(**d)

    @classmethod
    def from_saved(cls, d: dict[str, Any]) -> TrainConfig:
        """A run's saved ``config.json``: as :meth:`from_dict`, but one without ``recipe`` is ``legacy``.

        Runs written before recipes existed were trained the legacy way (see
        :mod:`skinbench.recipes`), and their fields added since default to that.

        Example:
            >>> TrainConfig.from_saved({"data": "d", "out": "r", "class_weights": True}).augment
            'legacy'
        """
        return cls.from_dict(d if "recipe" in d else {**d, "recipe": "legacy"})

    def with_changes(self, given: Mapping[str, Any], *, run: str | Path) -> TrainConfig:
        """This saved configuration with the changes a resumed or re-evaluated run may make.

        Fields of ``given`` in :data:`RESUMABLE_CHANGES` replace the saved values; every
        other field of ``given`` must equal the saved one (``mean`` and ``std``, which
        training resolves, keep their saved values). ``given`` may hold every field
        (a whole :meth:`to_dict`) or only the ones set explicitly (command-line flags).

        Args:
            given: Field values asked for.
            run: The run folder, named in the error.

        Returns:
            The configuration to continue with.

        Raises:
            ConfigError: Unknown keys, or a field outside :data:`RESUMABLE_CHANGES` differs.

        Example:
            >>> saved = TrainConfig(data="d", out="r", lr=0.01)
            >>> saved.with_changes({"epochs": 30, "lr": 0.01}, run="r").epochs
            30
            >>> saved.with_changes({"lr": 0.5}, run="r")
            Traceback (most recent call last):
            ...
            skinbench.errors.ConfigError: cannot resume r: lr differ from its config.json
        """
        saved = self.to_dict()
        unknown = sorted(set(given) - set(saved))
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
        differ = [
            k
            for k, v in saved.items()
            if k in given
            and k not in RESUMABLE_CHANGES
            and k not in _RESOLVED
            and _plain(given[k], path=k in _PATHS) != _plain(v, path=k in _PATHS)
        ]
        if differ:
            raise ConfigError(f"cannot resume {run}: {', '.join(differ)} differ from its config.json")
        return dataclasses.replace(self, **{k: v for k, v in given.items() if k in RESUMABLE_CHANGES})

    def save(self, path: str | Path) -> None:
        """Write the configuration to ``path`` as indented JSON (atomically)."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a configuration written by :meth:`save` (see :meth:`from_saved`)."""
        return cls.from_saved(json.loads(Path(path).read_text()))


def _plain(value: Any, *, path: bool = False) -> Any:
    """``value`` as :meth:`TrainConfig.to_dict` stores it (tuples become lists, paths absolute)."""
    if path:
        return _absolute(value)
    return list(value) if isinstance(value, tuple) else value


def _absolute(value: str | None) -> str | None:
    return None if value is None else str(Path(value).expanduser().absolute())


def check_device(name: str) -> None:
    """Check that ``name`` is a device a run can use: auto, cpu, cuda, cuda:N or mps.

    Raises:
        ConfigError: Any other name, in one line.

    Example:
        >>> check_device("cuda:1")
        >>> check_device("gpu")
        Traceback (most recent call last):
        ...
        skinbench.errors.ConfigError: unknown device 'gpu' (expected auto, cpu, cuda, cuda:N or mps)
    """
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ConfigError(f"unknown device {name!r} (expected auto, cpu, cuda, cuda:N or mps)")
