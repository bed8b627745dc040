"""Command-line interface: ``skinbench split|synth|train|evaluate|predict|export|report|sweep``.

Argument parsing lives here and only here; each sub-command calls library code. Errors
the user can fix are :class:`~skinbench.errors.SkinbenchError` (or ``OSError``); :func:`main`
catches them in one place and prints one line. Library modules are imported inside the
handlers, so ``skinbench --help`` does not load torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeAlias

from skinbench.errors import PretrainedUnavailable, SkinbenchError

#: What the user can do about an error, appended to its line.
_HINTS: dict[type[SkinbenchError], str] = {
    PretrainedUnavailable: "pass --no-pretrained to train from random initialisation",
}


class _OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (the usage is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` on one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# argparse has no public name for it, and it is generic only in the stubs
_Subparsers: TypeAlias = "argparse._SubParsersAction[_OneLineParser]"


def build_parser() -> argparse.ArgumentParser:
    """Build the ``skinbench`` argument parser with all its sub-commands.

    Returns:
        An ``argparse.ArgumentParser`` with the sub-commands ``split``, ``synth``, ``train``,
        ``evaluate``, ``predict``, ``export``, ``report`` and ``sweep`` (the CLI reference
        page is generated from it).

    Example:
        >>> args = build_parser().parse_args(["synth", "--out", "data", "--n", "70"])
        >>> args.command, args.out, args.n, args.size
        ('synth', 'data', 70, (200, 150))
    """
    from flopcount._version import __version__

    parser = _OneLineParser(prog="skinbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"skinbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_split_command(sub)
    _add_synth_command(sub)
    importlib.import_module("skinbench.cli_train").add_train_command(sub)
    _add_evaluate_command(sub)
    _add_predict_command(sub)
    _add_export_command(sub)
    _add_report_command(sub)
    importlib.import_module("skinbench.sweep").add_sweep_command(sub)
    return parser


def _add_split_command(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "split",
        help="split HAM10000 by lesion into train/val/test (stratified by dx)",
        description="Split images by lesion_id into train/val/test, stratified by dx, and write a CSV "
        "(image_id, lesion_id, dx, split). An existing CSV is checked and reused unless --force.",
    )
    p.add_argument("--data", required=True, help="dataset folder holding HAM10000_metadata.csv")
    p.add_argument("--out", required=True, help="split CSV to write")
    p.add_argument(
        "--fractions",
        nargs=3,
        type=float,
        default=(0.7, 0.1, 0.2),
        metavar=("TRAIN", "VAL", "TEST"),
        help="image shares (default: 0.7 0.1 0.2)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="IMAGE_ID",
        help="leave out this image, e.g. a corrupt JPEG (repeatable)",
    )
    p.add_argument("--force", action="store_true", help="split again even if --out exists")
    p.set_defaults(func=_run_split)


def _run_split(args: argparse.Namespace) -> int:
    """Handler of ``skinbench split``."""
    from pathlib import Path

    from skinbench.data import load_metadata, load_or_create_split, split_summary

    out = Path(args.out)
    reused = out.exists() and not args.force
    meta = load_metadata(args.data, skip=args.skip)
    if args.force:
        out.unlink(missing_ok=True)
    split = load_or_create_split(meta, out, args.fractions, args.seed)
    print(f"{'reused' if reused else 'wrote'} {out}: class shares in % per split")
    print(split_summary(split).to_string())
    return 0


def _add_synth_command(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "synth",
        help="write a synthetic dataset in the HAM10000 layout",
        description="Write N synthetic JPEGs (learnable class-dependent blobs, 1-4 per lesion) and "
        "HAM10000_metadata.csv in the HAM10000 layout, for use without the real data.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n", type=int, default=700, help="number of images (default: 700)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--size",
        nargs=2,
        type=int,
        default=(200, 150),
        metavar=("WIDTH", "HEIGHT"),
        help="image size (default: 200 150, like the 200x150 copy)",
    )
    p.add_argument("--force", action="store_true", help="write into a non-empty folder (see the description)")
    p.set_defaults(func=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    """Handler of ``skinbench synth``."""
    from skinbench.data import write_synthetic

    root = write_synthetic(args.out, n=args.n, seed=args.seed, image_size=tuple(args.size), force=args.force)
    print(f"wrote {args.n} synthetic images to {root}")
    return 0


def _add_run_arguments(p: argparse.ArgumentParser, *, device: bool = True) -> None:
    """The positional RUN and ``--checkpoint`` (and ``--device``) of the commands that load a trained run."""
    p.add_argument("run", help="run folder written by skinbench train")
    p.add_argument("--checkpoint", choices=("best.pt", "last.pt"), default="best.pt")
    if device:
        p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")


def _library(target: str, *names: str) -> Callable[[argparse.Namespace], int]:
    """A handler calling ``module:function`` with the parsed arguments ``names``; it returns the exit status."""

    def handler(args: argparse.Namespace) -> int:
        module, _, function = target.partition(":")
        return int(getattr(importlib.import_module(module), function)(**{n: getattr(args, n) for n in names}))

    return handler


def _add_predict_command(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "predict",
        help="classify new images with a trained run",
        description="Classify images (files, folders, CSVs with a path column) with RUN's model as preprocessed in "
        "training: one row per image (class, probabilities); an undecodable image is a status=error row (exit 1).",
    )
    _add_run_arguments(p)
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER_OR_CSV", help="images to classify")
    p.add_argument("--out", default="predictions.csv", help="CSV to write (default: predictions.csv)")
    p.add_argument("--tta", action="store_true", help="average over the 8 flips/90-degree rotations")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="images per batch (default: the run's)")
    p.add_argument("--no-progress", action="store_false", dest="progress", help="no progress bar")
    names = ("run", "inputs", "out", "checkpoint", "device", "batch_size", "tta", "progress")
    p.set_defaults(func=_library("skinbench.predict:predict_command", *names))


def _add_export_command(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "export",
        help="export a run's model (ONNX, int8 ONNX, TorchScript) and check it against PyTorch",
        description="Export RUN's model with its preprocessing metadata to RUN/export/, check it against PyTorch "
        "on the run's test split (max abs probability difference <= atol, argmax agreement) and record that and "
        "its test accuracy in RUN/export/VARIANT.json. A mismatch is an error (exit 2, file removed).",
    )
    _add_run_arguments(p, device=False)
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="default: onnx")
    p.add_argument("--int8", action="store_true", help="int8 (onnxruntime static quantization; ONNX only)")
    p.add_argument("--calibration", type=int, default=256, help="training images calibrating int8 (default: 256)")
    p.add_argument("--atol", type=float, help="allowed probability difference (default: 1e-4, int8 0.25)")
    p.add_argument("--min-agreement", type=float, dest="min_agreement", help="argmax agreement (default 1, int8 0.9)")
    p.add_argument("--data", help="dataset folder, if it moved since training (default: from config.json)")
    names = ("run", "format", "int8", "checkpoint", "calibration", "atol", "min_agreement", "data")
    p.set_defaults(func=_library("skinbench.export:export_command", *names))


def _add_evaluate_command(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a run on its test split (metrics.json) or on an external labelled set",
        description="Evaluate RUN/best.pt (or --checkpoint) on the run's test split into RUN/metrics.json and "
        "predictions.csv; with --images and --labels (ISIC 2018 Task 3 ground truth, or image_id,dx), on that "
        "external labelled set into RUN/external/NAME/ instead (the run's own metrics.json is not touched).",
    )
    _add_run_arguments(p)
    p.add_argument("--data", help="dataset folder, if it moved since training (default: from config.json)")
    p.add_argument("--images", metavar="DIR", help="folder of an external test set's images")
    p.add_argument("--labels", metavar="CSV", help="its ground truth: ISIC 2018 Task 3 layout, or image_id,dx")
    p.add_argument("--name", help="name of the external set in the run folder (default: the --images folder name)")
    p.add_argument("--tta", action="store_true", help="external set: average over 8 flips/rotations")
    p.add_argument("--no-progress", action="store_false", dest="progress", help="no progress bar")
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    """Handler of ``skinbench evaluate``: the run's test split, or an external set (``--images``, ``--labels``)."""
    if args.images is not None or args.labels is not None or args.name or args.tta:
        names = ("run", "images", "labels", "name", "checkpoint", "device", "tta", "progress")
        return _library("skinbench.external:evaluate_command", *names)(args)
    return _library("skinbench.evaluate:evaluate_command", "run", "data", "checkpoint", "device")(args)


def _add_report_command(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "report",
        help="write a report (cost, Tables III-IV, Pareto fronts, figures) of one or more runs",
        description="Write DIR/report.md and DIR/report.html with the cost of every run's model, the "
        "paper's Tables III and IV recomputed, deviations from a baseline run, accuracy-vs-cost Pareto "
        "fronts and the paper's figures per run, plus every number as CSV/JSON (DIR/tables, DIR/numbers.json).",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders of skinbench train, or sweep folders of them")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--baseline", help="run compared with in the deviation table (default: the custom_cnn run)")
    p.add_argument("--no-speed", action="store_false", dest="speed", help="skip the latency/throughput measurement")
    p.add_argument(
        "--no-records",
        action="store_false",
        dest="records",
        help="do not copy the runs' record files (config, history, metrics, predictions, export records) "
        "to DIR/runs/ (default: copy them, so the report can be regenerated without the run folders)",
    )
    p.add_argument("--device", default="cpu", help="where speed is measured: cpu or cuda (default: cpu)")
    p.add_argument("--batch", type=int, default=32, help="batch size of the throughput measurement (default: 32)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (default: 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls, the median is reported (default: 5)")
    p.add_argument(
        "--speed-threads",
        type=int,
        default=1,
        dest="speed_threads",
        help="torch CPU threads while timing, 0 = torch's default (default: 1)",
    )
    p.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    """Handler of ``skinbench report``."""
    import shlex

    from skinbench.cost import SpeedOptions
    from skinbench.reports.report import build_report

    speed = (
        SpeedOptions(
            device=args.device, batch=args.batch, warmup=args.warmup, repeats=args.repeats, threads=args.speed_threads
        )
        if args.speed
        else None
    )
    command = "skinbench " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["report"] else ""
    result = build_report(
        args.runs, args.out, speed=speed, baseline=args.baseline, command=command, records=args.records
    )
    print(f"wrote {result.markdown} and {result.html} ({len(result.files)} files)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skinbench`` console script. Returns the exit code.

    Args:
        argv: Command-line arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success (and for ``--help``), 2 on a usage error, a
        :class:`~skinbench.errors.SkinbenchError` or an ``OSError``, reported as one line
        on stderr.

    Example:
        >>> import tempfile
        >>> main(["synth", "--out", tempfile.mkdtemp(), "--n", "14", "--size", "32", "24"])  # doctest: +ELLIPSIS
        wrote 14 synthetic images to ...
        0
        >>> main(["split"])   # missing --data and --out: one line on stderr
        2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, status 2), --help and --version (status 0)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:  # bare `skinbench`: the help, not an error
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (SkinbenchError, OSError) as exc:
        print(f"skinbench: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The error's message on one line, with the hint of :data:`_HINTS` for its type."""
    message = " ".join(str(exc).splitlines()) or type(exc).__name__
    hint = next((h for cls, h in _HINTS.items() if isinstance(exc, cls)), None)
    return f"{message}; {hint}" if hint else message


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
