"""``flopcount`` / ``python -m flopcount``: profile a model from the command line.

Examples::

    flopcount torchvision.models:resnet50 --input-shape 1,3,224,224 --depth 1
    flopcount mymodels:Net --model-kwargs '{"num_classes": 7}' --input-shape 1,3,96,96
    flopcount mymodels:build_bert --input-shape input_ids=1,128:int64 --input-shape attention_mask=1,128:int64

Models are imported from the current folder too (``mymodels.py`` next to you). Each
``--input-shape`` is one input: unnamed ones are passed positionally, in order,
``NAME=SHAPE`` ones by keyword; ``:DTYPE`` sets the dtype. Floating-point inputs are
meta tensors (shapes only); integer and boolean inputs (token ids, masks) are real
zeros, so a model can read their values without a real forward pass.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from flopcount._version import __version__
from flopcount.conventions import CONVENTIONS
from flopcount.errors import CaptureLimitation
from flopcount.formulas.moe import MOE_MODES
from flopcount.profiler import profile
from flopcount.render import FORMATS, render

#: The formats the command line prints: the text entries of :data:`flopcount.render.FORMATS`.
TEXT_FORMATS = tuple(name for name, fmt in FORMATS.items() if fmt.text)


class CliError(Exception):
    """An error printed as one line (no traceback)."""


@dataclass(frozen=True)
class InputSpec:
    """One ``--input-shape``: an optional ``forward`` argument name, a shape and a dtype.

    Example:
        >>> parse_input("input_ids=1,128:int64")
        InputSpec(name='input_ids', shape=(1, 128), dtype=torch.int64)
    """

    name: str | None
    shape: tuple[int, ...]
    dtype: torch.dtype | None = None

    def tensor(self) -> torch.Tensor:
        """A meta tensor for floating-point inputs; real zeros for integer and boolean ones."""
        dtype = self.dtype or torch.float32
        if dtype.is_floating_point or dtype.is_complex:
            return torch.empty(self.shape, dtype=dtype, device="meta")
        return torch.zeros(self.shape, dtype=dtype)


def build_parser() -> argparse.ArgumentParser:
    """The ``flopcount`` argument parser (the CLI reference page is generated from it).

    Returns:
        An ``argparse.ArgumentParser`` for ``MODEL --input-shape ... [options]``.

    Example:
        >>> args = build_parser().parse_args(["torchvision.models:resnet50", "--input-shape", "1,3,224,224"])
        >>> args.model, args.format, args.convention
        ('torchvision.models:resnet50', 'table', 'flopcount')
        >>> args.input_shape
        [InputSpec(name=None, shape=(1, 3, 224, 224), dtype=None)]
    """
    parser = argparse.ArgumentParser(
        prog="flopcount",
        description="Per-layer parameters, MACs and FLOPs of a PyTorch model, without running it.",
    )
    parser.add_argument("--version", action="version", version=f"flopcount {__version__}")
    parser.add_argument(
        "model",
        help="MODULE:ATTR naming an nn.Module instance, class or builder, e.g. torchvision.models:resnet50 "
        "(modules in the current folder are found too)",
    )
    parser.add_argument(
        "--input-shape",
        required=True,
        action="append",
        type=parse_input,
        metavar="[NAME=]N,C,H,W[:DTYPE]",
        help="one example input, comma-separated, e.g. 1,3,224,224 or input_ids=1,128:int64; repeat it for "
        "several inputs (unnamed ones are positional, in order; NAME= passes a keyword argument of forward)",
    )
    parser.add_argument(
        "--model-kwargs",
        type=parse_kwargs,
        default={},
        metavar="JSON",
        help="keyword arguments for a model class or builder, as a JSON object, e.g. '{\"num_classes\": 7}'",
    )
    parser.add_argument("--format", choices=TEXT_FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--depth", type=int, default=None, help="aggregate by module path at this depth")
    parser.add_argument(
        "--convention",
        choices=sorted(CONVENTIONS),
        default="flopcount",
        help="counting convention (default: flopcount)",
    )
    parser.add_argument(
        "--moe",
        choices=MOE_MODES,
        default="expected",
        help="mixture-of-experts layers: expected active compute (default) or routed (needs real inputs)",
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


def parse_input(text: str) -> InputSpec:
    """Parse ``[NAME=]SHAPE[:DTYPE]`` (see :class:`InputSpec`)."""
    name, sep, rest = text.partition("=")
    if not sep:
        name, rest = "", text
    shape_text, _, dtype_text = rest.partition(":")
    dtype = None
    if dtype_text:
        dtype = getattr(torch, dtype_text.strip(), None)
        if not isinstance(dtype, torch.dtype):
            raise argparse.ArgumentTypeError(f"invalid dtype {dtype_text!r}: expected e.g. float32, int64, bool")
    if name and not name.isidentifier():
        raise argparse.ArgumentTypeError(f"invalid input name {name!r}: expected a forward argument name")
    return InputSpec(name or None, parse_shape(shape_text), dtype)


def parse_kwargs(text: str) -> dict[str, Any]:
    """Parse ``--model-kwargs``: a JSON object.

    Example:
        >>> parse_kwargs('{"num_classes": 7}')
        {'num_classes': 7}
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"invalid --model-kwargs: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('invalid --model-kwargs: expected a JSON object like {"num_classes": 7}')
    return value


def example_inputs(specs: list[InputSpec]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Positional and keyword example inputs from the ``--input-shape`` specs."""
    args = tuple(spec.tensor() for spec in specs if spec.name is None)
    kwargs = {spec.name: spec.tensor() for spec in specs if spec.name is not None}
    return args, kwargs


def load_model(spec: str, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Import ``MODULE:ATTR`` and return an ``nn.Module`` (calling a class or builder with ``kwargs``).

    The current folder is searched too, as ``python -m`` does.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"model must look like MODULE:ATTR (e.g. torchvision.models:resnet50), got {spec!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"cannot import {module_name!r}: {exc}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CliError(f"{module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module) and kwargs:
        raise CliError(f"{spec} is a model instance: --model-kwargs needs a class or builder")
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise CliError(f"{spec} is neither an nn.Module nor callable")
        try:
            obj = obj(**(kwargs or {}))
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
        model = load_model(args.model, args.model_kwargs)
        specs: list[InputSpec] = args.input_shape
        if len(specs) == 1 and specs[0].name is None and specs[0].dtype is None:
            result = profile(model, input_shape=specs[0].shape, convention=args.convention, moe=args.moe)
        else:
            inputs, keywords = example_inputs(specs)
            result = profile(model, *inputs, convention=args.convention, moe=args.moe, **keywords)
        if args.depth is not None and args.depth < 0:
            raise CliError(f"--depth must be >= 0, got {args.depth}")
        print(render(result, args.format, args.depth))
    except (CliError, CaptureLimitation, TypeError, ValueError) as exc:
        print(f"flopcount: error: {exc}", file=sys.stderr)
        return 2
    return 0
