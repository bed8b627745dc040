"""What a run actually uses: threads and workers picked from the machine, settings that apply.

CPU threads and loader workers are picked from the machine, and the settings that do
not apply to the run's model or device are resolved, before ``config.json`` is written.

**Threads** (``threads=0``, the default): one torch thread per process when a process has
2 cores or fewer, or when other processes leave it fewer than 2 idle cores (busy cores
measured over 0.2 s from ``/proc/stat`` at start; not the load average, which still
counts the previous run of a sweep for a minute); otherwise one per idle core of its
share. Measured on a 2-core machine shared by several processes (custom_cnn, batch 32,
64 px, the real 7,010 training images): an epoch took 248 s with torch's default of 2
threads and 66 s with 1 thread (3.7x faster). torch's intra-op threads spin while they
wait for each other, so a thread that has to share its core with another busy process
stalls the whole step; small convolutions gain little from a second thread anyway
(``benchmarks/train_speed.py`` measures 1 and 2 threads).

**Loader workers** (``num_workers=-1``, the default): 0 on CPU, where the batched
augmentation runs in the training loop and the dataset only copies uint8 arrays, so
worker processes would only take cores from the compute threads; on CUDA, up to 4
(one core per process stays with the main process), which keeps the GPU fed.

The picks and every other resolved value are recorded in ``config.json`` (the fields
themselves) with the reason in its ``notes``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

from skinbench.config import TrainConfig

__all__ = [
    "applied_config",
    "auto_threads",
    "auto_workers",
    "busy_cores",
    "local_processes",
    "run_lines",
    "usable_cores",
]


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def local_processes(world_size: int = 1) -> int:
    """Training processes on this machine: torchrun's ``LOCAL_WORLD_SIZE``, else ``world_size``."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))
    except ValueError:
        return max(1, world_size)


def busy_cores(interval: float = 0.2) -> float | None:
    """Cores busy with any work now: the non-idle share of ``/proc/stat`` over ``interval`` seconds; None off Linux."""

    def snapshot() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    try:
        idle0, total0 = snapshot()
        time.sleep(interval)
        idle1, total1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (1 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)


def auto_threads(cores: int, processes: int = 1, busy: float | None = None) -> tuple[int, str]:
    """Torch CPU threads per process for ``threads=0``, and why.

    Args:
        cores: Usable cores of the machine.
        processes: Training processes sharing them (torchrun's processes on this machine).
        busy: Cores busy with other work before training (:func:`busy_cores`); None: unknown.

    Example:
        >>> auto_threads(2)[0], auto_threads(16)[0], auto_threads(16, 4)[0], auto_threads(16, busy=15.2)[0]
        (1, 16, 4, 1)
    """
    share = cores // max(processes, 1)
    idle = share if busy is None else min(share, math.floor(max(cores - busy, 0) / max(processes, 1)))
    where = f"{cores} usable cores, {processes} process(es)" + ("" if busy is None else f", {busy:.1f} busy")
    if share <= 2:
        return 1, f"auto: 1 ({where}; one thread is fastest with 2 cores or fewer per process)"
    if idle < 2:
        return 1, f"auto: 1 ({where}; other processes leave fewer than 2 idle cores)"
    return idle, f"auto: {idle} ({where}; one per idle core)"


def auto_workers(device_type: str, cores: int, processes: int = 1) -> tuple[int, str]:
    """DataLoader workers per process for ``num_workers=-1``, and why.

    Example:
        >>> auto_workers("cpu", 2)[0], auto_workers("cuda", 16)[0], auto_workers("cuda", 2)[0]
        (0, 4, 1)
    """
    if device_type != "cuda":
        return 0, "auto: 0 (the augmentation runs per batch in the training loop; workers would take the cores)"
    workers = min(4, max(cores // max(processes, 1) - 1, 0))
    return workers, f"auto: {workers} ({cores} usable cores, {processes} process(es), one core kept for the loop)"


def applied_config(config: TrainConfig, device_type: str, processes: int = 1) -> TrainConfig:
    """``config`` with the values that apply to its model and device, and ``notes`` saying why.

    ``custom_cnn`` has no pretrained weights and no head phase; mixed precision and
    channels_last are CUDA-only; a transfer model without weights trains end to end, so
    its fine-tuning settings are unused; ``threads=0`` and ``num_workers=-1`` are picked
    from the machine (:func:`auto_threads`, :func:`auto_workers`).

    Example:
        >>> c = applied_config(TrainConfig(data="d", out="r", threads=1, num_workers=0), "cpu")
        >>> c.pretrained, c.amp, c.channels_last, sorted(c.notes)
        (False, False, False, ['amp', 'channels_last', 'pretrained'])
    """
    changes: dict[str, object] = {}
    notes: dict[str, str] = {}
    if config.model == "custom_cnn":
        if config.pretrained:
            changes["pretrained"], notes["pretrained"] = False, "custom_cnn has no pretrained weights"
        if config.head_epochs:
            changes["head_epochs"], notes["head_epochs"] = 0, "custom_cnn trains in one phase"
    elif not config.pretrained and not config.force_frozen_random:
        unused = "not used: without pretrained weights the model trains end to end (one phase at lr)"
        notes["finetune_lr"] = notes["unfreeze_stages"] = unused
    if device_type != "cuda":
        for name in ("amp", "channels_last"):
            if getattr(config, name):
                changes[name], notes[name] = False, f"off: CUDA only (device {device_type})"
    cores = usable_cores()
    if config.threads == 0:
        changes["threads"], notes["threads"] = auto_threads(cores, processes, busy_cores() if cores > 2 else None)
    if config.num_workers == -1:
        changes["num_workers"], notes["num_workers"] = auto_workers(device_type, cores, processes)
    return dataclasses.replace(config, **changes, notes=notes)  # type: ignore[arg-type]


def run_lines(config: TrainConfig) -> list[str]:
    """What training prints before the first epoch: recipe and resources, and a notice for random weights.

    Example:
        >>> run_lines(TrainConfig(data="d", out="r", model="resnet18", pretrained=False, threads=1))[1]
        'skinbench: notice: resnet18 starts from random initialisation (--no-pretrained); it trains end to end ...'
    """
    threads = config.notes.get("threads", str(config.threads))
    workers = config.notes.get("num_workers", str(config.num_workers))
    lines = [f"skinbench: recipe {config.recipe}; threads {threads}; loader workers {workers}"]
    if config.model != "custom_cnn" and not config.pretrained:
        how = (
            f"its head trains on the frozen random backbone first ({config.head_epochs} epochs, --force-frozen-random)"
            if config.force_frozen_random and config.head_epochs
            else "it trains end to end (every layer, one phase)"
        )
        lines.append(f"skinbench: notice: {config.model} starts from random initialisation (--no-pretrained); {how}")
    return lines
