"""Tables III and IV of the paper, cost columns recomputed with flopcount; no data needed.

Usage::

    python examples/reproduce_tables.py               # print both tables as markdown
    python examples/reproduce_tables.py --out DIR     # also write DIR/table3.{md,tex,csv,json} and table4.*

Counts are exact (meta-device models, no weights) at the paper's 224x224x3 input and 7
classes; the paper's printed values stand beside them, discrepancies flagged. Table IV's
accuracy column needs trained runs: see ``examples/reproduce_paper.py`` and ``skinbench report``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from skinbench.reports.tables import table3, table4, to_markdown, write_table


def reproduce_tables(out: Path | None = None) -> dict:
    """Compute Tables III and IV (cost rows); write them to ``out`` when given.

    Returns:
        ``{"table3": DataFrame, "table4": DataFrame}``.
    """
    tables = {"table3": table3(), "table4": table4()}
    if out is not None:
        for name, frame in tables.items():
            write_table(frame, out, name)
    return tables


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the tables as md, tex, csv and json here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    tables = reproduce_tables(args.out)
    print("Table III: total parameters (recomputed at 224 px, 7 classes)\n")
    print(to_markdown(tables["table3"]))
    print("Table IV: FLOP analysis (our accuracy needs trained runs: empty here)\n")
    print(to_markdown(tables["table4"]))
    where = f"; written to {args.out}" if args.out else ""
    print(f"({time.perf_counter() - start:.1f} s{where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
