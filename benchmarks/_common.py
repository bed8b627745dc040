"""Helpers shared by the benchmark scripts: timing, machine facts, output files.

Nothing here imports torch at module level, so a script's parent process can use it
before deciding which worker subprocesses to start.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
RESULTS = REPO_ROOT / "benchmarks" / "results"
QUICK_RESULTS = RESULTS / "quick"

if str(REPO_ROOT) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/ first, not the root
    sys.path.insert(0, str(REPO_ROOT))


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, list[float], Any]:
    """Time ``fn`` ``repeats`` times after ``warmup`` untimed calls.

    Args:
        fn: The call to time (no arguments).
        repeats: Timed calls (at least 1).
        warmup: Untimed calls first (imports, caches, allocator warm-up).

    Returns:
        ``(median seconds, all timed seconds, result of the last call)``.
    """
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


@dataclass(frozen=True)
class Interleaved:
    """Medians of a call and of a baseline call timed alternately in one process.

    Attributes:
        time_s: Median seconds of the call.
        baseline_s: Median seconds of the baseline (e.g. a plain forward of the same model).
        times_s: Every timed call, in order.
        baseline_times_s: Every timed baseline call, in order.
        result: What the last call returned.
    """

    time_s: float
    baseline_s: float
    times_s: list[float]
    baseline_times_s: list[float]
    result: Any

    @property
    def ratio(self) -> float:
        """``time_s / baseline_s`` (both medians)."""
        return self.time_s / self.baseline_s


def time_interleaved(
    fn: Callable[[], Any],
    baseline: Callable[[], Any],
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
) -> Interleaved:
    """Time ``fn`` and ``baseline`` alternately, call by call, ``repeats`` times each.

    Both run in this process one after the other, so a change of machine load during the
    measurement hits both alike and their ratio stays meaningful (two medians taken in
    different processes or minutes apart are not comparable on a shared machine). No
    warm-up: call both once before when the first call is special.

    Args:
        fn: The call to time (no arguments).
        baseline: The reference call, timed just before each call of ``fn``.
        repeats: Timed calls of each (at least 1).
        clock: Seconds as a float (a fake one in tests).

    Returns:
        The medians, every timed call and the last result of ``fn``.
    """
    times, baselines, result = [], [], None
    for _ in range(max(1, repeats)):
        start = clock()
        baseline()
        baselines.append(clock() - start)
        start = clock()
        result = fn()
        times.append(clock() - start)
    return Interleaved(statistics.median(times), statistics.median(baselines), times, baselines, result)


def version_of(dist: str) -> str | None:
    """Installed version of distribution ``dist``, or ``None`` when it is not installed."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def _ram_gib() -> float | None:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * page_size / 2**30, 1)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, OS, Python/torch versions, CUDA device and the date (UTC)."""
    import torch

    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_cores_logical": os.cpu_count(),
        "cpu_cores_usable": _usable_cores(),
        "ram_gib": _ram_gib(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def machine_line(info: dict[str, Any]) -> str:
    """One markdown line describing the machine of a run."""
    cuda = f", CUDA: {info['cuda_device']}" if info.get("cuda_device") else ""
    return (
        f"Measured {info['date']} on {info['cpu_model']} ({info['cpu_cores_usable']} usable cores, "
        f"{info['ram_gib']} GiB RAM, load average {info.get('load_average_1m')} at start{cuda}); "
        f"Python {info['python']}, torch {info['torch']} ({info['torch_threads']} threads)."
    )


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def write_section(path: Path, name: str, markdown: str) -> None:
    """Replace the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``path``.

    The markers are appended (with the text) when the file or the section is missing,
    so hand-written prose around the sections is kept.
    """
    begin, end = f"<!-- BEGIN {name} (generated, do not edit) -->", f"<!-- END {name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def publish(payload: dict[str, Any], markdown: str, json_path: Path, docs_path: Path | None, section: str) -> None:
    """Print the tables, write the JSON and (unless ``docs_path`` is None) the docs section."""
    print(markdown)
    write_json(json_path, payload)
    if docs_path:
        write_section(docs_path, section, markdown)
    print(f"\nwrote {json_path}" + (f" and {docs_path}" if docs_path else ""), file=sys.stderr)


def fmt_seconds(seconds: float | None) -> str:
    """Readable duration: ``12.3 ms``, ``1.23 s``; ``-`` for none."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} us"
    return f"{seconds:.3g} s"


def fmt_count(value: float | None) -> str:
    """Exact integer with thousands separators (``-`` for none)."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"
