"""How fast flopcount profiles, compared with running the model.

Part 1 (one process): for resnet50, vit_b_16, mobilenet_v3_large and the paper's Table II
CNN at batch 1, the median time of ``flopcount.profile`` (after one warm-up) beside the
median time of a plain ``torch.no_grad()`` CPU forward pass, and the ratio; the targets
are <= 0.5x for resnet50 and <= 1/3 for vit_b_16.

Part 2 (one fresh process each): a decoder with LLaMA-7B shapes built on the ``meta``
device (``zoo.llama_7b``, then Hugging Face's ``LlamaForCausalLM`` with transformers'
default config, which is LLaMA-7B's), profiled on a (1, 2048) token tensor, beside
``torch.utils.flop_counter.FlopCounterMode``
running the same meta model in the same process (target: flopcount no slower), and
flopcount's peak memory (target < 1 GB): tracemalloc peak and the growth of the
process's peak RSS while profiling, with the process's whole peak RSS (mostly
``import torch``) for context.

Part 3 (the process of part 1): models whose control flow reads tensor values
(``zoo.InputSteered``: a branch on the input's mean; ``zoo.WeightSteered``: a loop sized
by a weight's ``.item()``), profiled on a real (1, 3, 224, 224) input beside a plain
forward: fx cannot trace them, so the first runs with fake weights on the real input and
the second on a real clone; target <= 2x a forward for both, exact MACs.

Usage::

    python benchmarks/profile_speed.py           # docs/benchmarks.md + results JSON
    python benchmarks/profile_speed.py --quick   # 1 repeat, 2 models, no 7B, no docs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    DOCS,
    QUICK_RESULTS,
    RESULTS,
    fmt_count,
    fmt_seconds,
    machine_info,
    machine_line,
    publish,
    time_calls,
    version_of,
)

SECTION = "profile_speed"
MODELS = ("resnet50", "vit_b_16", "mobilenet_v3_large", "paper_cnn")
QUICK_MODELS = ("resnet50", "paper_cnn")
#: Largest allowed profile time / forward time.
TARGETS = {"resnet50": 0.5, "vit_b_16": 1 / 3}
#: Largest allowed profile time / forward time of a model that reads tensor values.
STEERED_TARGET = 2.0
MEMORY_TARGET_BYTES = 2**30
LLAMA_TOKENS = (1, 2048)


def build(name: str):
    """Model ``name`` (random weights, eval mode) and its input shape."""
    import torch
    import torchvision

    from benchmarks import zoo

    torch.manual_seed(0)
    model = zoo.PaperCNN() if name == "paper_cnn" else torchvision.models.get_model(name, weights=None)
    return model.eval(), (1, 3, 224, 224)


def time_model(name: str, repeats: int) -> dict[str, Any]:
    """Median forward and profile times of one model, in this process."""
    import torch

    from flopcount import profile

    model, shape = build(name)
    x = torch.randn(shape)

    def forward():
        with torch.no_grad():
            return model(x)

    fwd, fwd_times, _ = time_calls(forward, repeats)
    prof, prof_times, p = time_calls(lambda: profile(model, input_shape=shape), repeats)
    ratio = prof / fwd
    target = TARGETS.get(name)
    return {
        "shape": list(shape),
        "forward_s": fwd,
        "forward_times_s": fwd_times,
        "profile_s": prof,
        "profile_times_s": prof_times,
        "ratio": ratio,
        "target": target,
        "met": None if target is None else ratio <= target,
        "flops": p.total_flops,
        "macs": p.total_macs,
        "params": p.total_params,
        "capture": p.capture.method,
    }


def time_steered(repeats: int) -> dict[str, Any]:
    """Part 3: forward and profile times of the value-steered models, with their capture path."""
    import torch

    from benchmarks import zoo
    from flopcount import profile

    results = {}
    for name, cls, extra in (("input_steered", zoo.InputSteered, 1), ("weight_steered", zoo.WeightSteered, 3)):
        torch.manual_seed(0)
        model = cls().eval()
        x = torch.rand(1, 3, 224, 224)  # positive: the input-steered branch is taken

        def forward(model: Any = model, x: Any = x) -> Any:
            with torch.no_grad():
                return model(x)

        fwd, fwd_times, _ = time_calls(forward, repeats)
        prof, prof_times, p = time_calls(lambda model=model, x=x: profile(model, x), repeats)
        reference = zoo.steered_reference_macs(extra)
        results[name] = {
            "forward_s": fwd,
            "forward_times_s": fwd_times,
            "profile_s": prof,
            "profile_times_s": prof_times,
            "ratio": prof / fwd,
            "target": STEERED_TARGET,
            "met": prof / fwd <= STEERED_TARGET,
            "capture": p.capture.method,
            "reason": p.capture.reason,
            "macs": p.total_macs,
            "reference_macs": reference,
            "exact": p.total_macs == reference,
        }
    return results


def _status_bytes(field: str) -> int | None:
    """``VmRSS`` / ``VmHWM`` of this process from /proc (None off Linux)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs``), so VmHWM measures from now."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_bytes() -> int:
    return _status_bytes("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _build_llama(source: str) -> Any:
    """The 7B decoder on meta: ``zoo.llama_7b()``, or (``"hf"``) ``LlamaForCausalLM(LlamaConfig())`` (7B defaults)."""
    import torch

    from benchmarks import zoo

    with torch.device("meta"):
        if source == "hf":
            from transformers import LlamaConfig, LlamaForCausalLM

            return LlamaForCausalLM(LlamaConfig())
        return zoo.llama_7b()


def llama_worker(repeats: int, source: str = "zoo") -> dict[str, Any]:
    """Profile a meta LLaMA-7B decoder with flopcount and FlopCounterMode (run in a fresh process)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks import zoo
    from flopcount import profile

    model = _build_llama(source)
    tokens = torch.zeros(LLAMA_TOKENS, dtype=torch.long, device="meta")
    rss_before = _status_bytes("VmRSS") if _reset_peak_rss() else _peak_rss_bytes()
    start = time.perf_counter()
    p = profile(model, tokens)
    cold = time.perf_counter() - start
    fc_time, fc_times, p = time_calls(lambda: profile(model, tokens), repeats, warmup=0)
    rss_after = _peak_rss_bytes()

    def flop_counter():
        with FlopCounterMode(display=False) as counter:
            model(tokens)
        return counter.get_total_flops()

    fcm_rss_before = _status_bytes("VmRSS") if _reset_peak_rss() else _peak_rss_bytes()
    fcm_time, fcm_times, fcm_flops = time_calls(flop_counter, repeats)
    fcm_rss_growth = _peak_rss_bytes() - fcm_rss_before
    tracemalloc.start()
    profile(model, tokens)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    reference = zoo.llama_reference_macs(*LLAMA_TOKENS)
    macs = p.using("torchvision").total_macs
    return {
        "source": source,
        "tokens": list(LLAMA_TOKENS),
        "params": p.total_params,
        "capture": p.capture.method,
        "reference_macs": reference,
        "flopcount_macs": macs,
        "flopcount_matches": macs == reference,
        "flopcount_flops": p.total_flops,
        "flop_counter_macs": fcm_flops // 2,
        "flop_counter_matches": fcm_flops == 2 * reference,
        "flopcount_cold_s": cold,
        "flopcount_s": fc_time,
        "flopcount_times_s": fc_times,
        "flop_counter_s": fcm_time,
        "flop_counter_times_s": fcm_times,
        "speed_ratio": fc_time / fcm_time,
        "speed_met": fc_time <= fcm_time,
        "tracemalloc_peak_bytes": traced_peak,
        "rss_growth_bytes": rss_after - rss_before,
        "process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "process_rss_before_profile_bytes": rss_before,
        "flop_counter_rss_growth_bytes": fcm_rss_growth,
        "memory_met": max(traced_peak, rss_after - rss_before) < MEMORY_TARGET_BYTES,
    }


def run_llama(repeats: int, source: str = "zoo") -> dict[str, Any]:
    """Run :func:`llama_worker` in a fresh process so its memory numbers are its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--llama-worker", source, "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["worker failed"])[-1][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def render(payload: dict[str, Any]) -> str:
    """Markdown section for docs/benchmarks.md."""
    from tabulate import tabulate

    rows = []
    for name, r in payload["models"].items():
        target = "-" if r["target"] is None else f"<= {r['target']:.2f}x: {'met' if r['met'] else 'not met'}"
        rows.append([name, fmt_seconds(r["forward_s"]), fmt_seconds(r["profile_s"]), f"{r['ratio']:.3f}x", target])
    parts = [
        machine_line(payload["machine"]),
        f"flopcount {payload['versions']['flopcount']}; median of {payload['repeats']} calls after one "
        "warm-up, all in one process; `profile(model, input_shape=(1, 3, 224, 224))` vs "
        "`with torch.no_grad(): model(x)` on CPU.",
        tabulate(
            rows,
            ["model", "plain forward", "flopcount profile", "profile / forward", "target"],
            tablefmt="github",
            disable_numparse=True,
        ),
    ]
    steered = payload.get("steered") or {}
    if steered:
        rows = [
            [
                name,
                r["capture"],
                fmt_seconds(r["forward_s"]),
                fmt_seconds(r["profile_s"]),
                f"{r['ratio']:.2f}x",
                f"<= {r['target']:.0f}x: {'met' if r['met'] else 'not met'}",
                "yes" if r["exact"] else "no",
            ]
            for name, r in steered.items()
        ]
        parts += [
            "Control flow on tensor values (`zoo.InputSteered`: a branch on the input's mean, so fx fails and "
            "a copy with fake weights runs on the real input; `zoo.WeightSteered`: a loop sized by a weight's "
            "`.item()`, so a real clone runs), on a real (1, 3, 224, 224) input:",
            tabulate(
                rows,
                ["model", "capture", "plain forward", "flopcount profile", "profile / forward", "target", "exact MACs"],
                tablefmt="github",
                disable_numparse=True,
            ),
        ]
    llama = payload.get("llama_7b")
    if llama and "error" in llama:
        parts.append(f"LLaMA-7B shapes on meta: error: {llama['error']}")
    elif llama:
        parts += _llama_section(llama)
    hf = payload.get("hf_llama_7b")
    if hf and "error" in hf:
        parts.append(f"Hugging Face LLaMA-7B on meta: error: {hf['error']}")
    elif hf:
        parts += _llama_section(hf)
    parts.append("Headlines:\n\n" + "\n".join(f"- {line}" for line in payload["headlines"]))
    return "\n\n".join(parts)


def _llama_section(llama: dict[str, Any]) -> list[str]:
    """The 7B decoder's text and table (either source)."""
    from tabulate import tabulate

    rows = [
        [
            "flopcount `profile(model, tokens)`",
            fmt_seconds(llama["flopcount_s"]),
            fmt_count(llama["flopcount_macs"]),
            "yes" if llama["flopcount_matches"] else "no",
        ],
        [
            "`FlopCounterMode` (FLOPs / 2)",
            fmt_seconds(llama["flop_counter_s"]),
            fmt_count(llama["flop_counter_macs"]),
            "yes" if llama["flop_counter_matches"] else "no",
        ],
    ]
    params = fmt_count(llama["params"])
    what = (
        f"Hugging Face `LlamaForCausalLM(LlamaConfig())` (transformers' defaults are LLaMA-7B's; {params} parameters)"
        if llama.get("source") == "hf"
        else f"Decoder with LLaMA-7B shapes ({params} parameters)"
    )
    return [
        f"{what} built under `torch.device('meta')`, tokens {tuple(llama['tokens'])} on meta, both tools in one "
        f"fresh process; exact MACs {fmt_count(llama['reference_macs'])} (`zoo.llama_reference_macs`).",
        tabulate(rows, ["tool", "time / call", "MACs", "exact"], tablefmt="github", disable_numparse=True),
        f"- speed: flopcount / FlopCounterMode = {llama['speed_ratio']:.2f}x, target <= 1: "
        f"{'met' if llama['speed_met'] else 'not met'} (flopcount's first, cold call: "
        f"{fmt_seconds(llama['flopcount_cold_s'])})\n"
        f"- memory: tracemalloc peak {_mib(llama['tracemalloc_peak_bytes'])}, peak-RSS growth while "
        f"profiling {_mib(llama['rss_growth_bytes'])}; target < 1 GB: "
        f"{'met' if llama['memory_met'] else 'not met'} (for context: the process's lifetime peak RSS is "
        f"{_mib(llama['process_peak_rss_bytes'])} and its RSS just before the first profile call "
        f"{_mib(llama['process_rss_before_profile_bytes'])}, mostly `import torch`; FlopCounterMode's "
        f"peak-RSS growth on the same model: {_mib(llama['flop_counter_rss_growth_bytes'])})",
    ]


def headlines(payload: dict[str, Any]) -> list[str]:
    """One line per target: met / not met with the measured ratio."""
    lines = []
    for name, r in payload["models"].items():
        if r["target"] is not None:
            lines.append(
                f"{name}: profile / forward = {r['ratio']:.3f}x (target <= {r['target']:.2f}x): "
                f"{'met' if r['met'] else 'not met'}"
            )
    for name, r in (payload.get("steered") or {}).items():
        lines.append(
            f"{name} ({r['capture']}): profile / forward = {r['ratio']:.2f}x (target <= {r['target']:.0f}x): "
            f"{'met' if r['met'] else 'not met'}"
        )
    for key in ("llama_7b", "hf_llama_7b"):
        llama = payload.get(key) or {}
        if "speed_ratio" in llama:
            lines.append(
                f"{key} on meta: flopcount / FlopCounterMode = {llama['speed_ratio']:.2f}x "
                f"(target <= 1): {'met' if llama['speed_met'] else 'not met'}"
            )
            peak = max(llama["tracemalloc_peak_bytes"], llama["rss_growth_bytes"])
            lines.append(
                f"{key} on meta: flopcount peak memory {_mib(peak)} (target < 1 GB): "
                f"{'met' if llama['memory_met'] else 'not met'}"
            )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, 2 models, no 7B, no docs")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (default 5)")
    parser.add_argument("--no-llama", action="store_true", help="skip the 7B decoder")
    parser.add_argument("--json", type=Path, help="results JSON (default benchmarks/results/profile_speed.json)")
    parser.add_argument("--docs", type=Path, help="markdown file to update (default docs/benchmarks.md)")
    parser.add_argument("--llama-worker", choices=("zoo", "hf"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.no_llama = 1, True
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the measurements, print the table and write the JSON (and docs section)."""
    args = parse_args(argv)
    if args.llama_worker:
        print(json.dumps(llama_worker(args.repeats, args.llama_worker)))
        return {}
    start = time.perf_counter()
    info = machine_info()
    models = {name: time_model(name, args.repeats) for name in (QUICK_MODELS if args.quick else MODELS)}
    payload: dict[str, Any] = {
        "schema": "flopcount.benchmarks.profile_speed/1",
        "machine": info,
        "versions": {
            "flopcount": version_of("flopcount"),
            "torch": info["torch"],
            "torchvision": version_of("torchvision"),
        },
        "repeats": args.repeats,
        "models": models,
        "steered": time_steered(args.repeats),
        "llama_7b": None if args.no_llama else run_llama(args.repeats),
        "hf_llama_7b": None if args.no_llama else run_llama(args.repeats, "hf"),
    }
    payload["headlines"] = headlines(payload)
    payload["wall_s"] = time.perf_counter() - start
    json_path = args.json or (QUICK_RESULTS if args.quick else RESULTS) / "profile_speed.json"
    publish(payload, render(payload), json_path, args.docs or (None if args.quick else DOCS), SECTION)
    return payload


if __name__ == "__main__":
    main()
