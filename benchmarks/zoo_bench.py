"""The zoo benchmark: every counter on every zoo model, summarised per family.

For each model of :mod:`benchmarks.zoo_models` (the models of ``tests/flopcount/test_zoo.py``,
at the same small sizes) and each tool (flopcount, FlopCounterMode on CPU and on meta,
fvcore, ptflops, thop, torchinfo, calflops; each beside a plain forward of the model),
in one fresh process per tool:

* **crash**: the tool raised (or returned nothing) on the model;
* **agreement**: its MACs equal the reference within 0.1%: FlopCounterMode's count of
  conv/linear/matmul/attention/recurrent/experts MACs on meta where the model runs
  there, else on CPU with its SDPA formula mapped to the CPU kernel it misses
  (:func:`benchmarks.zoo_models.flop_counter_macs`); an int8 model's reference is its
  float source;
* **time / forward**: median profiling time over the median plain ``no_grad`` forward
  of the same model, both timed in the tool's process, interleaved call by call (so a
  change of machine load hits both alike); the median over the family;
* for flopcount also the lowest coverage in the family and how many models needed a real
  forward pass (``Profile.capture.real_forward``).

flopcount is read as the MACs of its records of those families (its ``torchvision``
convention plus recurrent layers). Peers that take one positional tensor get the model wrapped so that its
keyword inputs are bound (they then count what runs inside).

Usage::

    python benchmarks/zoo_bench.py                      # all tools, all models: docs + JSON
    python benchmarks/zoo_bench.py --scale bench        # the same at the sizes people profile at
    python benchmarks/zoo_bench.py --quick              # flopcount and FlopCounterMode, 2 models per family
    python benchmarks/zoo_bench.py --tools flopcount --families hf,timm --no-docs
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    DOCS,
    QUICK_RESULTS,
    RESULTS,
    machine_info,
    machine_line,
    publish,
    time_interleaved,
    version_of,
)

SECTION = "zoo"
TOOLS = (
    "forward",
    "flopcount",
    "flop_counter",
    "flop_counter_meta",
    "fvcore",
    "ptflops",
    "thop",
    "torchinfo",
    "calflops",
)
DISTS = {
    "fvcore": "fvcore",
    "ptflops": "ptflops",
    "thop": "ultralytics-thop",
    "torchinfo": "torchinfo",
    "calflops": "calflops",
}
QUICK_TOOLS = ("flopcount", "flop_counter")
AGREEMENT = 1e-3
_SCALES = {
    "ci": "the zoo test's models and small sizes: 64-96 px images, 16-token sequences, hidden size 32",
    "bench": "the zoo test's models at the sizes people profile them at: timm at its own input size, "
    "Hugging Face hidden size 256 and 128 tokens or 224 px, torchvision 224 px images and 8 x 112 px clips",
}


# ----------------------------------------------------------------------------- running one tool
def _bound(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A module whose forward takes only positional inputs (keyword inputs bound)."""
    from torch import nn

    class Bound(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return self.model(*inputs, **kwargs)

    return Bound().eval() if kwargs else model


def _runner(tool: str) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], float | None]:
    """``run(model, args, kwargs) -> MACs`` of one tool (``None``: time only)."""
    import torch

    def forward(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        with torch.no_grad():
            model(*args, **kwargs)
        return None

    def flopcount(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
        from benchmarks.zoo_models import COMPARED_FAMILIES
        from flopcount import profile

        result = profile(model, *args, **kwargs)
        return float(sum(r.macs for r in result.layers if r.family in COMPARED_FAMILIES))

    def flop_counter(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            model(*args, **kwargs)
        return counter.get_total_flops() / 2

    def fvcore(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
        from fvcore.nn import FlopCountAnalysis

        bound = _bound(model, args, kwargs)
        analysis = FlopCountAnalysis(bound, tuple(args)).unsupported_ops_warnings(False)
        return float(analysis.uncalled_modules_warnings(False).total())

    def ptflops(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
        from ptflops import get_model_complexity_info

        bound = _bound(model, args, {}) if not kwargs else model
        if kwargs:
            macs, _ = get_model_complexity_info(
                model, (1,), input_constructor=lambda _: dict(kwargs), as_strings=False, print_per_layer_stat=False
            )
        else:
            shape = tuple(args[0].shape[1:]) if len(args) == 1 and isinstance(args[0], torch.Tensor) else None
            if shape is None:
                raise TypeError("ptflops takes one tensor input")
            macs, _ = get_model_complexity_info(bound, shape, as_strings=False, print_per_layer_stat=False)
        if macs is None:
            raise RuntimeError("ptflops returned None")
        return float(macs)

    def thop(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
        from thop import profile as thop_profile

        macs, _ = thop_profile(_bound(model, args, kwargs), inputs=tuple(args), verbose=False)
        return float(macs)

    def torchinfo(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
        from torchinfo import summary

        data: Any = dict(kwargs) if kwargs and not args else list(args)
        stats = summary(_bound(model, args, kwargs) if args and kwargs else model, input_data=data, verbose=0)
        return float(stats.total_mult_adds)

    def calflops(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
        from calflops import calculate_flops

        _, macs, _ = calculate_flops(
            model,
            args=list(args) or None,
            kwargs=dict(kwargs) or None,
            print_results=False,
            print_detailed=False,
            output_as_string=False,
        )
        return float(macs)

    runners = {
        "forward": forward,
        "flopcount": flopcount,
        "flop_counter": flop_counter,
        "flop_counter_meta": flop_counter,
        "fvcore": fvcore,
        "ptflops": ptflops,
        "thop": thop,
        "torchinfo": torchinfo,
        "calflops": calflops,
    }
    return runners[tool]


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:120]


def measure(tool: str, name: str, repeats: int) -> dict[str, Any]:
    """One tool on one zoo model, in this process: warm-up, timed calls, its MACs."""
    import torch

    from benchmarks.zoo_models import by_name

    entry = by_name(name)
    record: dict[str, Any] = {"tool": tool, "model": name, "family": entry.family, "status": "ok"}
    try:
        model, args, kwargs = entry.build()
        forward, run = _runner("forward"), _runner(tool)
        tool_model, tool_args, tool_kwargs = model, args, kwargs
        if tool == "flop_counter_meta":
            tool_model = copy.deepcopy(model).to("meta")
            tool_args, tool_kwargs = (
                torch.utils._pytree.tree_map_only(torch.Tensor, lambda t: t.to("meta"), v) for v in (args, kwargs)
            )
        forward(model, args, kwargs)
        macs = run(tool_model, tool_args, tool_kwargs)
        timed = time_interleaved(
            lambda: run(tool_model, tool_args, tool_kwargs), lambda: forward(model, args, kwargs), repeats
        )
        record.update(macs=macs, time_s=timed.time_s, forward_s=timed.baseline_s, time_vs_forward=timed.ratio)
        if tool == "flopcount":
            record.update(_flopcount_facts(entry, model, args, kwargs))
    except Exception as exc:  # a tool failing on a model is a result, not a crash of the benchmark
        record.update(status="error", error=_short(exc))
    return record


def _flopcount_facts(entry: Any, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """flopcount's coverage and capture path, and the reference MACs of the model."""
    from benchmarks.zoo_models import flop_counter_macs
    from flopcount import profile

    result = profile(model, *args, **kwargs)
    reference = entry.reference() if entry.reference is not None else (model, args, kwargs)
    ref_macs, where = flop_counter_macs(*reference)
    return {
        "coverage": result.coverage,
        "capture": result.capture.method,
        "real_forward": result.capture.real_forward,
        "reference_macs": ref_macs,
        "reference_where": where,
    }


def worker_main(tool: str, names: list[str], repeats: int, out: Path) -> None:
    """Measure ``names`` with ``tool``, one JSON line per model."""
    import logging
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    torch.manual_seed(0)
    for name in names:
        record = measure(tool, name, repeats)
        with out.open("a") as fh:
            fh.write(json.dumps(record, default=str) + "\n")


def run_tool(
    tool: str, names: list[str], repeats: int, timeout_s: float, log_dir: Path, scale: str = "ci"
) -> dict[str, dict[str, Any]]:
    """``tool`` on ``names`` (built at ``scale``) in fresh processes; a crash or a timeout fails one model only."""
    dist = DISTS.get(tool)
    if dist and version_of(dist) is None:
        return {n: {"tool": tool, "model": n, "status": "error", "error": f"not installed ({dist})"} for n in names}
    results: dict[str, dict[str, Any]] = {}
    remaining = list(names)
    while remaining:
        out = log_dir / f"{tool}.jsonl"
        out.unlink(missing_ok=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", tool, "--models", ",".join(remaining)]
        cmd += ["--repeats", str(repeats), "--scale", scale, "--worker-out", str(out)]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
        failure = None
        with (log_dir / f"{tool}.log").open("a") as log:
            try:
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout_s)
                failure = f"worker exited with {proc.returncode}" if proc.returncode else None
            except subprocess.TimeoutExpired:
                failure = f"timeout after {timeout_s:.0f} s"
        for line in out.read_text().splitlines() if out.exists() else []:
            record = json.loads(line)
            results[record["model"]] = record
        remaining = [n for n in remaining if n not in results]
        if remaining:
            results[remaining[0]] = {
                "tool": tool,
                "model": remaining[0],
                "status": "error",
                "error": failure or "no result",
            }
            remaining = remaining[1:]
    return results


# ----------------------------------------------------------------------------- aggregation and tables
def _agrees(macs: float | None, reference: int | None) -> bool:
    if macs is None or reference is None:
        return False
    return abs(macs - reference) <= AGREEMENT * max(reference, 1)


def summarise(results: dict[str, dict[str, dict[str, Any]]], names: list[str]) -> dict[str, Any]:
    """Per family and tool: models, crashes, agreements, median time / forward; flopcount's extras."""
    from benchmarks.zoo_models import by_name

    families: dict[str, list[str]] = {}
    for name in names:
        families.setdefault(by_name(name).family, []).append(name)
    families["all"] = list(names)
    summary: dict[str, Any] = {}
    reference = {n: results.get("flopcount", {}).get(n, {}).get("reference_macs") for n in names}
    for family, members in families.items():
        row: dict[str, Any] = {"models": len(members), "tools": {}}
        for tool, per_model in results.items():
            if tool == "forward":
                continue
            records = [per_model[n] for n in members if n in per_model]
            ok = [r for r in records if r["status"] == "ok"]
            ratios = [r["time_vs_forward"] for r in ok if r.get("time_vs_forward")]
            fcm = results.get("flop_counter", {})
            vs_fcm = [  # each time over its own process's forward first: robust to load drift between processes
                r["time_vs_forward"] / fcm[r["model"]]["time_vs_forward"]
                for r in ok
                if r.get("time_vs_forward") and fcm.get(r["model"], {}).get("time_vs_forward")
            ]
            row["tools"][tool] = {
                "crashes": len(records) - len(ok),
                "agree": sum(_agrees(r.get("macs"), reference[r["model"]]) for r in ok),
                "time_vs_forward": statistics.median(ratios) if ratios else None,
                "time_vs_flop_counter": statistics.median(vs_fcm) if vs_fcm else None,
            }
        flopcount = [results.get("flopcount", {}).get(n, {}) for n in members]
        ok = [r for r in flopcount if r.get("status") == "ok"]
        row["min_coverage"] = min((r["coverage"] for r in ok), default=None)
        row["real_forwards"] = sum(bool(r.get("real_forward")) for r in ok)
        summary[family] = row
    return summary


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render(payload: dict[str, Any]) -> str:
    """The docs section: how it was measured, flopcount per family, every tool per family."""
    from tabulate import tabulate

    summary, tools = payload["summary"], [t for t in payload["tools"] if t != "forward"]
    lines = [machine_line(payload["machine"]), ""]
    lines.append(
        f"{payload['models']} models of `benchmarks/zoo_models.py` ({_SCALES[payload['scale']]}), each tool in its "
        f"own fresh process, median of {payload['repeats']} calls after one warm-up; time / forward = that median over "
        "the median of a plain forward of the same model timed in the same process, interleaved call by call (time / "
        "FCM: the ratio of flopcount's and FlopCounterMode's ratios); agreement = MACs within 0.1% of "
        "FlopCounterMode's conv/linear/matmul/attention/recurrent/experts MACs (on meta where the model runs there, "
        "else on CPU with its SDPA formula on the CPU kernel; int8 models against their float source). "
        f"Total run: {payload['wall_s']:.0f} s."
    )
    lines += ["", "### flopcount per family", ""]
    rows = []
    for family, row in summary.items():
        fc = row["tools"].get("flopcount", {})
        cov = row["min_coverage"]
        rows.append(
            [
                family,
                row["models"],
                fc.get("crashes", "-"),
                "-" if cov is None else f"{cov:.1%}",
                f"{fc.get('agree', 0)}/{row['models']}",
                row["real_forwards"],
                _ratio(fc.get("time_vs_forward")),
                _ratio(fc.get("time_vs_flop_counter")),
            ]
        )
    headers = ["family", "models", "crashes", "min coverage", "agree", "real forwards", "time / forward", "time / FCM"]
    lines.append(tabulate(rows, headers=headers, tablefmt="github"))
    lines += ["", "### Every tool per family (crashes · agree · median time / forward)", ""]
    rows = []
    for family, row in summary.items():
        cells = [family, row["models"]]
        for tool in tools:
            t = row["tools"].get(tool)
            cells.append("-" if t is None else f"{t['crashes']} · {t['agree']} · {_ratio(t['time_vs_forward'])}")
        rows.append(cells)
    lines.append(tabulate(rows, headers=["family", "models", *tools], tablefmt="github"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or one worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", default=None, help="comma-separated subset of " + ",".join(TOOLS))
    parser.add_argument("--families", default=None, help="comma-separated zoo families (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--scale",
        choices=("ci", "bench"),
        default="ci",
        help="model sizes: the zoo test's (ci) or those people profile at (bench; writes the zoo_bench_scale section)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per worker process")
    parser.add_argument(
        "--quick", action="store_true", help="flopcount, forward and FlopCounterMode; 2 models a family"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ["FLOPCOUNT_ZOO_SCALE"] = args.scale  # the workers inherit it
    if args.worker:
        worker_main(args.worker, args.models.split(","), args.repeats, Path(args.worker_out))
        return 0
    from benchmarks.zoo_models import zoo

    entries = zoo()
    if args.families:
        entries = [e for e in entries if e.family in args.families.split(",")]
    if args.quick:
        seen: dict[str, int] = {}
        entries = [
            e
            for e in entries
            if seen.setdefault(e.family, 0) < 2 and not seen.__setitem__(e.family, seen[e.family] + 1)
        ]
    names = [e.name for e in entries]
    tools = args.tools.split(",") if args.tools else list(QUICK_TOOLS if args.quick else TOOLS)
    if "flopcount" not in tools:
        tools.append("flopcount")  # it also measures the reference
    start = time.perf_counter()
    machine = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        results = {tool: run_tool(tool, names, args.repeats, args.timeout, Path(tmp), args.scale) for tool in tools}
    payload = {
        "schema": "flopcount.zoo_bench/1",
        "scale": args.scale,
        "machine": machine,
        "versions": {t: version_of(DISTS.get(t, "torch")) for t in tools} | {"flopcount": version_of("flopcount")},
        "repeats": args.repeats,
        "tools": tools,
        "models": len(names),
        "results": results,
        "summary": summarise(results, names),
        "wall_s": time.perf_counter() - start,
    }
    quick = args.quick or args.families
    stem = "zoo_bench" if args.scale == "ci" else "zoo_bench_scale"
    json_path = (QUICK_RESULTS if quick else RESULTS) / f"{stem}.json"
    section = SECTION if args.scale == "ci" else f"{SECTION}_bench_scale"
    publish(payload, render(payload), json_path, None if (args.no_docs or quick) else DOCS, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
