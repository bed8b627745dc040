"""Checkpoints: atomic writes, and loads restricted to tensors and primitive containers.

Checkpoints are loaded with ``torch.load(weights_only=True)``, which refuses arbitrary
pickled objects; so everything stored must be tensors, numbers, strings, None, lists,
tuples or dicts (configuration as a plain dict, RNG states as tensors).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_checkpoint(obj: dict[str, Any], path: str | Path) -> None:
    """Write ``obj`` to ``path`` atomically.

    The data goes to a temporary file in the same folder, is flushed to disk, then
    renamed over ``path``; a kill at any moment leaves either the old or the new file,
    never a truncated one.

    Args:
        obj: Tensors and primitive containers only (see the module docstring).
        path: Destination file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    # Make the rename itself durable.
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``."""
    return torch.load(Path(path), map_location=map_location, weights_only=True)


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
