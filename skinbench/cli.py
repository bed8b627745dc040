"""Command-line interface: ``skinbench split|synth|train|evaluate``.

Argument parsing lives here and only here; each sub-command calls library code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


class CliError(Exception):
    """An error reported to the user as one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    """Build the ``skinbench`` argument parser with all its sub-commands."""
    parser = argparse.ArgumentParser(prog="skinbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    del sub  # sub-commands are added by the skinbench issues
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skinbench`` console script. Returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"skinbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
