"""``skinbench export``: ONNX float32/int8 and TorchScript with metadata, parity against PyTorch, deployed cost."""

from __future__ import annotations

import builtins
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from skinbench.cli import main as cli
from skinbench.config import TrainConfig
from skinbench.cost import SpeedOptions
from skinbench.deployed_cost import measure_exported
from skinbench.errors import ConfigError, ExportError
from skinbench.export import export_run
from skinbench.parity import TOLERANCES
from skinbench.reports.deployment import pareto_points
from skinbench.reports.pareto import marker_of
from skinbench.reports.report import build_report
from skinbench.train import main as train

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def run(trained_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


@pytest.mark.slow
def test_custom_cnn_exports_match_pytorch_and_carry_their_preprocessing(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["export", str(run), "--format", "onnx"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("onnx_fp32: onnx_fp32.onnx") and "max abs diff" in line and "argmax agreement 1.0000" in line
    record = json.loads((run / "export" / "onnx_fp32.json").read_text())
    config = TrainConfig.load(run / "config.json")
    assert record["parity"]["passed"] and record["parity"]["max_abs_diff"] <= TOLERANCES["fp32"].atol
    assert record["parity"]["n"] == json.loads((run / "metrics.json").read_text())["n"]  # the whole test split
    assert record["test"]["accuracy"] == record["test_pytorch"]["accuracy"]
    assert record["exporter"] == "torch.onnx.export(dynamo=True)"
    model = onnx.load(str(run / "export" / "onnx_fp32.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["classes"]) == list(record["classes"]) and props["image_size"] == "16"
    assert json.loads(props["mean"]) == config.mean and json.loads(props["std"]) == config.std
    assert "stretched" in props["resize_rule"] and json.loads(props["skinbench"])["checkpoint"] == "best.pt"

    assert cli(["export", str(run), "--format", "onnx", "--int8"]) == 0
    int8 = json.loads((run / "export" / "onnx_int8.json").read_text())
    assert int8["parity"]["passed"] and int8["quantization"]["format"] == "QDQ"
    assert int8["size_bytes"] < record["size_bytes"] / 2 and 0 <= int8["test"]["accuracy"] <= 1
    assert {p.key for p in onnx.load(str(run / "export" / "onnx_int8.onnx")).metadata_props} >= {"classes", "mean"}

    assert cli(["export", str(run), "--format", "torchscript"]) == 0
    ts = json.loads((run / "export" / "torchscript_fp32.json").read_text())
    assert ts["parity"]["max_abs_diff"] <= 1e-5
    extra = {"skinbench.json": ""}
    with warnings.catch_warnings():  # torch.jit is deprecated (still works)
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.load(str(run / "export" / "torchscript_fp32.torchscript.pt"), _extra_files=extra)
    assert json.loads(extra["skinbench.json"])["preprocessing"]["image_size"] == 16
    assert not [p for p in (run / "export").iterdir() if p.name.endswith(".tmp")]

    # deployed cost of each file, and the report's deployed table and Pareto points
    cost = measure_exported(run / "export" / "onnx_int8.onnx", "onnx", 16, speed=SpeedOptions(batch=4, repeats=2))
    assert cost["latency_ms"] > 0 and cost["throughput"] > 0 and cost["file_mb"] > 0
    assert cost["peak_memory_mb"] is None or cost["peak_memory_mb"] >= 0
    assert cost["cuda_latency_ms"] is None or torch.cuda.is_available()
    result = build_report([run], run.parent / "report", speed=SpeedOptions(batch=4, repeats=2, warmup=1))
    deployed = result.frames["deployed"].set_index("variant")
    assert set(deployed.index) == {"onnx_fp32", "onnx_int8", "torchscript_fp32"}
    assert deployed.at["onnx_int8", "macs_note"] == "same MACs as float, int8 arithmetic"
    assert deployed.at["onnx_int8", "macs"] == deployed.at["onnx_fp32", "macs"] > 0
    assert (deployed["latency_ms"] > 0).all() and (deployed["file_mb"] > 0).all()
    points = pareto_points(result.frames["runs"], result.frames["deployed"])
    assert points["run"].tolist() == ["run", "run [onnx_fp32]", "run [onnx_int8]", "run [torchscript_fp32]"]
    assert [marker_of(v) for v in points["variant"]] == ["o", "s", "^", "s"]
    assert (run.parent / "report" / "figures" / "pareto_latency_ms.svg").is_file()


@pytest.mark.slow
def test_torchvision_model_exports_within_tolerance(synthetic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "mobilenet"
    train(
        TrainConfig(
            data=str(synthetic_root),
            out=str(out),
            model="mobilenet_v3_small",
            image_size=16,
            epochs=1,
            pretrained=False,
            progress=False,
        )
    )
    record = export_run(out, "onnx")
    assert record["parity"]["passed"] and record["parity"]["argmax_agreement"] == 1.0
    assert record["parity"]["max_abs_diff"] <= TOLERANCES["fp32"].atol


def test_a_mismatch_fails_loudly_and_keeps_no_file(
    run: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def wrong(fmt: str, path: Path, batches: list[torch.Tensor], threads: int) -> np.ndarray:
        n = sum(len(b) for b in batches)
        return np.full((n, 7), 1 / 7) + np.eye(7)[np.arange(n) % 7] * 0.5  # off by up to 0.5

    monkeypatch.setattr("skinbench.export.run_exported", wrong)
    assert cli(["export", str(run), "--format", "torchscript"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match PyTorch" in err and "the file was removed" in err
    export = run / "export"
    assert sorted(p.name for p in export.iterdir()) == ["torchscript_fp32.failed.json"]
    failed = json.loads((export / "torchscript_fp32.failed.json").read_text())
    assert failed["parity"]["passed"] is False and failed["parity"]["max_abs_diff"] > 0.4


def test_export_refusals(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--int8 needs --format onnx"):
        export_run(run, "torchscript", int8=True)
    with pytest.raises(ConfigError, match="unknown export format"):
        export_run(run, "tflite")
    real_import = builtins.__import__

    def no_onnxruntime(name: str, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'", name="onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(ExportError, match=r"pip install 'flopcount\[export\]'"):
        export_run(run, "onnx")
    assert not (run / "export").exists()


@pytest.mark.slow
def test_deployed_cost_example_exports_and_reports(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[2] / "examples" / "deployed_cost.py"
    spec = importlib.util.spec_from_file_location("example_deployed_cost", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    out = run.parent / "deployed"
    assert module.main([str(run), "--out", str(out), "--batch", "2", "--repeats", "1", "--warmup", "0"]) == 0
    printed = capsys.readouterr().out
    assert "run: onnx_fp32: onnx_fp32.onnx" in printed and "run: onnx_int8" in printed and "report: " in printed
    deployed = json.loads((out / "tables" / "deployed.json").read_text())
    assert [r["variant"] for r in deployed] == ["onnx_fp32", "onnx_int8"] and all(r["latency_ms"] > 0 for r in deployed)
    assert module.main([str(run), "--out", str(out), "--no-int8", "--batch", "2", "--repeats", "1"]) == 0
    assert "onnx_fp32 reused" in capsys.readouterr().out
