"""Deployed cost of trained runs: export ONNX float32 + int8, then a report with the deployed columns.

Usage::

    python examples/deployed_cost.py runs/paper/runs/custom_cnn runs/paper/runs/mobilenet_v3_small --out runs/deployed
    python examples/deployed_cost.py RUN [RUN ...] --out DIR [--no-int8] [--refresh] [--batch 32 --repeats 20]

For every run, ``skinbench export RUN --format onnx`` and ``--int8`` (an export already in
``RUN/export/`` is reused unless ``--refresh``): each checked against PyTorch on the run's
test split. Then ``skinbench report`` of all runs into ``DIR``: its "Deployed models"
table (``DIR/tables/deployed.csv``) has, per exported variant, the file size, onnxruntime
latency (batch 1) and throughput on 1 CPU thread, peak memory, the test accuracy of the
exported model and its agreement with PyTorch; the Pareto figures show eager, float32
and int8 points of each model with different markers. A run whose export fails the
parity check is reported and skipped (its ``.failed.json`` holds the numbers).

Only library calls (``skinbench.export.export_run``, ``skinbench.reports.report.build_report``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from skinbench.cost import SpeedOptions
from skinbench.errors import SkinbenchError
from skinbench.export import describe, export_run, variant_name
from skinbench.reports.report import build_report


def export_all(runs: list[Path], *, int8: bool = True, refresh: bool = False) -> list[str]:
    """Export every run as ONNX float32 (and int8); return one line per export."""
    lines = []
    for run in runs:
        for quantized in (False, True) if int8 else (False,):
            variant = variant_name("onnx", int8=quantized)
            if not refresh and (run / "export" / f"{variant}.json").is_file():
                lines.append(f"{run.name}: {variant} reused (pass --refresh to export again)")
                continue
            try:
                lines.append(f"{run.name}: " + describe(export_run(run, "onnx", int8=quantized)))
            except SkinbenchError as exc:  # a failed parity check: say so, report the others
                lines.append(f"{run.name}: {variant} not exported: {exc}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders written by skinbench train")
    parser.add_argument("--out", required=True, type=Path, help="report folder")
    parser.add_argument("--no-int8", action="store_false", dest="int8", help="float32 only")
    parser.add_argument("--refresh", action="store_true", help="export again even if RUN/export has the variant")
    parser.add_argument("--batch", type=int, default=32, help="throughput batch (default: 32)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls, the median is reported (default: 20)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (default: 5)")
    args = parser.parse_args(argv)
    try:
        for line in export_all(args.runs, int8=args.int8, refresh=args.refresh):
            print(line)
        speed = SpeedOptions(batch=args.batch, repeats=args.repeats, warmup=args.warmup, threads=1)
        result = build_report(
            args.runs,
            args.out,
            speed=speed,
            command="python examples/deployed_cost.py " + " ".join(sys.argv[1:] if argv is None else argv),
        )
    except SkinbenchError as exc:
        print(f"deployed_cost: error: {exc}", file=sys.stderr)
        return 2
    deployed = result.frames.get("deployed")
    if deployed is not None:
        columns = [
            "run",
            "variant",
            "file_mb",
            "latency_ms",
            "throughput",
            "peak_memory_mb",
            "accuracy",
            "max_abs_diff",
        ]
        print(deployed[columns].to_string(index=False))
    print(f"report: {result.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
