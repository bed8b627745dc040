"""Shared command line of the snippet generators: write docs/generated/*.md, or --check them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

GENERATED = Path(__file__).resolve().parents[1] / "generated"


def write_or_check(snippets: dict[str, str], out: Path, check: bool, script: str) -> int:
    """Write each snippet under ``out``; with ``check``, report stale ones instead (exit code 1)."""
    stale = []
    for name, text in snippets.items():
        path = out / name
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print(f"stale snippets (run docs/scripts/{script}): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def snippet_main(
    snippets: Callable[[], dict[str, str]], description: str, script: str, argv: list[str] | None = None
) -> int:
    """``--out DIR`` / ``--check`` command line around :func:`write_or_check`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=GENERATED, help="folder for the snippets")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing")
    args = parser.parse_args(argv)
    return write_or_check(snippets(), args.out, args.check, script)
