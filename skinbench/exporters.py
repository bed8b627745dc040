"""How each export format is written and run: ONNX (float32, int8) and TorchScript.

:mod:`skinbench.export` drives these (model, checks, records); here is only what is
specific to a file format. onnx and onnxruntime are imported inside the functions (the
optional ``export`` extra).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["quantize_int8", "run_exported", "write_onnx", "write_onnx_metadata", "write_torchscript"]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' and quantizer's progress prints, warnings and root-logger notes."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def write_onnx(wrapper: nn.Module, example: torch.Tensor, target: Path, metadata: dict[str, Any]) -> str:
    """Write the float32 ONNX file; return the exporter used."""
    import onnx

    try:
        with _quiet():
            program = torch.onnx.export(
                wrapper,
                (example,),
                dynamo=True,
                input_names=["input"],
                output_names=["probs"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
            )
            assert program is not None
            program.save(str(target))
        exporter = "torch.onnx.export(dynamo=True)"
    except Exception as exc:  # the torch.export exporter fails on some models: fall back, say so
        reason = " ".join(str(exc).split()[:20])
        with _quiet():
            torch.onnx.export(
                wrapper,
                (example,),
                str(target),
                dynamo=False,
                input_names=["input"],
                output_names=["probs"],
                dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}},
            )
        exporter = f"torch.onnx.export(dynamo=False) (dynamo exporter failed: {reason})"
    write_onnx_metadata(target, metadata)
    onnx.checker.check_model(str(target))
    return exporter


def write_onnx_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Store ``metadata`` in the ONNX file's ``metadata_props`` (key ``skinbench``, JSON, plus one key per field)."""
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    prep = metadata["preprocessing"]
    entries = {
        "skinbench": json.dumps(metadata),
        "classes": json.dumps(metadata["classes"]),
        "image_size": str(prep["image_size"]),
        "mean": json.dumps(prep["mean"]),
        "std": json.dumps(prep["std"]),
        "resize_rule": prep["resize_rule"],
    }
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def quantize_int8(target: Path, calibration: list[np.ndarray]) -> dict[str, Any]:
    """Replace the float32 ONNX file ``target`` by its int8 model; return how it was quantized."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"input": batch}

    fp32 = onnx.load(str(target))
    keep_float = [n.name for n in fp32.graph.node if n.op_type in ("Softmax", "Sigmoid")]
    with _quiet():
        quantize_static(
            fp32,
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep_float,
        )
    return {
        "method": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "weights": "int8, per channel",
        "activations": "uint8, per tensor",
        "calibration": f"MinMax over the first {sum(len(b) for b in calibration)} training images (no augmentation)",
        "float_ops": sorted({n.op_type for n in fp32.graph.node if n.name in keep_float}),
        "macs": "same MACs as float, int8 arithmetic",
    }


def write_torchscript(wrapper: nn.Module, example: torch.Tensor, target: Path, metadata: dict[str, Any]) -> str:
    """Write ``wrapper`` traced by ``torch.jit.trace``, ``metadata`` in ``_extra_files["skinbench.json"]``."""
    with _quiet():
        traced = torch.jit.trace(wrapper, example)  # type: ignore[no-untyped-call]
        torch.jit.save(traced, str(target), _extra_files={"skinbench.json": json.dumps(metadata)})
    return "torch.jit.trace"


def run_exported(fmt: str, path: Path, batches: list[torch.Tensor], threads: int) -> np.ndarray:
    """Probabilities of the exported file over ``batches`` (float64)."""
    if fmt == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return np.concatenate([session.run(None, {"input": b.numpy()})[0] for b in batches]).astype(np.float64)
    with _quiet():
        module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    with torch.inference_mode():
        return np.concatenate([module(b).numpy() for b in batches]).astype(np.float64)
