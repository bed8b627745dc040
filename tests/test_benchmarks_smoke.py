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
