"""Checkpoints: atomic writes, and loads restricted to tensors and primitive containers.

Checkpoints are loaded with ``torch.load(weights_only=True)``, which refuses arbitrary
pickled objects; so everything stored must be tensors, numbers, strings, None, lists,
tuples or dicts (configuration as a plain dict, RNG states as tensors).
"""

from __future__ import annotations

import warnings
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
        RunError: The file is missing, empty, truncated, not a checkpoint, holds objects
            other than tensors and primitive containers, or has no ``model`` weights.
        OSError: The file cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint {path} not found")
    if path.stat().st_size == 0:
        raise RunError(f"cannot load checkpoint {path}: the file is empty (interrupted copy or full disk?)")
    try:
        with warnings.catch_warnings():  # garbage bytes read as an unknown pickle protocol warn first
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, KeyError... on bad bytes
        words = str(exc).split()
        reason = " ".join(words[:30]) + (" ..." if len(words) > 30 else "")
        if isinstance(exc, (KeyError, IndexError, ValueError, EOFError)) or not reason:
            reason = f"{type(exc).__name__} {reason}".strip()
        raise RunError(f"cannot load checkpoint {path}: truncated or not a PyTorch checkpoint ({reason})") from None
    if not isinstance(ckpt, dict):
        raise RunError(f"{path} is not a skinbench checkpoint (a {type(ckpt).__name__}, not a dict)")
    if not isinstance(ckpt.get("model"), dict):
        raise RunError(f"{path} is not a skinbench checkpoint: it holds no model weights")
    return ckpt


def load_weights(model: torch.nn.Module, ckpt: dict[str, Any], path: str | Path) -> None:
    """Load ``ckpt["model"]`` into ``model``.

    Raises:
        RunError: The weights do not fit the model (another model, task or image size),
            naming ``path``.
    """
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise RunError(f"the weights in {path} do not fit the run's model ({first[:200]})") from None


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
