"""The cost of a model: parameters, MACs and FLOPs from flopcount, and measured speed.

Counts come from :func:`flopcount.profile` only (no second counter), on a meta-device
model (no weights, no memory). Speed is measured on a real model with random weights
(the values of the weights do not change the work done): inference latency at batch 1
and throughput at a larger batch, each after warm-up as the median of ``repeats``
timed calls (CUDA is synchronised around every call); peak memory on CUDA only
(``torch.cuda.max_memory_allocated``; ``None`` on CPU, where PyTorch has no allocator
statistics). Training time per epoch comes from a run's ``history.csv``.

Exported models (``skinbench export``) are measured the same way by
:func:`skinbench.deployed_cost.measure_exported`.
"""

from __future__ import annotations

import contextlib
import io
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from flopcount import profile
from skinbench.errors import ConfigError
from skinbench.models import TransferModel, build_model


@dataclass
class Counts:
    """flopcount's exact counts of one model at one input size (batch 1).

    Attributes:
        params: Total parameters.
        trainable: Parameters trained in the model's last phase (all for ``custom_cnn``;
            the head plus the last ``unfreeze_stages`` backbone stages for transfer models).
        macs: MACs, ``flopcount`` convention (every op).
        flops: FLOPs, ``flopcount`` convention (2 per MAC + bias, norm, activation, elementwise).
        macs_torchvision: MACs, ``torchvision`` convention (conv, linear, matmul, attention;
            torchvision's "GFLOPS").
        macs_paper: MACs, ``paper`` convention (eqs. 10-11: conv and dense only; the paper
            prints these as "FLOPs").
        coverage: Share of ops flopcount has a formula for (1.0: exact).
    """

    params: int
    trainable: int
    macs: int
    flops: int
    macs_torchvision: int
    macs_paper: int
    coverage: float


def _build(name: str, num_outputs: int, image_size: int, device: str | torch.device) -> nn.Module:
    with torch.device(device), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return build_model(name, num_outputs, pretrained=False, image_size=image_size)


def count(name: str, *, image_size: int = 224, num_outputs: int = 7, unfreeze_stages: int | None = 1) -> Counts:
    """Count a skinbench model with flopcount on the meta device.

    Args:
        name: Model name (see :func:`skinbench.models.available_models`).
        image_size: Side of the square input.
        num_outputs: Model outputs (7 for dx, 1 for binary).
        unfreeze_stages: Backbone stages trained in phase 2 of a transfer model (sets
            :attr:`Counts.trainable`); None counts every parameter as trainable.

    Returns:
        The counts.

    Example:
        >>> c = count("custom_cnn")
        >>> c.params, c.macs_paper, c.coverage
        (25785415, 531465984, 1.0)
    """
    model = _build(name, num_outputs, image_size, "meta")
    result = profile(model, input_shape=(1, 3, image_size, image_size))
    if isinstance(model, TransferModel) and unfreeze_stages is not None:
        model.unfreeze_last(unfreeze_stages)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Counts(
        params=int(result.total_params),
        trainable=int(trainable),
        macs=int(result.total_macs),
        flops=int(result.total_flops),
        macs_torchvision=int(result.using("torchvision").total_macs),
        macs_paper=int(result.using("paper").total_macs),
        coverage=float(result.coverage),
    )


@dataclass
class Speed:
    """Measured inference speed.

    Attributes:
        latency_ms: Median time of one forward pass at batch 1, milliseconds.
        throughput: Median images per second at batch ``batch``.
        batch: Batch size of the throughput measurement.
        repeats: Timed calls per median.
        peak_memory_mb: Peak allocated memory of the throughput batch (CUDA), else None.
        device: Where it was measured (CPU model and thread count, or the GPU name).
    """

    latency_ms: float
    throughput: float
    batch: int
    repeats: int
    peak_memory_mb: float | None
    device: str


def describe_device(device: torch.device) -> str:
    """A one-line name of ``device``: the GPU name, or CPU architecture and torch threads."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or platform.machine()
    return f"cpu: {cpu}, {torch.get_num_threads()} torch threads"


def timed_calls(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def measure_speed(
    model: nn.Module,
    image_size: int,
    *,
    device: str | torch.device = "cpu",
    batch: int = 32,
    warmup: int = 2,
    repeats: int = 5,
) -> Speed:
    """Time ``model`` in eval mode without gradients.

    Args:
        model: The model (moved to ``device``).
        image_size: Side of the square input.
        device: ``"cpu"``, ``"cuda"`` or a torch device.
        batch: Batch size of the throughput measurement.
        warmup: Untimed calls before each measurement.
        repeats: Timed calls; the median is reported.

    Returns:
        The measured :class:`Speed`.

    Raises:
        ConfigError: ``batch`` or ``repeats`` below 1, or ``warmup`` below 0 (a ``ValueError``).
    """
    if batch < 1 or repeats < 1 or warmup < 0:
        raise ConfigError(f"need batch >= 1, repeats >= 1, warmup >= 0; got {batch}, {repeats}, {warmup}")
    device = torch.device(device)
    model = model.to(device).eval()
    one = torch.randn(1, 3, image_size, image_size, device=device)
    many = torch.randn(batch, 3, image_size, image_size, device=device)
    peak = None
    with torch.inference_mode():
        latency = statistics.median(timed_calls(lambda: model(one), device, warmup, repeats))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        per_batch = statistics.median(timed_calls(lambda: model(many), device, warmup, repeats))
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device) / 2**20
    return Speed(
        latency_ms=latency * 1e3,
        throughput=batch / per_batch,
        batch=batch,
        repeats=repeats,
        peak_memory_mb=peak,
        device=describe_device(device),
    )


def epoch_seconds(history: pd.DataFrame) -> dict[str, float]:
    """Training time per epoch from a run's ``history.csv``: the mean of each phase and overall.

    The time of the training pass, ``train_seconds``; a history from before that column
    (NaN) has only ``seconds``, which includes the validation pass, and that is used.

    Args:
        history: Columns ``phase`` and ``seconds`` (and ``train_seconds``).

    Returns:
        ``{"epoch_s": mean over all epochs, "<phase>_epoch_s": mean per phase,
        "train_s": total}`` (NaN-free; an empty history gives only ``train_s`` = 0).

    Example:
        >>> h = pd.DataFrame({"phase": ["head", "head", "finetune"], "seconds": [1.0, 3.0, 10.0]})
        >>> epoch_seconds(h)
        {'train_s': 14.0, 'epoch_s': 4.666666666666667, 'head_epoch_s': 2.0, 'finetune_epoch_s': 10.0}
    """
    column = "train_seconds" if "train_seconds" in history and history["train_seconds"].notna().all() else "seconds"
    out = {"train_s": float(history[column].sum())}
    if len(history):
        out["epoch_s"] = float(history[column].mean())
        for phase, group in history.groupby("phase", sort=False):
            out[f"{phase}_epoch_s"] = float(group[column].mean())
    return out


@dataclass
class SpeedOptions:
    """How :func:`model_cost` measures speed (None in its place skips the measurement).

    Attributes:
        device: ``"cpu"`` or ``"cuda"``.
        batch: Batch size of the throughput measurement.
        warmup: Untimed calls before each measurement.
        repeats: Timed calls; the median is reported.
        threads: torch CPU threads while timing (0: torch's default). 1 by default: on a
            machine whose cores other processes share, multi-threaded CPU timings are
            dominated by threads waiting for each other (100x slower was seen on 2 cores).
    """

    device: str = "cpu"
    batch: int = 32
    warmup: int = 2
    repeats: int = 5
    threads: int = 1


def model_cost(
    name: str,
    *,
    image_size: int,
    num_outputs: int = 7,
    unfreeze_stages: int | None = 1,
    speed: SpeedOptions | None = None,
) -> dict[str, Any]:
    """Counts (and optionally measured speed) of one model as one flat row.

    Args:
        name: Model name.
        image_size: Side of the square input.
        num_outputs: Model outputs.
        unfreeze_stages: See :func:`count`.
        speed: Measure speed with these options; None leaves the speed columns out.

    Returns:
        ``{"model", "image_size", params, trainable, macs, flops, macs_torchvision,
        macs_paper, coverage[, latency_ms, throughput, batch, repeats, peak_memory_mb, device]}``.
    """
    row: dict[str, Any] = {"model": name, "image_size": image_size}
    row.update(asdict(count(name, image_size=image_size, num_outputs=num_outputs, unfreeze_stages=unfreeze_stages)))
    if speed is not None:
        torch.manual_seed(0)
        model = _build(name, num_outputs, image_size, "cpu")
        before = torch.get_num_threads()
        if speed.threads:
            torch.set_num_threads(speed.threads)
        try:
            row.update(
                asdict(
                    measure_speed(
                        model,
                        image_size,
                        device=speed.device,
                        batch=speed.batch,
                        warmup=speed.warmup,
                        repeats=speed.repeats,
                    )
                )
            )
        finally:
            torch.set_num_threads(before)
    return row
