"""FlopCounterMode's blind spots on CPU, per torch release: attention counted as 0.

``torch.utils.flop_counter.FlopCounterMode`` counts the FLOPs of the aten ops it has a
formula for. On CPU some torch releases dispatch attention to kernels it has no formula
for, so the count silently drops them; on ``meta`` the same calls decompose into
``bmm``/``addmm`` and are counted. This script measures, on the torch it runs under, each
case on CPU and on meta against flopcount's count (``2 x MACs`` of conv/linear/matmul/
attention, the quantity FlopCounterMode reports), and merges the row into
``benchmarks/results/flop_counter_blind_spots.json`` keyed by torch release, so running
it under several releases (``make test-matrix`` does) builds the table in
``docs/benchmarks.md``.

    python benchmarks/flop_counter_blind_spots.py            # measure, merge, print, write docs
    python benchmarks/flop_counter_blind_spots.py --no-docs  # JSON only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import DOCS, RESULTS, machine_info, write_json, write_section

JSON_PATH = RESULTS / "flop_counter_blind_spots.json"
SECTION = "flop_counter_blind_spots"


def cases() -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """Name -> (model, example inputs) on CPU; sizes small enough to run in a second."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SDPA(nn.Module):
        def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return F.scaled_dot_product_attention(q, k, v)

    class MHA(nn.Module):
        def __init__(self, batch_first: bool) -> None:
            super().__init__()
            self.mha = nn.MultiheadAttention(256, 8, batch_first=batch_first)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.mha(x, x, x, need_weights=False)[0]

    torch.manual_seed(0)
    q = torch.randn(2, 8, 128, 64)
    return {
        "F.scaled_dot_product_attention (2, 8, 128, 64)": (SDPA(), (q, q, q)),
        "nn.MultiheadAttention(256, 8), need_weights=False, seq-first": (
            MHA(False).eval(),
            (torch.randn(128, 2, 256),),
        ),
        "nn.MultiheadAttention(256, 8), need_weights=False, batch_first (fast path)": (
            MHA(True).eval(),
            (torch.randn(2, 128, 256),),
        ),
    }


def measure() -> dict[str, Any]:
    """FlopCounterMode on CPU and on meta vs flopcount, for every case, on this torch."""
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from flopcount import profile

    def fcm(model: Any, args: tuple[Any, ...]) -> int:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*args)
        return int(counter.get_total_flops())

    rows = {}
    for name, (model, args) in cases().items():
        exact = profile(model, *args).using("torchvision").total_flops
        meta_model = copy.deepcopy(model).to("meta")
        meta_args = tuple(a.to("meta") for a in args)
        rows[name] = {"exact": exact, "cpu": fcm(model, args), "meta": fcm(meta_model, meta_args)}
    return rows


def merge(previous: dict[str, Any], torch_version: str, rows: dict[str, Any], date: str) -> dict[str, Any]:
    """``previous`` with this release's rows replaced (releases sorted by version)."""
    releases = dict(previous.get("releases", {}))
    releases[torch_version] = {"date": date, "cases": rows}

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split("+")[0].split(".") if part.isdigit())

    return {
        "schema": "flopcount.bench.flop_counter_blind_spots/1",
        "releases": dict(sorted(releases.items(), key=lambda kv: key(kv[0]))),
    }


def verdict(row: dict[str, int]) -> str:
    """One cell: the CPU count as a share of the exact count, and whether meta is exact."""
    cpu = "exact" if row["cpu"] == row["exact"] else f"{row['cpu'] / row['exact']:.0%} of exact"
    meta = "exact" if row["meta"] == row["exact"] else f"{row['meta'] / row['exact']:.0%}"
    return f"CPU {cpu}; meta {meta}"


def render(payload: dict[str, Any]) -> str:
    """Markdown table: one row per case, one column per torch release."""
    releases = payload["releases"]
    names = list(next(iter(releases.values()))["cases"]) if releases else []
    head = "| case | " + " | ".join(f"torch {v}" for v in releases) + " |"
    lines = [head, "|---|" + "---|" * len(releases)]
    for name in names:
        cells = [verdict(data["cases"][name]) if name in data["cases"] else "-" for data in releases.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    dates = ", ".join(f"{v}: {d['date']}" for v, d in releases.items())
    return (
        "FlopCounterMode (`torch.utils.flop_counter`) FLOPs on a CPU model and on the same model on `meta`, "
        "against flopcount's exact count (2 x MACs), by torch release. Measured by "
        f"`benchmarks/flop_counter_blind_spots.py` under each release of `make test-matrix` ({dates}).\n\n"
        + "\n".join(lines)
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure on this torch, merge into the JSON, print the table, update the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=JSON_PATH)
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    import torch

    info = machine_info()
    previous = json.loads(args.json.read_text()) if args.json.exists() else {}
    payload = merge(previous, torch.__version__.split("+")[0], measure(), info["date"][:10])
    markdown = render(payload)
    print(markdown)
    write_json(args.json, payload)
    if not args.no_docs:
        write_section(args.docs, SECTION, markdown)
    print(f"\nwrote {args.json}", file=sys.stderr)
    return payload


if __name__ == "__main__":
    main()
