"""Profile any model: ``python examples/profile_any_model.py torchvision.models:mobilenet_v3_small``.

Prints the per-module table at ``--depth`` (default 1) and the totals under every
convention. The same as ``python -m flopcount``, written out as library calls.
"""

from __future__ import annotations

import argparse

from flopcount import CONVENTIONS, profile
from flopcount.cli import load_model, parse_shape


def main() -> None:
    """Parse the arguments, profile the model, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="torchvision.models:resnet50", help="MODULE:ATTR")
    parser.add_argument("--input-shape", type=parse_shape, default=(1, 3, 224, 224))
    parser.add_argument("--depth", type=int, default=1)
    args = parser.parse_args()
    result = profile(load_model(args.model), input_shape=args.input_shape)
    print(result.to_text(depth=args.depth))
    print()
    for name in CONVENTIONS:
        view = result.using(name)
        print(f"{name:>12}: {view.total_macs:>18,} MACs {view.total_flops:>18,} FLOPs")


if __name__ == "__main__":
    main()
