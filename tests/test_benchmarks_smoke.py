"""Smoke tests of the benchmark scripts: they run and write the documented JSON keys.

Nothing here checks a timing; the full benchmark is ``make bench``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks._common import write_section

ROOT = Path(__file__).resolve().parents[1]


def test_write_section_replaces_only_its_own_block(tmp_path):
    doc = tmp_path / "bench.md"
    doc.write_text("# Benchmarks\n\nProse before.\n")
    write_section(doc, "a", "first")
    write_section(doc, "b", "other")
    write_section(doc, "a", "second")
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nProse before.\n")
    assert "second" in text and "first" not in text and "other" in text
    assert text.count("<!-- BEGIN a") == 1 and text.index("second") < text.index("other")


@pytest.mark.slow
def test_compare_counters_quick_writes_expected_json(tmp_path):
    out, doc = tmp_path / "cc.json", tmp_path / "bench.md"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "compare_counters.py"),
        "--quick",
        "--tools",
        "flopcount",
        "--models",
        "paper_cnn",
        "--json",
        str(out),
        "--docs",
        str(doc),
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(out.read_text())
    assert {"schema", "machine", "versions", "repeats", "tools", "units", "models", "headlines", "wall_s"} <= set(
        payload
    )
    assert {"date", "cpu_model", "cpu_cores_logical", "ram_gib", "torch"} <= set(payload["machine"])
    assert payload["versions"]["flopcount"] and payload["versions"]["torch"]
    entry = payload["models"]["paper_cnn"]
    assert {"reference_macs", "reference_source", "tools"} <= set(entry)
    record = entry["tools"]["flopcount"]
    assert record["status"] == "ok" and record["matches_reference"] is True
    assert record["macs"] == entry["reference_macs"] and record["repeats"] == 1
    assert {"time_s", "params", "native", "extra"} <= set(record)
    assert "<!-- BEGIN compare_counters" in doc.read_text()


class FakeClock:
    """A clock that advances ``tick`` seconds per step and not at all while being read."""

    def __init__(self, tick: float):
        self.now, self.tick, self.steps = 0.0, tick, 0

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.now += self.tick
        self.steps += 1


@pytest.mark.parametrize(
    ("tick", "steps", "min_seconds", "expected_steps"),
    [
        (0.5, 4, 1.0, 4),  # the minimum number of steps already lasts min_seconds
        (0.1, 4, 3.0, 30),  # fast steps: more are timed until min_seconds pass
        (0.01, 4, 3.0, 40),  # capped at 10x steps
    ],
)
def test_training_rate_counts_the_steps_it_timed(tick, steps, min_seconds, expected_steps):
    from benchmarks.pipeline_speed import timed_rate

    clock = FakeClock(tick)
    result = timed_rate(clock.step, batch=16, steps=steps, min_seconds=min_seconds, clock=clock)
    assert result["steps"] == clock.steps == expected_steps
    assert result["seconds"] == pytest.approx(expected_steps * tick)
    assert result["images_per_s"] == pytest.approx(16 / tick)
    assert result["images_per_s"] == pytest.approx(result["batch"] * result["steps"] / result["seconds"])


def test_published_training_rates_add_up():
    """benchmarks/results/pipeline_speed.json: images_per_s == batch * steps / seconds on every row."""
    payload = json.loads((ROOT / "benchmarks" / "results" / "pipeline_speed.json").read_text())
    rows = payload["training"].values()
    assert rows
    for row in rows:
        assert row["images_per_s"] == pytest.approx(row["batch"] * row["steps"] / row["seconds"], rel=1e-9), row


def test_flop_counter_blind_spot_table_merges_releases_and_states_shares():
    from benchmarks.flop_counter_blind_spots import merge, render, verdict

    assert verdict({"exact": 100, "cpu": 100, "meta": 100}) == "CPU exact; meta exact"
    assert verdict({"exact": 100, "cpu": 80, "meta": 100}) == "CPU 80% of exact; meta exact"
    case = "sdpa"
    payload = merge({}, "2.14.1", {case: {"exact": 10, "cpu": 0, "meta": 10}}, "2026-12-01")
    payload = merge(payload, "2.3.1", {case: {"exact": 10, "cpu": 10, "meta": 10}}, "2026-12-01")
    payload = merge(payload, "2.14.1", {case: {"exact": 10, "cpu": 0, "meta": 10}}, "2026-12-02")
    assert list(payload["releases"]) == ["2.3.1", "2.14.1"]  # by version, re-measured release replaced
    assert payload["releases"]["2.14.1"]["date"] == "2026-12-02"
    table = render(payload)
    assert "| sdpa | CPU exact; meta exact | CPU 0% of exact; meta exact |" in table


def test_time_interleaved_alternates_the_calls_and_takes_each_median():
    from benchmarks._common import time_interleaved

    clock, calls = FakeClock(0.0), []

    def step(name, seconds):
        def call():
            calls.append(name)
            clock.now += seconds.pop(0)
            return len(calls)

        return call

    timed = time_interleaved(step("tool", [3.0, 1.0, 2.0]), step("forward", [0.5, 1.5, 1.0]), 3, clock=clock)
    assert calls == ["forward", "tool"] * 3  # the baseline right before each call
    assert timed.times_s == [3.0, 1.0, 2.0] and timed.baseline_times_s == [0.5, 1.5, 1.0]
    assert (timed.time_s, timed.baseline_s, timed.ratio, timed.result) == (2.0, 1.0, 2.0, 6)


def _record(tool, time_s, forward_s, macs=100):
    return {"tool": tool, "model": "paper_cnn", "status": "ok", "macs": macs, "time_s": time_s, "forward_s": forward_s}


def test_compare_counters_ratios_use_the_forward_of_each_tools_own_process():
    from benchmarks.compare_counters import annotate, headlines, reference_macs

    ref, _ = reference_macs("paper_cnn")
    results = {
        "forward": {"paper_cnn": _record("forward", 0.010, 0.010)},
        # flopcount's process ran under load: its forward took 4x longer, so did flopcount
        "flopcount": {"paper_cnn": _record("flopcount", 0.020, 0.040, ref)},
        "thop": {"paper_cnn": _record("thop", 0.015, 0.010, ref)},
        "fvcore": {"paper_cnn": {"tool": "fvcore", "model": "paper_cnn", "status": "ok", "macs": ref, "time_s": 0.03}},
    }
    table = annotate(results, ["paper_cnn"])
    tools = table["paper_cnn"]["tools"]
    assert tools["forward"]["time_vs_forward"] == pytest.approx(1.0)
    assert tools["flopcount"]["time_vs_forward"] == pytest.approx(0.5)
    assert tools["thop"]["time_vs_forward"] == pytest.approx(1.5)
    assert "time_vs_forward" not in tools["fvcore"]  # no forward timed beside it
    lines = headlines(table, ["forward", "flopcount", "thop", "fvcore"])
    assert "flopcount profile time / plain forward, paper_cnn: 0.50x" in lines
    assert any(line.startswith("thop time / flopcount time: geometric mean 3.00x over 1 models") for line in lines)
    assert any(line.startswith("fvcore time / flopcount time: geometric mean 1.50x") for line in lines)  # raw times


def test_zoo_bench_workers_build_the_zoo_at_the_requested_scale(tmp_path, monkeypatch):
    """The worker parses its own --scale (default ci) and sets FLOPCOUNT_ZOO_SCALE from it: it must be passed on."""
    from benchmarks import zoo_bench

    commands = []

    def fake_run(cmd, **kwargs):
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(zoo_bench.subprocess, "run", fake_run)
    zoo_bench.run_tool("flopcount", ["timm/resnet18"], 1, 10.0, tmp_path, "bench")
    cmd = commands[0]
    assert cmd[cmd.index("--scale") + 1] == "bench"


def test_profile_speed_times_the_value_steered_models(tmp_path):
    """Part 3: both steered models take their documented path, count exactly, and their ratios add up."""
    from benchmarks import profile_speed

    payload = profile_speed.main(["--quick", "--json", str(tmp_path / "ps.json"), "--docs", str(tmp_path / "b.md")])
    steered = payload["steered"]
    assert {name: r["capture"] for name, r in steered.items()} == {
        "input_steered": "dispatch",
        "weight_steered": "dispatch-real",
    }
    for name, r in steered.items():
        assert r["exact"] and r["macs"] == r["reference_macs"], name
        assert r["ratio"] == pytest.approx(r["profile_s"] / r["forward_s"])
        assert r["met"] == (r["ratio"] <= profile_speed.STEERED_TARGET)
        assert any(line.startswith(f"{name} ({r['capture']}): profile / forward") for line in payload["headlines"])
    assert "| input_steered  | dispatch " in (tmp_path / "b.md").read_text()


def test_profile_speed_renders_both_7b_decoders_from_their_numbers():
    """Part 2's text and headlines come from the worker's numbers, for the zoo decoder and Hugging Face's."""
    from benchmarks import profile_speed

    def worker(source: str, ours: float, theirs: float) -> dict:
        return {
            "source": source, "tokens": [1, 2048], "params": 6738415616, "reference_macs": 14630806093824,
            "flopcount_macs": 14630806093824, "flopcount_matches": True, "flop_counter_macs": 14630806093824,
            "flop_counter_matches": True, "flopcount_cold_s": 0.1, "flopcount_s": ours, "flop_counter_s": theirs,
            "speed_ratio": ours / theirs, "speed_met": ours <= theirs, "tracemalloc_peak_bytes": 2**20,
            "rss_growth_bytes": 3 * 2**20, "process_peak_rss_bytes": 2**30, "process_rss_before_profile_bytes": 2**29,
            "flop_counter_rss_growth_bytes": 2**20, "memory_met": True,
        }  # fmt: skip

    payload = {
        "machine": {
            "date": "today", "cpu_model": "cpu", "cpu_cores_usable": 2, "ram_gib": 1, "python": "3", "torch": "2",
            "torch_threads": 1,
        },
        "versions": {"flopcount": "0"}, "repeats": 1, "models": {}, "steered": {},
        "llama_7b": worker("zoo", 0.05, 0.25), "hf_llama_7b": worker("hf", 0.08, 0.06),
    }  # fmt: skip
    payload["headlines"] = profile_speed.headlines(payload)
    assert "llama_7b on meta: flopcount / FlopCounterMode = 0.20x (target <= 1): met" in payload["headlines"]
    assert "hf_llama_7b on meta: flopcount / FlopCounterMode = 1.33x (target <= 1): not met" in payload["headlines"]
    text = profile_speed.render(payload)
    assert "Hugging Face `LlamaForCausalLM(LlamaConfig())`" in text and "Decoder with LLaMA-7B shapes" in text
    assert text.count("| flopcount `profile(model, tokens)` |") == 2
