"""``skinbench train``: its arguments and handler (argparse only; :mod:`skinbench.cli` adds it).

The training flags whose defaults come from ``--recipe`` are generated from
:data:`skinbench.recipes.RECIPES`, so their help always names each recipe's value.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from skinbench.recipes import CHOICES, DEFAULT_RECIPE, RECIPES

if TYPE_CHECKING:
    from skinbench.config import TrainConfig

__all__ = ["add_train_command", "train_config"]

#: The recipe flags: (flag, field, type or None for a choice, help).
_RECIPE_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--optimizer", "optimizer", None, "Adam, or AdamW (decoupled weight decay)"),
    ("--weight-decay", "weight_decay", float, "weight decay"),
    ("--schedule", "schedule", None, "learning rate per step: constant, or cosine decay to 0 per phase"),
    ("--warmup-epochs", "warmup_epochs", int, "epochs of linear warm-up at the start of each phase"),
    ("--loss", "loss", None, "dx task: softmax cross-entropy, or one-vs-rest sigmoid BCE"),
    ("--label-smoothing", "label_smoothing", float, "label smoothing in [0, 1)"),
    (
        "--class-balance",
        "class_balance",
        None,
        "class weights in the loss (loss: 1/frequency, sqrt: its root), or sampling",
    ),
    ("--augment", "augment", None, "training augmentation preset (see docs: Recipes)"),
    ("--tta", "tta", None, "test-time augmentation: average over the 4 flips"),
    ("--monitor", "monitor", None, "validation metric that picks best.pt and stops early"),
)


def _recipe_defaults(name: str) -> str:
    values = ", ".join(f"{recipe} {RECIPES[recipe][name]}" for recipe in RECIPES)
    return f"(default from --recipe: {values})"


def add_train_command(sub: Any) -> None:
    """Add the ``train`` sub-command to ``sub`` (the sub-parsers of :func:`skinbench.cli.build_parser`)."""
    from skinbench.config import MONITORS, TASKS, TrainConfig

    d = TrainConfig(data="", out="")
    p = sub.add_parser(
        "train",
        help="train a model (custom_cnn, resnet50_tl or any torchvision classifier) and evaluate it",
        description="Train on the lesion-level split of a HAM10000 folder into the run folder --out "
        "(config.json, split.csv, history.csv, last.pt, best.pt, metrics.json), then evaluate on the "
        "test split. --recipe sets the defaults of the training flags (strong: the field's best practice; "
        "paper: what the paper states); explicit flags win. Transfer models with ImageNet weights train "
        "the new head on cached features of the frozen backbone, then fine-tune the last backbone stage(s) "
        "at --finetune-lr; without weights (--no-pretrained) they train end to end.",
        argument_default=argparse.SUPPRESS,
    )
    add = p.add_argument
    add("--data", required=True, help="dataset folder holding HAM10000_metadata.csv")
    add("--model", required=True, help="custom_cnn, resnet50_tl or a torchvision model name")
    add("--out", required=True, help="run folder")
    add("--recipe", choices=tuple(RECIPES), help=f"training recipe (default: {DEFAULT_RECIPE})")
    add("--task", choices=TASKS, help=f"dx (7 classes) or binary (malignant) (default: {d.task})")
    add("--image-size", type=int, dest="image_size", help=f"pixels (default: {d.image_size})")
    add("--epochs", type=int, help=f"epochs of the main/fine-tuning phase (default: {d.epochs})")
    add("--head-epochs", type=int, dest="head_epochs", help="frozen-backbone epochs (default: 5 with weights, else 0)")
    add("--batch-size", type=int, dest="batch_size", help=f"default: {d.batch_size}")
    add("--lr", type=float, help=f"peak learning rate (default: {d.lr})")
    add("--finetune-lr", type=float, dest="finetune_lr", help=f"fine-tuning learning rate (default: {d.finetune_lr})")
    for flag, field, kind, text in _RECIPE_FLAGS:
        choices = MONITORS if field == "monitor" else CHOICES.get(field)
        add(flag, dest=field, type=kind, choices=choices, help=f"{text} {_recipe_defaults(field)}")
    add("--unfreeze-stages", type=int, dest="unfreeze_stages", help=f"default: {d.unfreeze_stages}")
    add("--class-weights", action="store_true", dest="class_weights", help="alias of --class-balance loss")
    add("--no-pretrained", action="store_false", dest="pretrained", help="transfer models: random weights, end to end")
    add("--force-frozen-random", action="store_true", dest="force_frozen_random", help="allow head epochs on random")
    add("--no-cache-features", action="store_false", dest="cache_features", help="run the frozen backbone every epoch")
    add("--seed", type=int, help=f"default: {d.seed}")
    add("--patience", type=int, help=f"early stopping, 0 = off (default: {d.patience})")
    add("--num-workers", type=int, dest="num_workers", help="loader workers (default: -1, auto from device and cores)")
    add("--threads", type=int, help="torch CPU threads (default: 0, auto: 1 with 2 cores or fewer per process)")
    add("--device", help="auto, cpu or cuda (default: auto)")
    add("--no-amp", action="store_false", dest="amp", help="no mixed precision on CUDA")
    add("--cache-dir", dest="cache_dir", help="decoded-image cache (default: ~/.cache/skinbench)")
    add("--no-progress", action="store_false", dest="progress", help="no bars (epoch lines stay)")
    add("--skip", action="append", metavar="IMAGE_ID", help="leave out an undecodable image (repeatable)")
    add("--split", dest="split_file", metavar="FILE", help="split CSV of skinbench split (default: new)")
    add("--resume", action="store_true", help="continue the run in --out from last.pt")
    add("--dist-backend", help="under torchrun: auto (nccl on CUDA, else gloo), nccl or gloo")
    p.set_defaults(func=_run_train)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of ``skinbench train``: the recipe's defaults (or the saved run on --resume) plus given flags.

    Raises:
        skinbench.errors.ConfigError: ``--class-weights`` with another ``--class-balance``.
    """
    from skinbench.config import TrainConfig
    from skinbench.errors import ConfigError
    from skinbench.rundir import RunDir

    given = {k: v for k, v in vars(args).items() if k not in ("command", "func")}
    if given.get("class_weights") and given.get("class_balance", "loss") != "loss":
        raise ConfigError(f"--class-weights means --class-balance loss, not {given['class_balance']}")
    if given.get("resume"):
        return RunDir(given["out"]).resume_config(given)
    return TrainConfig(**given)


def _run_train(args: argparse.Namespace) -> int:
    """Handler of ``skinbench train`` (also each process of ``torchrun ... -m skinbench train``)."""
    from skinbench.train import train_command

    return train_command(train_config(args))
