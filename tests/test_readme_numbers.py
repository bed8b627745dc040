"""The README's "Measured" table quotes `make bench`'s committed results, not numbers typed by hand.

After `make bench`, this test fails until the README quotes the new JSON (one source of
truth: benchmarks/results/*.json).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PEER_NAMES = {
    "fvcore": "fvcore",
    "ptflops": "ptflops",
    "thop": "thop",
    "torchinfo": "torchinfo",
    "calflops": "calflops",
    "flop_counter": "FlopCounterMode",
    "flop_counter_meta": "FlopCounterMode on meta",
}


def _measured_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## Measured") : text.index("## skinbench")]


def _row(section: str, start: str) -> str:
    rows = [line for line in section.splitlines() if line.startswith(f"| {start}")]
    assert len(rows) == 1, f"README's Measured table has no single row starting {start!r}"
    return rows[0]


@pytest.fixture(scope="module")
def compare() -> dict:
    return json.loads((RESULTS / "compare_counters.json").read_text())


@pytest.mark.parametrize("model", ["resnet50", "vit_b_16", "swin_t"])
def test_profile_time_per_forward_is_quoted_from_compare_counters(compare: dict, model: str):
    tools = compare["models"][model]["tools"]
    row = _row(_measured_section(), f"profile time / one plain CPU forward, {model}")
    flopcount = tools["flopcount"]
    assert f"**{flopcount['time_vs_forward']:.2f}x** ({flopcount['time_s'] * 1e3:.3g} ms)" in row
    cpu_peers = [tools[key]["time_vs_forward"] for key in PEER_NAMES if key != "flop_counter_meta"]
    all_peers = [*cpu_peers, tools["flop_counter_meta"]["time_vs_forward"]]
    # the peers' range, over every peer or (vit_b_16's row) over the CPU peers, meta named apart
    ranges = {f"{min(peers):.2f}x-{max(peers):.2f}x" for peers in (cpu_peers, all_peers)}
    assert any(quoted in row for quoted in ranges), (row, ranges)


def test_exact_matches_and_geometric_means_are_quoted(compare: dict):
    section = _measured_section()
    headlines = compare["headlines"]
    exact = {
        m.group(1): m.group(2)
        for h in headlines
        if (m := re.match(r"(\w+): matches the exact MAC count on (\d+/\d+)", h))
    }
    matches_row = _row(section, "models whose MACs match the exact count")
    assert f"**{exact.pop('flopcount')}**" in matches_row
    for key, count in exact.items():
        assert f"{PEER_NAMES[key]} {count}" in matches_row, key
    speed_row = _row(section, "peer time / flopcount time")
    for h in headlines:
        if m := re.match(r"(\w+) time / flopcount time: geometric mean ([\d.]+)x", h):
            assert f"{PEER_NAMES[m.group(1)]} {float(m.group(2)):.1f}x" in speed_row, h


def test_hf_llama_speed_is_quoted_from_profile_speed():
    llama = json.loads((RESULTS / "profile_speed.json").read_text())["hf_llama_7b"]
    row = _row(_measured_section(), "Hugging Face `LlamaForCausalLM` with the 7B config")
    ours, theirs = llama["flopcount_s"] * 1e3, llama["flop_counter_s"] * 1e3
    assert llama["flopcount_matches"]
    assert f"**{llama['speed_ratio']:.2f}x** ({ours:.0f} ms vs {theirs:.0f} ms), exact" in row


def test_llama_speed_and_memory_are_quoted_from_profile_speed():
    llama = json.loads((RESULTS / "profile_speed.json").read_text())["llama_7b"]
    section = _measured_section()
    speed = _row(section, "LLaMA-7B shapes on `meta`")
    ours, theirs = llama["flopcount_s"] * 1e3, llama["flop_counter_s"] * 1e3
    assert f"**{llama['speed_ratio']:.2f}x** ({ours:.0f} ms vs {theirs:.0f} ms)" in speed
    assert _row(section, "same, peak memory").startswith(
        f"| same, peak memory (target < 1 GB) | **{llama['rss_growth_bytes'] / 2**20:.0f} MiB**"
    )
