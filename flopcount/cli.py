"""``flopcount`` / ``python -m flopcount``: profile a model from the command line.

Example::

    python -m flopcount torchvision.models:resnet50 --input-shape 1,3,224,224 --depth 1
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from torch import nn

from flopcount.conventions import CONVENTIONS
from flopcount.errors import CaptureLimitation
from flopcount.profiler import profile
from flopcount.render import FORMATS, render

#: The formats the command line prints: the text entries of :data:`flopcount.render.FORMATS`.
TEXT_FORMATS = tuple(name for name, fmt in FORMATS.items() if fmt.text)


class CliError(Exception):
    """An error printed as one line (no traceback)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``flopcount`` argument parser (the CLI reference page is generated from it).

    Returns:
        An ``argparse.ArgumentParser`` for ``MODEL --input-shape ... [options]``.

    Example:
        >>> args = build_parser().parse_args(["torchvision.models:resnet50", "--input-shape", "1,3,224,224"])
        >>> args.model, args.input_shape, args.format, args.convention
        ('torchvision.models:resnet50', (1, 3, 224, 224), 'table', 'flopcount')
    """
    parser = argparse.ArgumentParser(
        prog="flopcount",
        description="Per-layer parameters, MACs and FLOPs of a PyTorch model, without running it.",
    )
    parser.add_argument(
        "model",
        help="MODULE:ATTR naming an nn.Module instance, class or builder, e.g. torchvision.models:resnet50",
    )
    parser.add_argument(
        "--input-shape",
        required=True,
        type=parse_shape,
        metavar="N,C,H,W",
        help="shape of the example input, comma-separated, e.g. 1,3,224,224",
    )
    parser.add_argument("--format", choices=TEXT_FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--depth", type=int, default=None, help="aggregate by module path at this depth")
    parser.add_argument(
        "--convention",
        choices=sorted(CONVENTIONS),
        default="flopcount",
        help="counting convention (default: flopcount)",
    )
    return parser


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``"1,3,224,224"`` (or ``1x3x224x224``) into a tuple of positive ints.

    Example:
        >>> parse_shape("1,3,224,224")
        (1, 3, 224, 224)
    """
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid shape {text!r}: expected integers like 1,3,224,224") from None
    if not shape or any(s <= 0 for s in shape):
        raise argparse.ArgumentTypeError(f"invalid shape {text!r}: dimensions must be positive")
    return shape


def load_model(spec: str) -> nn.Module:
    """Import ``MODULE:ATTR`` and return an ``nn.Module`` (calling a class or builder with no args)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"model must look like MODULE:ATTR (e.g. torchvision.models:resnet50), got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"cannot import {module_name!r}: {exc}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CliError(f"{module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise CliError(f"{spec} is neither an nn.Module nor callable")
        try:
            obj = obj()
        except Exception as exc:
            raise CliError(f"calling {spec}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, nn.Module):
        raise CliError(f"{spec} did not give an nn.Module (got {type(obj).__name__})")
    return obj


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``flopcount``; returns the exit code (2 on a user error).

    Args:
        argv: Command-line arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 2 on a user error (printed as one line on stderr).

    Example:
        >>> main(["torch.nn:ReLU", "--input-shape", "2,3", "--format", "csv"])
        name,type,family,input_shapes,output_shape,params,macs,flops,activation_bytes,node,counted,dtype,note
        ,ReLU,activation,"[[2, 3]]","[2, 3]",0,0,6,24,...,True,float32,
        0
    """
    args = build_parser().parse_args(argv)
    try:
        model = load_model(args.model)
        result = profile(model, input_shape=args.input_shape, convention=args.convention)
        if args.depth is not None and args.depth < 0:
            raise CliError(f"--depth must be >= 0, got {args.depth}")
        print(render(result, args.format, args.depth))
    except (CliError, CaptureLimitation, TypeError, ValueError) as exc:
        print(f"flopcount: error: {exc}", file=sys.stderr)
        return 2
    return 0
