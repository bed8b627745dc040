"""Command-line interface: ``skinbench split|synth|train|evaluate``.

Argument parsing lives here and only here; each sub-command calls library code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


class CliError(Exception):
    """An error reported to the user as one line, without a traceback."""


class _OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (the usage is in ``--help``)."""

    def error(self, message: str):  # type: ignore[override]
        """Print ``prog: error: message`` on one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``skinbench`` argument parser with all its sub-commands."""
    parser = _OneLineParser(prog="skinbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_split_command(sub)
    _add_synth_command(sub)
    del sub  # sub-commands are added by the skinbench issues
    return parser


def _add_split_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "split",
        help="split HAM10000 by lesion into train/val/test (stratified by dx)",
        description="Split images by lesion_id into train/val/test, stratified by dx, and write a CSV "
        "(image_id, lesion_id, dx, split). An existing CSV is checked and reused unless --force.",
    )
    p.add_argument("--data", required=True, help="dataset folder holding HAM10000_metadata.csv")
    p.add_argument("--out", required=True, help="split CSV to write")
    p.add_argument("--fractions", nargs=3, type=float, default=(0.7, 0.1, 0.2),
                   metavar=("TRAIN", "VAL", "TEST"), help="image shares (default: 0.7 0.1 0.2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--skip", action="append", default=[], metavar="IMAGE_ID",
                   help="leave out this image, e.g. a corrupt JPEG (repeatable)")
    p.add_argument("--force", action="store_true", help="split again even if --out exists")
    p.set_defaults(func=_run_split)


def _run_split(args: argparse.Namespace) -> int:
    """Handler of ``skinbench split``."""
    from pathlib import Path

    from skinbench.data import DataError, load_metadata, load_or_create_split, split_summary

    out = Path(args.out)
    reused = out.exists() and not args.force
    try:
        meta = load_metadata(args.data, skip=args.skip)
        if args.force:
            out.unlink(missing_ok=True)
        split = load_or_create_split(meta, out, args.fractions, args.seed)
    except (DataError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(f"{'reused' if reused else 'wrote'} {out}: class shares in % per split")
    print(split_summary(split).to_string())
    return 0


def _add_synth_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="write a synthetic dataset in the HAM10000 layout",
        description="Write N synthetic JPEGs (learnable class-dependent blobs, 1-4 per lesion) and "
        "HAM10000_metadata.csv in the HAM10000 layout, for use without the real data.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n", type=int, default=700, help="number of images (default: 700)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--size", nargs=2, type=int, default=(200, 150), metavar=("WIDTH", "HEIGHT"),
                   help="image size (default: 200 150, like the 200x150 copy)")
    p.set_defaults(func=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    """Handler of ``skinbench synth``."""
    from skinbench.data import DataError, write_synthetic

    try:
        root = write_synthetic(args.out, n=args.n, seed=args.seed, image_size=tuple(args.size))
    except (DataError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {args.n} synthetic images to {root}")
    return 0


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
