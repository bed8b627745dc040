"""The cost of an exported (deployed) model: file size, onnxruntime/TorchScript speed, peak memory.

:func:`measure_exported` times an ``skinbench export`` file as :mod:`skinbench.cost` times
eager PyTorch (median of timed calls after warm-up, batch 1 and a throughput batch, one
CPU thread by default) and measures the peak memory it adds in a fresh process
(:func:`peak_memory_growth_mb`). MACs of a deployed model are flopcount's count of the
float model; an int8 model does the same MACs in int8 arithmetic (counting int8 MACs
separately is not done here).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from skinbench.cost import SpeedOptions, timed_calls

__all__ = ["INT8_MACS_NOTE", "measure_exported", "peak_memory_growth_mb", "unmeasured_export"]

#: How the report labels the MACs of an int8 model.
INT8_MACS_NOTE = "same MACs as float, int8 arithmetic"

#: Run in a fresh interpreter: peak RSS (KiB on Linux) after imports and inputs, then after
#: loading the exported model and one call at batch 1 and one at the throughput batch.
_PROBE = """
import json, resource, sys
import numpy as np


def kib(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


fmt, path, size, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
x1 = np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32)
xb = np.random.default_rng(1).standard_normal((batch, 3, size, size), dtype=np.float32)
if fmt == "onnx":
    import onnxruntime as ort
else:
    import torch
    torch.set_num_threads(1)
    x1, xb = torch.from_numpy(x1), torch.from_numpy(xb)
try:  # Linux: reset the peak to the current RSS, so the peak below is this model's
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before, how = kib("VmRSS"), "VmHWM - VmRSS"
except OSError:
    before, how = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
if fmt == "onnx":
    o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    s.run(None, {"input": x1}); s.run(None, {"input": xb})
else:
    m = torch.jit.load(path, map_location="cpu")
    with torch.inference_mode():
        m(x1); m(xb)
after = kib("VmHWM") if how.startswith("VmHWM") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before": before, "after": after, "how": how}))
"""


def peak_memory_growth_mb(path: str | Path, fmt: str, image_size: int, batch: int) -> float | None:
    """Peak resident memory an exported model adds: load it and run batch 1 and ``batch``, in a fresh process.

    On Linux the process's peak RSS is reset (``/proc/self/clear_refs``) just before the
    model is loaded, so the result is the peak (``VmHWM``) minus the RSS then: weights, the
    runtime's buffers and arenas, activations. Elsewhere it is the growth of
    ``getrusage ru_maxrss``, which misses what stays below the imports' own peak. None
    where it cannot be measured (no ``resource`` module, e.g. Windows, or the probe failed).
    """
    try:
        import resource  # noqa: F401
    except ImportError:  # pragma: no cover - Windows
        return None
    args = [sys.executable, "-c", _PROBE, fmt, str(path), str(image_size), str(batch)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=True)
        probe = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError, OSError):
        return None
    growth: float = max(probe["after"] - probe["before"], 0) / 1024  # KiB -> MiB (Linux reports KiB)
    return growth


def _onnx_runner(path: str | Path, threads: int, provider: str) -> Callable[[np.ndarray], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=[provider])
    return lambda x: session.run(None, {"input": x})


def unmeasured_export(size_bytes: int) -> dict[str, Any]:
    """:func:`measure_exported`'s row with only the file size (``size_bytes``) filled in."""
    row: dict[str, Any] = {"file_mb": size_bytes / 2**20, "latency_ms": None, "throughput": None}
    row.update({"batch": None, "peak_memory_mb": None, "speed_device": None, "cuda_latency_ms": None})
    return row


def measure_exported(
    path: str | Path,
    fmt: str,
    image_size: int,
    *,
    speed: SpeedOptions | None = None,
    memory: bool = True,
) -> dict[str, Any]:
    """File size, latency, throughput and peak memory of an exported model (``skinbench export``).

    Latency and throughput are measured as :func:`measure_speed` does for eager PyTorch
    (median of ``repeats`` timed calls after ``warmup``, batch 1 and ``batch``, random
    inputs), on the CPU with ``threads`` threads: onnxruntime's CPUExecutionProvider for
    ONNX, ``torch.jit.load`` for TorchScript. Where CUDA is available (torch sees a GPU,
    and for ONNX onnxruntime has the CUDAExecutionProvider), ``cuda_latency_ms`` is
    measured too; otherwise it is None.

    Args:
        path: The exported file.
        fmt: ``onnx`` or ``torchscript``.
        image_size: Side of the square input.
        speed: Timing options; None gives the file size and memory only.
        memory: Measure :func:`peak_memory_growth_mb` (a subprocess).

    Returns:
        ``{"file_mb", "latency_ms", "throughput", "batch", "peak_memory_mb", "speed_device",
        "cuda_latency_ms"}`` (None where not measured).
    """
    path = Path(path)
    row = unmeasured_export(path.stat().st_size)
    if speed is None:
        return row
    threads = speed.threads
    cpu = torch.device("cpu")
    one = np.random.default_rng(0).standard_normal((1, 3, image_size, image_size), dtype=np.float32)
    many = np.random.default_rng(1).standard_normal((speed.batch, 3, image_size, image_size), dtype=np.float32)
    if fmt == "onnx":
        run = _onnx_runner(path, threads, "CPUExecutionProvider")
        device = f"cpu: onnxruntime CPUExecutionProvider, {threads or 'default'} thread(s)"
    else:
        with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
        run = _torch_runner(module)
        device = f"cpu: TorchScript, {threads or 'default'} torch thread(s)"
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        latency = statistics.median(timed_calls(lambda: run(one), cpu, speed.warmup, speed.repeats))
        per_batch = statistics.median(timed_calls(lambda: run(many), cpu, speed.warmup, speed.repeats))
    finally:
        torch.set_num_threads(before)
    row.update(latency_ms=latency * 1e3, throughput=speed.batch / per_batch, batch=speed.batch, speed_device=device)
    row["cuda_latency_ms"] = _cuda_latency(path, fmt, one, speed)
    if memory:
        row["peak_memory_mb"] = peak_memory_growth_mb(path, fmt, image_size, speed.batch)
    return row


def _torch_runner(module: nn.Module) -> Callable[[np.ndarray], object]:
    def run(x: np.ndarray) -> object:
        with torch.inference_mode():
            return module(torch.from_numpy(x))

    return run


def _cuda_latency(path: Path, fmt: str, one: np.ndarray, speed: SpeedOptions) -> float | None:
    """Batch-1 latency on CUDA (ms), or None without a GPU (or without onnxruntime's CUDA provider)."""
    if not torch.cuda.is_available():
        return None
    gpu = torch.device("cuda")
    if fmt == "onnx":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return None
        run = _onnx_runner(path, 0, "CUDAExecutionProvider")
        return statistics.median(timed_calls(lambda: run(one), gpu, speed.warmup, speed.repeats)) * 1e3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), map_location="cuda")  # type: ignore[no-untyped-call]
    x = torch.from_numpy(one).to(gpu)
    with torch.inference_mode():
        return statistics.median(timed_calls(lambda: module(x), gpu, speed.warmup, speed.repeats)) * 1e3
