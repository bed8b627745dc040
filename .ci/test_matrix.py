#!/usr/bin/env python3
"""Run the test suite on every torch release the project claims, each in its own venv.

``make test`` keeps one venv (torch as the registry resolves it today). Before a release,
``make test-matrix`` runs this script, which checks the claim in ``pyproject.toml``:

* ``floor``: the oldest torch the whole suite claims (the release paired with the
  ``torchvision>=X`` of skinbench's extra) with that torchvision; the whole suite.
* ``default``: what ``pip install torch torchvision`` resolves on this machine (its pip
  config applies); the whole suite.
* ``newest``: the newest torch the registry serves (pip constraint files are lifted for
  this env); the whole suite.
* ``flopcount-2.13``: torch 2.13.0 and no torchvision (flopcount needs only torch and
  numpy; its ``table`` extra adds pandas/tabulate for the table renderers); flopcount's
  tests and doctests.

Each env lives in ``.matrix/<env>`` and is reused while its install spec (pins, extras and
the hash of ``pyproject.toml``) is unchanged.
The suite runs with ``-n 2`` (pytest-xdist) and a JUnit XML report, from which the
summary table is built; ``.matrix/summary.json`` keeps it. Each env also runs
``benchmarks/flop_counter_blind_spots.py``, which adds that release's column to the
FlopCounterMode table in ``docs/benchmarks.md``. The exit status is 1 when any
env failed or could not be installed.

Usage::

    python .ci/test_matrix.py                 # every env
    python .ci/test_matrix.py --envs floor newest
    python .ci/test_matrix.py --list          # print the envs and their install specs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / ".matrix"
#: torchvision release that pairs with each torch release we pin (from torchvision's table).
TORCHVISION_FOR = {
    "2.3": "0.18", "2.4": "0.19", "2.5": "0.20", "2.6": "0.21", "2.7": "0.22", "2.8": "0.23",
    "2.9": "0.24", "2.10": "0.25", "2.11": "0.26", "2.12": "0.27", "2.13": "0.28", "2.14": "0.29",
}  # fmt: skip
#: The numpy ABI torch was built against: releases before 2.4 need numpy < 2.
NUMPY_BEFORE_2_4 = "numpy<2"
FLOPCOUNT_TESTS = ["tests/flopcount", "flopcount"]


@dataclass
class Env:
    """One venv of the matrix: what to install and which tests to run."""

    name: str
    requirements: list[str]
    extras: str
    tests: list[str] = field(default_factory=lambda: [])
    lift_constraints: bool = False
    note: str = ""


def declared_floor(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The oldest torch the whole suite claims: the release paired with ``torchvision>=X``.

    flopcount alone declares an older ``torch>=`` (checked by the ``flopcount-2.13`` env);
    the whole suite needs skinbench's torchvision, whose floor fixes the torch floor.
    """
    match = re.search(r'"torchvision>=([0-9]+\.[0-9]+)', pyproject.read_text())
    if match is None:
        raise SystemExit("pyproject.toml declares no torchvision>=X requirement")
    torch_for = {vision: torch for torch, vision in TORCHVISION_FOR.items()}
    if match.group(1) not in torch_for:
        raise SystemExit(f"no torch pairing known for torchvision {match.group(1)}; add it to TORCHVISION_FOR")
    return torch_for[match.group(1)]


def floor_requirements(floor: str) -> list[str]:
    """Pins for the floor env: that torch, its torchvision, and numpy's ABI where needed."""
    minor = ".".join(floor.split(".")[:2])
    if minor not in TORCHVISION_FOR:
        raise SystemExit(f"no torchvision pairing known for torch {floor}; add it to TORCHVISION_FOR")
    requirements = [f"torch=={floor}.*" if floor.count(".") == 1 else f"torch=={floor}"]
    requirements.append(f"torchvision=={TORCHVISION_FOR[minor]}.*")
    if tuple(int(p) for p in minor.split(".")) < (2, 4):
        requirements.append(NUMPY_BEFORE_2_4)
    return requirements


def newest_torch() -> str:
    """The newest torch release the package index serves (constraint files ignored)."""
    out = _pip_output(["index", "versions", "torch"], lift_constraints=True)
    match = re.search(r"torch \(([^)]+)\)", out)
    if match is None:
        raise SystemExit(f"could not read torch's newest release from pip:\n{out}")
    return match.group(1)


def environments() -> dict[str, Env]:
    """Every env of the matrix, by name."""
    floor = declared_floor()
    return {
        env.name: env
        for env in [
            Env("floor", floor_requirements(floor), "dev", note=f"declared floor torch>={floor}"),
            Env(
                "default",
                ["torch", f"torchvision>={TORCHVISION_FOR[floor]}"],
                "dev",
                note="as `make test` resolves it here",
            ),
            Env(
                "newest",
                [f"torch=={newest_torch()}", "torchvision"],
                "dev",
                lift_constraints=True,
                note="newest on the index",
            ),
            Env(
                "flopcount-2.13",
                ["torch==2.13.0"],
                "table,test",
                tests=FLOPCOUNT_TESTS,
                note="flopcount alone, no torchvision",
            ),
        ]
    }


def _pip_env(lift_constraints: bool) -> dict[str, str]:
    env = dict(os.environ)
    if lift_constraints:
        env["PIP_CONSTRAINT"] = os.devnull  # a machine's cap must not hide the newest release
    return env


def _pip_output(args: list[str], lift_constraints: bool) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        env=_pip_env(lift_constraints),
    )
    return result.stdout + result.stderr


def install(env: Env, log) -> Path:
    """Create (or reuse) the env's venv and install the project into it; return its python."""
    folder = MATRIX / env.name
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    # The project's own dependencies are part of the spec: a changed pyproject.toml reinstalls.
    pyproject = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    spec = json.dumps({"requirements": env.requirements, "extras": env.extras, "pyproject": pyproject})
    if stamp.exists() and stamp.read_text() == spec:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip_env = _pip_env(env.lift_constraints)
    steps = [
        [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "-q", *env.requirements],
        # The pins stay pinned while the project and its extras are added.
        [str(python), "-m", "pip", "install", "-q", "-e", f".[{env.extras}]", *env.requirements],
    ]
    for step in steps:
        log(f"  $ {' '.join(step[2:])}")
        subprocess.run(step, check=True, cwd=ROOT, env=pip_env, stdout=subprocess.DEVNULL)
    stamp.write_text(spec)
    return python


def versions(python: Path) -> dict[str, str]:
    """The torch, torchvision and numpy versions inside a venv."""
    code = (
        "import importlib.util, json, numpy, torch\n"
        "tv = importlib.util.find_spec('torchvision')\n"
        "print(json.dumps({'torch': torch.__version__, 'numpy': numpy.__version__,"
        " 'torchvision': __import__('torchvision').__version__ if tv else '-'}))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def junit_counts(report: Path) -> dict[str, int]:
    """Counts of passed, failed, errors and skipped tests in a pytest JUnit XML report."""
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    return {
        "passed": total["tests"] - total["failures"] - total["errors"] - total["skipped"],
        "failed": total["failures"],
        "errors": total["errors"],
        "skipped": total["skipped"],
    }


def run_tests(env: Env, python: Path) -> dict[str, int]:
    """Run the env's tests; the counts come from the JUnit report."""
    report = MATRIX / env.name / "junit.xml"
    report.unlink(missing_ok=True)
    cmd = [str(python), "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider"]
    cmd += [f"--junitxml={report}", *env.tests]
    subprocess.run(cmd, cwd=ROOT)
    if not report.exists():
        return {"passed": 0, "failed": 0, "errors": 1, "skipped": 0}
    return junit_counts(report)


def render(rows: list[dict[str, object]]) -> str:
    """The summary table (markdown), one row per env."""
    head = "| env | torch | torchvision | numpy | passed | failed | errors | skipped | minutes | note |"
    lines = [head, "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        cells = [row[k] for k in ("env", "torch", "torchvision", "numpy", "passed", "failed", "errors", "skipped")]
        cells += [f"{row['seconds'] / 60:.1f}", row["note"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of the matrix script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", help="run only these envs (default: all)")
    parser.add_argument("--list", action="store_true", help="print the envs and their install specs, then exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Install and test every selected env; print and save the summary."""
    args = parse_args(argv)
    envs = environments()
    if args.list:
        for env in envs.values():
            print(f"{env.name}: {' '.join(env.requirements)} [{env.extras}] -> {' '.join(env.tests) or 'whole suite'}")
        return 0
    unknown = set(args.envs or []) - set(envs)
    if unknown:
        raise SystemExit(f"unknown env(s) {sorted(unknown)}; choose from {sorted(envs)}")
    selected = [envs[name] for name in args.envs] if args.envs else list(envs.values())
    os.environ.setdefault("SKINBENCH_DATA", str(ROOT.parent / "shared" / "data" / "ham10000"))
    rows: list[dict[str, object]] = []
    for env in selected:
        print(f"== {env.name}: {' '.join(env.requirements)}", flush=True)
        start = time.perf_counter()
        try:
            python = install(env, lambda line: print(line, flush=True))
        except subprocess.CalledProcessError as exc:
            print(f"  install failed: {exc}", flush=True)
            rows.append({"env": env.name, "torch": "-", "torchvision": "-", "numpy": "-", "passed": 0, "failed": 0,
                         "errors": 1, "skipped": 0, "seconds": time.perf_counter() - start,
                         "note": f"{env.note}; install failed"})  # fmt: skip
            continue
        found = versions(python)
        counts = run_tests(env, python)
        # FlopCounterMode's CPU blind spots on this release, for docs/benchmarks.md.
        subprocess.run([str(python), "benchmarks/flop_counter_blind_spots.py"], cwd=ROOT, stdout=subprocess.DEVNULL)
        rows.append({"env": env.name, **found, **counts, "seconds": time.perf_counter() - start, "note": env.note})
    table = render(rows)
    print("\n" + table)
    MATRIX.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d")
    (MATRIX / "summary.json").write_text(json.dumps({"date": stamp, "python": sys.version.split()[0], "rows": rows}))
    return 1 if any(row["failed"] or row["errors"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
