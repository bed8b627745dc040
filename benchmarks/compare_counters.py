"""Compare flopcount with other FLOP/MAC counters on the same models.

For every model and every tool this records the tool's total (in its native unit and
converted to MACs), its parameter count and the wall time of one profiling call (median
of ``--repeats`` after one warm-up) and ``time / forward``: that median over the median
of a plain ``torch.no_grad()`` forward of the same model timed in the same process,
interleaved call by call with the tool (so a change of machine load hits both alike).
Each tool runs in its own fresh Python process (``--worker``), so a tool that patches
``torch.nn.functional`` or adds hooks cannot change what another tool sees; a tool that
is not installed, fails on a model or crashes its process gets an ``error: ...`` cell.

Usage::

    python benchmarks/compare_counters.py            # full run: docs/benchmarks.md + JSON
    python benchmarks/compare_counters.py --quick    # 1 repeat, 2 models, no docs
    python benchmarks/compare_counters.py --tools flopcount,fvcore --models resnet50
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    DOCS,
    QUICK_RESULTS,
    RESULTS,
    Interleaved,
    fmt_count,
    fmt_seconds,
    machine_info,
    machine_line,
    publish,
    time_calls,
    time_interleaved,
    version_of,
)

SECTION = "compare_counters"
# torchvision's weights.meta["_ops"] is GMACs rounded to 3 decimals: +-0.0005e9 MACs.
TV_ROUNDING = 0.5e6


# ----------------------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelSpec:
    """A benchmark model: how to build it, its input shape and where its exact count comes from."""

    name: str
    shape: tuple[int, ...]
    source: str  # "torchvision" (weights.meta["_ops"]) or "zoo" (hand derivation)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("resnet50", (1, 3, 224, 224), "torchvision"),
        ModelSpec("vit_b_16", (1, 3, 224, 224), "torchvision"),
        ModelSpec("mobilenet_v3_large", (1, 3, 224, 224), "torchvision"),
        ModelSpec("efficientnet_b0", (1, 3, 224, 224), "torchvision"),
        ModelSpec("swin_t", (1, 3, 224, 224), "torchvision"),
        ModelSpec("paper_cnn", (1, 3, 224, 224), "zoo"),
        ModelSpec("functional_cnn", (1, 3, 224, 224), "zoo"),
        ModelSpec("sdpa_block", (1, 256, 512), "zoo"),
    )
}
QUICK_MODELS = ("resnet50", "paper_cnn")


def build_model(name: str):
    """Build model ``name`` (random weights, eval mode, seed 0)."""
    import torch

    torch.manual_seed(0)
    spec = MODELS[name]
    if spec.source == "torchvision":
        import torchvision

        model = torchvision.models.get_model(name, weights=None)
    else:
        from benchmarks import zoo

        model = {"paper_cnn": zoo.PaperCNN, "functional_cnn": zoo.FunctionalCNN, "sdpa_block": zoo.SDPABlock}[name]()
    return model.eval()


def reference_macs(name: str) -> tuple[int, str]:
    """Exact MACs of model ``name`` at its benchmark shape, and where the number comes from."""
    spec = MODELS[name]
    if spec.source == "torchvision":
        import torchvision

        gmacs = torchvision.models.get_model_weights(name).DEFAULT.meta["_ops"]
        return round(gmacs * 1e9), f"torchvision _ops = {gmacs} GMACs (3 decimals)"
    from benchmarks import zoo

    if name == "paper_cnn":
        return zoo.paper_cnn_reference_macs(spec.shape[-1]), "zoo.paper_cnn_reference_macs"
    if name == "functional_cnn":
        return zoo.functional_cnn_reference_macs(spec.shape[-1]), "zoo.functional_cnn_reference_macs"
    batch, length, dim = spec.shape
    return zoo.sdpa_block_reference_macs(batch, length, dim), "zoo.sdpa_block_reference_macs"


def matches(macs: int | None, reference: int, source: str) -> bool:
    """Whether ``macs`` equals the reference (within torchvision's rounding for its models)."""
    if macs is None:
        return False
    tolerance = TV_ROUNDING if source == "torchvision" else 0
    return abs(macs - reference) <= tolerance


# ----------------------------------------------------------------------------- tools
@dataclass(frozen=True)
class Tool:
    """A counter: its distribution (for the version), native unit and conversion to MACs."""

    name: str
    label: str
    dist: str | None
    unit: str
    conversion: str


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("forward", "plain forward (no_grad)", "torch", "-", "baseline: time only"),
        Tool(
            "flopcount",
            "flopcount (torchvision conv.)",
            "flopcount",
            "MACs (`convention='torchvision'`)",
            "none; flopcount's default FLOPs shown too",
        ),
        Tool("fvcore", "fvcore FlopCountAnalysis", "fvcore", '"flops" = MACs (one fused multiply-add = 1)', "none"),
        Tool("ptflops", "ptflops (pytorch backend)", "ptflops", "MACs", "none"),
        Tool("thop", "thop (ultralytics-thop)", "ultralytics-thop", "MACs", "none"),
        Tool("torchinfo", "torchinfo summary", "torchinfo", "mult-adds (`total_mult_adds`)", "none"),
        Tool("calflops", "calflops", "calflops", "FLOPs and MACs", "its MACs value"),
        Tool("flop_counter", "FlopCounterMode", "torch", "FLOPs = 2 x MACs", "FLOPs / 2"),
        Tool("flop_counter_meta", "FlopCounterMode on meta", "torch", "FLOPs = 2 x MACs", "FLOPs / 2"),
    )
}
PEERS = tuple(t for t in TOOLS if t not in ("forward", "flopcount"))


def _run_forward(model, x) -> dict[str, Any]:
    import torch

    with torch.no_grad():
        model(x)
    return {}


def _run_flopcount(model, x) -> dict[str, Any]:
    from flopcount import profile

    p = profile(model, input_shape=tuple(x.shape), convention="torchvision")
    return {"native": p.total_macs, "macs": p.total_macs, "params": p.total_params, "profile": p}


def _flopcount_extra(result: dict[str, Any]) -> dict[str, Any]:
    p = result.pop("profile")
    return {
        "flops_default_convention": p.using("flopcount").total_flops,
        "macs_default_convention": p.using("flopcount").total_macs,
        "coverage": p.coverage,
        "uncounted": {u.op: u.occurrences for u in p.uncounted} if p.uncounted else {},
        "capture": p.capture.method,
    }


def _run_fvcore(model, x) -> dict[str, Any]:
    from fvcore.nn import FlopCountAnalysis, parameter_count

    analysis = FlopCountAnalysis(model, (x,)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    total = analysis.total()
    skipped = {str(op): n for op, n in analysis.unsupported_ops().items()}
    return {"native": total, "macs": total, "params": parameter_count(model)[""], "extra": {"skipped_ops": skipped}}


def _run_ptflops(model, x) -> dict[str, Any]:
    from ptflops import get_model_complexity_info

    macs, params = get_model_complexity_info(
        model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, verbose=False
    )
    if macs is None:
        raise RuntimeError("ptflops returned None (it failed inside; see its log)")
    return {"native": macs, "macs": macs, "params": params}


def _run_thop(model, x) -> dict[str, Any]:
    from thop import profile as thop_profile

    macs, params = thop_profile(model, inputs=(x,), verbose=False)
    return {"native": macs, "macs": macs, "params": params}


def _run_torchinfo(model, x) -> dict[str, Any]:
    from torchinfo import summary

    stats = summary(model, input_size=tuple(x.shape), verbose=0, device="cpu")
    return {"native": stats.total_mult_adds, "macs": stats.total_mult_adds, "params": stats.total_params}


def _run_calflops(model, x) -> dict[str, Any]:
    from calflops import calculate_flops

    flops, macs, params = calculate_flops(
        model, input_shape=tuple(x.shape), print_results=False, print_detailed=False, output_as_string=False
    )
    return {"native": macs, "macs": macs, "params": params, "extra": {"flops": flops}}


def _run_flop_counter(model, x) -> dict[str, Any]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    flops = counter.get_total_flops()
    by_op = {str(op): n for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return {"native": flops, "macs": flops / 2, "params": None, "extra": {"flops_by_op": by_op}}


RUNNERS: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
    "forward": _run_forward,
    "flopcount": _run_flopcount,
    "fvcore": _run_fvcore,
    "ptflops": _run_ptflops,
    "thop": _run_thop,
    "torchinfo": _run_torchinfo,
    "calflops": _run_calflops,
    "flop_counter": _run_flop_counter,
    "flop_counter_meta": _run_flop_counter,
}


# ----------------------------------------------------------------------------- worker
def short_error(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 120 characters)."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".strip().rstrip(":")
    return text[:120]


def repeats_for(warmup_s: float, repeats: int, cell_budget_s: float) -> int:
    """Fewer timed calls when ``repeats`` calls would exceed ``cell_budget_s`` (at least 1)."""
    if warmup_s * repeats <= cell_budget_s:
        return repeats
    return max(1, min(repeats, int(cell_budget_s // max(warmup_s, 1e-9))))


def measure(tool: str, model_name: str, repeats: int, cell_budget_s: float) -> dict[str, Any]:
    """Profile one model with one tool in this process: warm-up, timed calls, the counts.

    Each timed call of the tool follows a plain forward of the same model in this process
    (:func:`benchmarks._common.time_interleaved`), so ``time_vs_forward`` compares two
    medians taken under the same machine load.
    """
    import copy

    import torch

    record: dict[str, Any] = {"tool": tool, "model": model_name, "status": "ok"}
    try:
        model = build_model(model_name)
        x = torch.randn(MODELS[model_name].shape, generator=torch.Generator().manual_seed(0))
        tool_model, tool_x = model, x
        if tool == "flop_counter_meta":
            tool_model, tool_x = copy.deepcopy(model).to("meta"), x.to("meta")
        run, forward = RUNNERS[tool], RUNNERS["forward"]
        start = time.perf_counter()
        forward(model, x)
        forward_warmup_s = time.perf_counter() - start
        start = time.perf_counter()
        run(tool_model, tool_x)
        record["warmup_s"] = time.perf_counter() - start
        n = repeats_for(record["warmup_s"] + forward_warmup_s, repeats, cell_budget_s)
        if tool == "forward":  # the baseline itself: no second forward beside it
            median, times, result = time_calls(lambda: forward(model, x), n, warmup=0)
            timed = Interleaved(median, median, times, times, result)
        else:
            timed = time_interleaved(lambda: run(tool_model, tool_x), lambda: forward(model, x), n)
    except Exception as exc:  # a tool failing on a model is a result, not a crash
        record.update(status="error", error=short_error(exc))
        return record
    result = timed.result
    extra = _flopcount_extra(result) if tool == "flopcount" else result.get("extra", {})
    record.update(
        native=result.get("native"),
        macs=result.get("macs"),
        params=result.get("params"),
        time_s=timed.time_s,
        times_s=timed.times_s,
        forward_s=timed.baseline_s,
        forward_times_s=timed.baseline_times_s,
        time_vs_forward=timed.ratio,
        repeats=n,
        extra=extra,
    )
    return record


def worker_main(tool: str, models: list[str], repeats: int, cell_budget_s: float, out: Path) -> None:
    """Measure ``models`` with ``tool``, appending one JSON line per model to ``out``."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    for name in models:
        record = measure(tool, name, repeats, cell_budget_s)
        with out.open("a") as fh:
            fh.write(json.dumps(record, default=str) + "\n")


# ----------------------------------------------------------------------------- parent
def run_tool(
    tool: str, models: list[str], repeats: int, cell_budget_s: float, timeout_s: float, log_dir: Path
) -> dict[str, dict[str, Any]]:
    """Run ``tool`` on ``models`` in fresh worker processes; a crash or timeout fails one model.

    Returns:
        model name -> record (see :func:`measure`).
    """
    spec = TOOLS[tool]
    if spec.dist and version_of(spec.dist) is None:
        return {
            m: {"tool": tool, "model": m, "status": "error", "error": f"not installed ({spec.dist})"} for m in models
        }
    results: dict[str, dict[str, Any]] = {}
    remaining = list(models)
    while remaining:
        out = log_dir / f"{tool}.jsonl"
        out.unlink(missing_ok=True)
        log = log_dir / f"{tool}.log"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            tool,
            "--models",
            ",".join(remaining),
            "--repeats",
            str(repeats),
            "--cell-budget",
            str(cell_budget_s),
            "--worker-out",
            str(out),
        ]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}
        failure = None
        with log.open("a") as fh:
            try:
                proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=timeout_s)
                if proc.returncode != 0:
                    failure = f"worker exited with {proc.returncode}"
            except subprocess.TimeoutExpired:
                failure = f"timeout after {timeout_s:.0f} s"
        done = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
        for record in done:
            results[record["model"]] = record
        remaining = [m for m in remaining if m not in results]
        if failure and remaining:  # the model in progress took the process down
            results[remaining[0]] = {"tool": tool, "model": remaining[0], "status": "error", "error": failure}
            remaining = remaining[1:]
        elif remaining:  # clean exit without results: should not happen
            for m in remaining:
                results[m] = {"tool": tool, "model": m, "status": "error", "error": "no result from worker"}
            remaining = []
    return results


def annotate(results: dict[str, dict[str, dict[str, Any]]], models: list[str]) -> dict[str, Any]:
    """Per model: reference MACs, each tool's error vs it, match flag and time vs forward."""
    table: dict[str, Any] = {}
    for name in models:
        ref, ref_source = reference_macs(name)
        source = MODELS[name].source
        tools = {}
        for tool, per_model in results.items():
            rec = dict(per_model[name])
            if rec["status"] == "ok" and tool != "forward":
                macs = rec.get("macs")
                rec["rel_error_pct"] = None if macs is None else (macs - ref) / ref * 100
                rec["matches_reference"] = matches(macs, ref, source)
            if rec.get("time_s") is not None and rec.get("forward_s"):  # the forward timed beside it
                rec["time_vs_forward"] = rec["time_s"] / rec["forward_s"]
            tools[tool] = rec
        table[name] = {
            "shape": list(MODELS[name].shape),
            "reference_macs": ref,
            "reference_source": ref_source,
            "reference_tolerance_macs": TV_ROUNDING if source == "torchvision" else 0,
            "tools": tools,
        }
    return table


# ----------------------------------------------------------------------------- rendering
def _delta(rec: dict[str, Any]) -> str:
    if rec["status"] != "ok":
        return "error"
    if rec.get("rel_error_pct") is None:
        return "-"
    if rec.get("matches_reference"):
        return "exact" if rec["rel_error_pct"] == 0 else f"= ({rec['rel_error_pct']:+.3f}%, rounding)"
    return f"{rec['rel_error_pct']:+.2f}%"


def _time_cell(rec: dict[str, Any], full_repeats: int) -> str:
    if rec.get("time_s") is None:
        return "-"
    note = f" (n={rec['repeats']})" if rec.get("repeats", full_repeats) < full_repeats else ""
    return fmt_seconds(rec["time_s"]) + note


def model_table(name: str, entry: dict[str, Any], repeats: int) -> str:
    """Markdown table of one model: every tool's MACs, error, params and time."""
    from tabulate import tabulate

    rows = []
    for tool, rec in entry["tools"].items():
        label = TOOLS[tool].label
        if rec["status"] != "ok":
            rows.append([label, f"error: {rec['error']}", "", "", "", "", ""])
            continue
        native = "-" if rec.get("native") is None else fmt_count(rec["native"])
        ratio = rec.get("time_vs_forward")
        rows.append(
            [
                label,
                native,
                fmt_count(rec.get("macs")),
                _delta(rec),
                fmt_count(rec.get("params")),
                _time_cell(rec, repeats),
                "-" if ratio is None else f"{ratio:.2f}x",
            ]
        )
    headers = ["tool", "native total", "MACs", "vs exact", "params", "time / call", "time / forward"]
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def summary_table(table: dict[str, Any], tools: list[str]) -> str:
    """Models x tools: MAC error vs the exact count (``=`` is a match)."""
    from tabulate import tabulate

    counted = [t for t in tools if t != "forward"]
    rows = []
    for name, entry in table.items():
        row = [name, fmt_count(entry["reference_macs"])]
        for tool in counted:
            rec = entry["tools"][tool]
            row.append("=" if rec.get("matches_reference") else _delta(rec))
        rows.append(row)
    return tabulate(rows, ["model", "exact MACs", *counted], tablefmt="github", disable_numparse=True)


def time_table(table: dict[str, Any], tools: list[str], repeats: int) -> str:
    """Models x tools: median wall time per profiling call."""
    from tabulate import tabulate

    rows = [
        [name, *(_time_cell(e["tools"][t], repeats) if e["tools"][t]["status"] == "ok" else "error" for t in tools)]
        for name, e in table.items()
    ]
    return tabulate(rows, ["model", *tools], tablefmt="github", disable_numparse=True)


def tools_table(tools: list[str], versions: dict[str, str | None]) -> str:
    """The tools: version, native unit and the conversion to MACs."""
    from tabulate import tabulate

    rows = [[t, TOOLS[t].label, versions.get(t) or "not installed", TOOLS[t].unit, TOOLS[t].conversion] for t in tools]
    return tabulate(rows, ["key", "tool", "version", "native unit", "to MACs"], tablefmt="github")


def peer_time_vs_flopcount(peer: dict[str, Any], flopcount: dict[str, Any]) -> float | None:
    """A peer's time over flopcount's, each first divided by the forward timed in its own process.

    Two tools run in different processes, possibly minutes apart under a different load;
    the ratio of their ratios to a plain forward cancels that drift. Falls back to the
    raw times for records without a forward beside them; ``None`` when a time is missing.
    """
    if peer.get("time_vs_forward") and flopcount.get("time_vs_forward"):
        return float(peer["time_vs_forward"] / flopcount["time_vs_forward"])
    if peer.get("time_s") and flopcount.get("time_s"):
        return float(peer["time_s"] / flopcount["time_s"])
    return None


def headlines(table: dict[str, Any], tools: list[str]) -> list[str]:
    """Quotable one-liners: exact-match counts and speed ratios."""
    lines = []
    n = len(table)
    for tool in (t for t in tools if t != "forward"):
        recs = [e["tools"][tool] for e in table.values()]
        exact = sum(bool(r.get("matches_reference")) for r in recs)
        errors = sum(r["status"] != "ok" for r in recs)
        lines.append(
            f"{tool}: matches the exact MAC count on {exact}/{n} models" + (f" ({errors} errors)" if errors else "")
        )
    if "flopcount" in tools:
        for name, entry in table.items():
            ratio = entry["tools"]["flopcount"].get("time_vs_forward")
            if ratio is not None:
                lines.append(f"flopcount profile time / plain forward, {name}: {ratio:.2f}x")
        for peer in (t for t in tools if t not in ("forward", "flopcount")):
            ratios = [
                peer_time_vs_flopcount(e["tools"][peer], e["tools"]["flopcount"])
                for e in table.values()
                if peer_time_vs_flopcount(e["tools"][peer], e["tools"]["flopcount"]) is not None
            ]
            if ratios:
                geo = math.exp(statistics.fmean(math.log(r) for r in ratios))
                lines.append(
                    f"{peer} time / flopcount time: geometric mean {geo:.2f}x over {len(ratios)} models "
                    f"(range {min(ratios):.2f}x-{max(ratios):.2f}x)"
                )
    return lines


def render(payload: dict[str, Any]) -> str:
    """The markdown section written to docs/benchmarks.md."""
    tools, table, repeats = payload["tools"], payload["models"], payload["repeats"]
    parts = [
        machine_line(payload["machine"]),
        f"Time per call: median of {repeats} calls after one warm-up, each tool in its own fresh process; "
        "time / forward: that median over the median of a plain forward of the same model timed in the same "
        "process, interleaved call by call (the peer-vs-flopcount headlines are ratios of these ratios); "
        f"`(n=k)` marks cells timed with fewer calls because one call took over "
        f"{payload['cell_budget_s'] / repeats:.0f} s. Total run: {payload['wall_s']:.0f} s.",
        "### Tools\n\n" + tools_table(tools, payload["versions"]),
        "### MACs vs the exact count (`=` matches)\n\n" + summary_table(table, tools),
        "### Time per profiling call\n\n" + time_table(table, tools, repeats),
    ]
    for name, entry in table.items():
        parts.append(
            f"### {name} {tuple(entry['shape'])}\n\nExact: {fmt_count(entry['reference_macs'])} MACs "
            f"({entry['reference_source']}).\n\n" + model_table(name, entry, repeats)
        )
    parts.append("### Headlines\n\n" + "\n".join(f"- {line}" for line in payload["headlines"]))
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------- CLI
def _names(text: str | None, known: dict[str, Any], default: tuple[str, ...]) -> list[str]:
    if not text:
        return list(default)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown name(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, 2 models, no docs update")
    parser.add_argument("--tools", help=f"comma-separated subset of {', '.join(TOOLS)}")
    parser.add_argument("--models", help=f"comma-separated subset of {', '.join(MODELS)}")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per cell (default 5)")
    parser.add_argument(
        "--cell-budget",
        type=float,
        default=25.0,
        help="seconds of timed calls per cell before repeats are reduced (default 25)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per worker process (default 600)")
    parser.add_argument("--json", type=Path, help="results JSON (default benchmarks/results/compare_counters.json)")
    parser.add_argument(
        "--docs",
        type=Path,
        help="markdown file to update (default docs/benchmarks.md; --quick updates none unless given)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison, print the tables and write the JSON (and docs section)."""
    args = parse_args(argv)
    models = _names(args.models, MODELS, QUICK_MODELS if args.quick else tuple(MODELS))
    if args.worker:
        worker_main(args.worker, models, args.repeats, args.cell_budget, args.worker_out)
        return {}
    tools = _names(args.tools, TOOLS, tuple(TOOLS))
    json_path = args.json or (QUICK_RESULTS if args.quick else RESULTS) / "compare_counters.json"
    docs_path = args.docs or (None if args.quick else DOCS)
    start = time.perf_counter()
    info = machine_info()
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="compare_counters_") as tmp:
        for tool in tools:
            t0 = time.perf_counter()
            results[tool] = run_tool(tool, models, args.repeats, args.cell_budget, args.timeout, Path(tmp))
            print(f"[{tool}] {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    table = annotate(results, models)
    versions = {t: version_of(TOOLS[t].dist) if TOOLS[t].dist else None for t in tools}
    payload = {
        "schema": "flopcount.benchmarks.compare_counters/1",
        "machine": info,
        "versions": {**versions, "torch": info["torch"], "torchvision": version_of("torchvision")},
        "repeats": args.repeats,
        "cell_budget_s": args.cell_budget,
        "quick": args.quick,
        "tools": tools,
        "units": {t: {"unit": TOOLS[t].unit, "to_macs": TOOLS[t].conversion} for t in tools},
        "models": table,
        "wall_s": time.perf_counter() - start,
    }
    payload["headlines"] = headlines(table, tools)
    publish(payload, render(payload), json_path, docs_path, SECTION)
    return payload


if __name__ == "__main__":
    main()
