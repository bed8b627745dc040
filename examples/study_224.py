"""The paper's two models at the paper's 224 px, with the strong and the paper recipe (for a GPU).

Usage::

    python examples/study_224.py --data ../shared/data/ham10000 --out runs/study_224           # CUDA, ImageNet weights
    python examples/study_224.py --data DIR --out OUT --no-pretrained   # offline: resnet50_tl trains end to end
    python examples/study_224.py --tiny --out /tmp/study               # CPU smoke run: synthetic, 32 px, 1 epoch

Trains ``custom_cnn`` and ``resnet50_tl`` with ``--recipe strong`` and ``--recipe paper``
(four runs, ``OUT/runs/<model>_<recipe>``; a finished run is reused, an interrupted one
resumed), then writes the report of the four to ``OUT/report``. The recipes differ in
every training choice (see docs/skinbench/training.md, "Recipes"); everything else
(size, epochs, batch, seed, split) is the same for all four, so the report compares them
directly. Library calls only (``skinbench.train.main``, ``skinbench.reports.report.build_report``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from skinbench.config import TrainConfig
from skinbench.cost import SpeedOptions
from skinbench.data import write_synthetic
from skinbench.reports.report import build_report
from skinbench.train import main as train

MODELS = ("custom_cnn", "resnet50_tl")
RECIPES = ("strong", "paper")


def run_configs(args: argparse.Namespace, data: Path) -> list[TrainConfig]:
    """One configuration per (model, recipe), all with the same size, epochs, batch, seed and split."""
    configs = []
    for model in args.models:
        for recipe in RECIPES:
            out = args.out / "runs" / f"{model}_{recipe}"
            configs.append(
                TrainConfig(
                    data=str(data),
                    out=str(out),
                    model=model,
                    recipe=recipe,
                    image_size=args.image_size,
                    epochs=args.epochs,
                    batch_size=args.batch_size,
                    pretrained=args.pretrained,
                    seed=args.seed,
                    device=args.device,
                    patience=args.patience,
                    progress=args.progress,
                    resume=(out / "last.pt").is_file(),
                )
            )
    return configs


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (defaults: a GPU run at 224 px)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="HAM10000 folder (required unless --tiny)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--models", nargs="+", default=list(MODELS), help=f"default: {' '.join(MODELS)}")
    p.add_argument("--image-size", type=int, default=224, help="default: 224 (the paper's)")
    p.add_argument("--epochs", type=int, default=30, help="main/fine-tuning epochs (default: 30)")
    p.add_argument("--batch-size", type=int, default=64, help="default: 64")
    p.add_argument("--patience", type=int, default=10, help="early stopping, 0 = off (default: 10)")
    p.add_argument("--no-pretrained", action="store_false", dest="pretrained", help="resnet50_tl without ImageNet")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda", help="default: cuda")
    p.add_argument("--progress", action="store_true", help="progress bars while training")
    p.add_argument("--no-report", action="store_false", dest="report", help="train only")
    p.add_argument("--tiny", action="store_true", help="CPU smoke run: synthetic data, 32 px, 1 epoch, no weights")
    return p


def main(argv: list[str] | None = None) -> int:
    """Train the four runs (or reuse them) and write their report; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.tiny:
        args.image_size, args.epochs, args.batch_size, args.patience = 32, 1, 32, 0
        args.pretrained, args.device = False, "cpu"
        synthetic = args.out / "data"
        if args.data is None and not (synthetic / "HAM10000_metadata.csv").is_file():
            write_synthetic(synthetic, n=140, image_size=(48, 36), force=True)
        args.data = args.data or synthetic
    if args.data is None:
        print("study_224: error: --data is required (or --tiny)", file=sys.stderr)
        return 2
    runs = []
    for config in run_configs(args, Path(args.data)):
        if (Path(config.out) / "metrics.json").is_file():
            print(f"{config.out}: reusing (delete it to retrain)")
        else:
            start = time.perf_counter()
            metrics = train(config)
            print(
                f"{config.out}: balanced accuracy {metrics['balanced_accuracy']:.4f}, accuracy "
                f"{metrics['accuracy']:.4f} ({time.perf_counter() - start:.0f} s)"
            )
        runs.append(Path(config.out))
    if args.report:
        speed = None if args.tiny else SpeedOptions(device=args.device)
        command = "python examples/study_224.py " + " ".join(argv if argv is not None else sys.argv[1:])
        result = build_report(runs, args.out / "report", speed=speed, command=command)
        print(f"report: {result.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
