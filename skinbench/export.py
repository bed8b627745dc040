"""Export a trained run as ONNX (float32 or int8) or TorchScript, checked against PyTorch.

``skinbench export RUN --format onnx|torchscript [--int8]`` calls :func:`export_run`:

1. The checkpoint's model is wrapped so that it outputs **class probabilities**
   ``(N, K)`` (softmax of the logits; ``[1 - sigmoid, sigmoid]`` for the binary task), with
   input ``input``: float32 ``(N, 3, S, S)`` normalised as in training, batch size free.
2. ONNX: ``torch.onnx.export(..., dynamo=True)`` (the ``torch.export`` based exporter;
   the TorchScript-based one is used only when it fails, and the record says which).
   TorchScript: ``torch.jit.trace``. The preprocessing (class names, image size,
   mean/std, resize rule) goes into the file: ONNX ``metadata_props`` (key ``skinbench``,
   JSON, plus one key per field), TorchScript ``_extra_files["skinbench.json"]``.
3. int8 (ONNX only): onnxruntime static quantization (``quantize_static``, QDQ format,
   per-channel int8 weights, uint8 activations, MinMax calibration over the first
   ``calibration`` training images of the run, without augmentation); the final
   Softmax/Sigmoid stays float.
4. Parity: the exported model and the PyTorch model classify the run's whole **test
   split** (the same tensors :func:`skinbench.evaluate.evaluate_model` uses). The check
   passes when the largest absolute difference of any probability is at most ``atol``
   and the argmax agrees on at least ``min_agreement`` of the images, where an image
   whose PyTorch top-two probabilities are within ``tie_margin`` counts as agreeing
   (:data:`TOLERANCES`). The record also holds the exported model's test metrics.

On success the file is ``RUN/export/<variant>.onnx`` (or ``.torchscript.pt``) and the
record ``RUN/export/<variant>.json``. On a mismatch nothing replaces the file (it is
written to a temporary name and **removed**; an older export of the variant stays),
the numbers go to ``RUN/export/<variant>.failed.json`` and :class:`ExportError` is raised.
"""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from flopcount._version import __version__
from skinbench.atomic import atomic_path
from skinbench.context import RunContext, build_context
from skinbench.engine import predict
from skinbench.errors import ConfigError, ExportError
from skinbench.evaluate import compute_metrics
from skinbench.exporters import quantize_int8, run_exported, write_onnx, write_onnx_metadata, write_torchscript
from skinbench.parity import TOLERANCES, Tolerance, parity, tolerance_for
from skinbench.predict import Preprocessing
from skinbench.rundir import RunDir

__all__ = [
    "FORMATS",
    "TOLERANCES",
    "Tolerance",
    "describe",
    "export_command",
    "export_run",
    "parity",
    "require_export_extra",
    "variant_name",
]

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
INSTALL_HINT = "pip install 'flopcount[export]'"


def require_export_extra() -> None:
    """Import onnx and onnxruntime, or raise a one-line :class:`ExportError` naming the extra."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ExportError(f"ONNX export needs onnx and onnxruntime ({exc.msg}): {INSTALL_HINT}") from None


def variant_name(fmt: str, *, int8: bool = False, checkpoint: str = RunDir.BEST) -> str:
    """``<format>_<precision>``, with ``-<checkpoint stem>`` for a checkpoint other than best.pt.

    Example:
        >>> variant_name("onnx", int8=True), variant_name("torchscript", checkpoint="last.pt")
        ('onnx_int8', 'torchscript_fp32-last')
    """
    name = f"{fmt}_{'int8' if int8 else 'fp32'}"
    return name if checkpoint == RunDir.BEST else f"{name}-{Path(checkpoint).stem}"


class _Probabilities(nn.Module):
    """The model followed by its probability layer: what an application wants from a deployed file."""

    def __init__(self, model: nn.Module, binary: bool) -> None:
        super().__init__()
        self.model, self.binary = model, binary

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if self.binary:
            p = torch.sigmoid(logits)
            return torch.cat([1 - p, p], dim=1)
        return torch.softmax(logits, dim=1)


def _metadata(ctx: RunContext, variant: str, checkpoint: str, epoch: int) -> dict[str, Any]:
    config = ctx.config
    assert config.mean is not None and config.std is not None
    prep = Preprocessing(config.image_size, tuple(config.mean), tuple(config.std))
    return {
        "skinbench_version": __version__,
        "run": ctx.run.name,
        "model": config.model,
        "task": config.task,
        "variant": variant,
        "checkpoint": checkpoint,
        "epoch": epoch,
        "classes": list(ctx.classes),
        "input": "input",
        "output": "probs: class probabilities (N, K) in the order of classes",
        "preprocessing": prep.to_dict(),
    }


def _scores(y: np.ndarray, probs: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    m = compute_metrics(y, probs, classes)
    return {
        "n": m["n"],
        "accuracy": m["accuracy"],
        "balanced_accuracy": m["balanced_accuracy"],
        "f1_macro": m["f1"]["macro"],
        "auc_macro": m["auc_macro"],
        "melanoma": m["melanoma"],
        "confusion_matrix": m["confusion_matrix"],
    }


def _setup(run: RunDir, checkpoint: str, data: str | Path | None) -> tuple[RunContext, int]:
    """The run on CPU with the checkpoint's weights (as :func:`skinbench.evaluate.evaluate_run` sets it up)."""
    run.require(RunDir.CONFIG, RunDir.SPLIT, checkpoint, purpose="a skinbench run folder")
    changes: dict[str, Any] = {"out": str(run.path), "progress": False, "device": "cpu"}
    if data is not None:
        changes["data"] = str(Path(data).expanduser().absolute())
    config = run.load_config().with_changes(changes, run=run.path)
    ctx = build_context(config, run, pretrained=False)
    ckpt = run.load_weights(checkpoint, ctx.model, map_location="cpu")
    ctx.model.eval()
    return ctx, int(ckpt["epoch"] if "epoch" in ckpt else ckpt.get("state", {}).get("epoch", 0))


def _batches(ctx: RunContext, split: str, limit: int | None = None) -> tuple[list[torch.Tensor], np.ndarray]:
    """The evaluation batches of ``split`` (at most ``limit`` images) and their labels."""
    inputs: list[torch.Tensor] = []
    labels: list[np.ndarray] = []
    seen = 0
    for x, y in ctx.loader(ctx.dataset(split)):
        take = len(x) if limit is None else min(len(x), limit - seen)
        if take <= 0:
            break
        inputs.append(x[:take])
        labels.append(y[:take].numpy())
        seen += take
    return inputs, np.concatenate(labels) if labels else np.zeros(0, np.int64)


def export_run(
    run_dir: str | Path,
    fmt: str = "onnx",
    *,
    int8: bool = False,
    checkpoint: str = RunDir.BEST,
    tolerance: Tolerance | None = None,
    calibration: int = 256,
    threads: int = 0,
    data: str | Path | None = None,
) -> dict[str, Any]:
    """Export a run's model, check it against PyTorch on the test split, record it in ``RUN/export/``.

    Args:
        run_dir: The run folder (its data folder must be reachable: the check uses the test split).
        fmt: ``onnx`` or ``torchscript``.
        int8: Quantize to int8 (ONNX only).
        checkpoint: ``best.pt`` or ``last.pt``.
        tolerance: The parity rule (default :data:`TOLERANCES` of the precision).
        calibration: Training images for the int8 calibration.
        threads: onnxruntime threads for the check (0: its default).
        data: The dataset folder, when it moved since training.

    Returns:
        The record written to ``RUN/export/<variant>.json``.

    Raises:
        ExportError: The export extra is missing, or the exported model does not match.
        ConfigError: An unknown format, or int8 with TorchScript.
        skinbench.errors.RunError: Not a run folder, or an unreadable checkpoint.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (expected {' or '.join(FORMATS)})")
    if int8 and fmt != "onnx":
        raise ConfigError("--int8 needs --format onnx (int8 comes from onnxruntime quantization)")
    if fmt == "onnx":
        require_export_extra()
    run = RunDir(run_dir)
    variant = variant_name(fmt, int8=int8, checkpoint=checkpoint)
    tolerance = tolerance or TOLERANCES["int8" if int8 else "fp32"]
    ctx, epoch = _setup(run, checkpoint, data)
    torch.manual_seed(0)
    wrapper = _Probabilities(ctx.model, binary=ctx.config.task == "binary").eval()
    test_x, test_y = _batches(ctx, "test")
    with torch.inference_mode():
        reference = np.concatenate(
            [predict(wrapper.model, [(x, torch.zeros(len(x), dtype=torch.int64))], ctx.device)[1] for x in test_x]
        )
    metadata = _metadata(ctx, variant, checkpoint, epoch)
    example = test_x[0][:2] if test_x and len(test_x[0]) > 1 else torch.zeros(2, 3, *(ctx.config.image_size,) * 2)
    target = run.export_file(variant + SUFFIX[fmt])
    record: dict[str, Any] = {**metadata, "format": fmt, "precision": "int8" if int8 else "fp32"}
    with atomic_path(target) as tmp:
        if fmt == "torchscript":
            record["exporter"] = write_torchscript(wrapper, example, tmp, metadata)
        else:
            record["exporter"] = write_onnx(wrapper, example, tmp, metadata)
        if int8:
            calib, _ = _batches(ctx, "train", limit=calibration)
            record["quantization"] = quantize_int8(tmp, [b.numpy() for b in calib])
            write_onnx_metadata(tmp, metadata)
        exported = run_exported(fmt, tmp, test_x, threads)
        record["parity"] = parity(reference, exported, tolerance)
        record["test"] = _scores(test_y, exported, ctx.classes)
        record["test_pytorch"] = _scores(test_y, reference, ctx.classes)
        record["size_bytes"] = tmp.stat().st_size
        record["file"] = target.name
        record["environment"] = _environment()
        if not record["parity"]["passed"]:
            run.write_export_record(variant, record, failed=True)
            raise ExportError(_mismatch(variant, record["parity"], run))
    run.write_export_record(variant, record)
    return record


def _mismatch(variant: str, result: dict[str, Any], run: RunDir) -> str:
    tol = result["tolerance"]
    return (
        f"{variant} does not match PyTorch on {result['n']} test images: max abs difference "
        f"{result['max_abs_diff']:.3g} (tolerance {tol['atol']:g}), argmax agreement "
        f"{result['agreement_with_ties']:.4f} (needs {tol['min_agreement']:g}); the file was removed, "
        f"numbers in {run.export_file(variant + '.failed.json')}"
    )


def _environment() -> dict[str, Any]:
    env: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version()}
    with contextlib.suppress(ImportError):
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
    return env


def describe(record: dict[str, Any]) -> str:
    """The one-line summary ``skinbench export`` prints."""
    p, t = record["parity"], record["test"]
    return (
        f"{record['variant']}: {record['file']} ({record['size_bytes'] / 2**20:.2f} MiB, "
        f"{record['exporter'].split(' (')[0]}); vs PyTorch on {p['n']} test images: "
        f"max abs diff {p['max_abs_diff']:.2e} "
        f"(tolerance {p['tolerance']['atol']:g}), argmax agreement {p['argmax_agreement']:.4f}; "
        f"test accuracy {t['accuracy']:.4f} (PyTorch {record['test_pytorch']['accuracy']:.4f}), "
        f"balanced {t['balanced_accuracy']:.4f}"
    )


def export_command(
    *,
    run: str,
    format: str,
    int8: bool,
    checkpoint: str,
    calibration: int,
    atol: float | None,
    min_agreement: float | None,
    data: str | None,
) -> int:
    """``skinbench export``: :func:`export_run` with the tolerance overrides; prints :func:`describe`."""
    tolerance = tolerance_for(int8, atol=atol, min_agreement=min_agreement)
    record = export_run(
        run, format, int8=int8, checkpoint=checkpoint, tolerance=tolerance, calibration=calibration, data=data
    )
    print(describe(record))
    return 0
