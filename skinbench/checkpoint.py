"""Checkpoints: atomic writes, and loads restricted to tensors and primitive containers.

Checkpoints are loaded with ``torch.load(weights_only=True)``, which refuses arbitrary
pickled objects; so everything stored must be tensors, numbers, strings, None, lists,
tuples or dicts (configuration as a plain dict, RNG states as tensors).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from skinbench.atomic import atomic_path
from skinbench.errors import RunError


def save_checkpoint(obj: dict[str, Any], path: str | Path) -> None:
    """Write ``obj`` to ``path`` atomically (see :mod:`skinbench.atomic`).

    Args:
        obj: Tensors and primitive containers only (see the module docstring).
        path: Destination file.
    """
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises:
        RunError: The file is truncated, not a checkpoint, or holds objects other than
            tensors and primitive containers.
        OSError: The file cannot be read.
    """
    try:
        ckpt = torch.load(Path(path), map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        reason = " ".join(str(exc).split()[:30]) or type(exc).__name__
        raise RunError(f"cannot load checkpoint {path}: {reason}") from None
    if not isinstance(ckpt, dict):
        raise RunError(f"{path} is not a skinbench checkpoint (a {type(ckpt).__name__}, not a dict)")
    return ckpt


def rng_state() -> dict[str, Any]:
    """Return torch's CPU and CUDA random states as tensors."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore random states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
