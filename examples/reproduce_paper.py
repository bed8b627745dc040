"""The whole pipeline of the paper: data -> split -> train -> evaluate -> report.

Usage::

    python examples/reproduce_paper.py --out runs/paper                       # synthetic data (embedded default)
    python examples/reproduce_paper.py --data ../shared/data/ham10000 --out runs/paper-ham10000
    python examples/reproduce_paper.py --data DIR --out OUT --image-size 224 --epochs 20 --head-epochs 5 --pretrained

Trains the paper's two models (``custom_cnn``, ``resnet50_tl``) and three more torchvision
models for the Pareto front, each into ``OUT/runs/<model>`` (a folder that already holds
``metrics.json`` is reused and one with only ``last.pt`` resumed, unless ``--fresh``), then
writes the report to ``OUT/report`` (report.md, report.html, tables/, figures/). Without
``--data`` a synthetic dataset in the HAM10000 layout is generated into ``OUT/data`` (skinbench.data.write_synthetic).
Only library calls (``skinbench.train.main``, ``skinbench.reports.report.build_report``);
argparse stays in :func:`main`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from skinbench.config import TrainConfig
from skinbench.cost import SpeedOptions
from skinbench.data import write_synthetic
from skinbench.reports.report import ReportResult, build_report
from skinbench.train import main as train

PAPER_MODELS = ("custom_cnn", "resnet50_tl")
EXTRA_MODELS = ("mobilenet_v3_small", "shufflenet_v2_x1_0", "resnet18")


@dataclass
class Plan:
    """What :func:`reproduce` runs.

    Attributes:
        out: Output folder (``data/`` when synthetic, ``runs/<model>``, ``report/``).
        data: HAM10000 folder; None generates ``n_synthetic`` synthetic images.
        models: Models to train (the paper's two first).
        image_size: Training image side in pixels.
        epochs: Main / fine-tuning epochs.
        head_epochs: Frozen-backbone epochs of transfer models with ``pretrained`` weights
            (without them a transfer model trains end to end and this is not used).
        recipe: Training recipe (``strong``, ``paper``; see skinbench.recipes).
        batch_size: Mini-batch size.
        n_synthetic: Synthetic images when ``data`` is None.
        synthetic_size: (width, height) of the synthetic JPEGs.
        pretrained: ImageNet weights for transfer models (needs them downloadable).
        seed: Seed of data, split and training.
        threads: torch CPU threads (0: torch's default).
        fresh: Retrain runs that already have ``metrics.json``.
        speed: Speed measurement of the report (None: skip).
        progress: tqdm bars while training.
    """

    out: Path
    data: Path | None = None
    models: tuple[str, ...] = PAPER_MODELS + EXTRA_MODELS
    image_size: int = 64
    epochs: int = 3
    head_epochs: int = 3
    recipe: str = "strong"
    batch_size: int = 32
    n_synthetic: int = 700
    synthetic_size: tuple[int, int] = (200, 150)
    pretrained: bool = False
    seed: int = 0
    threads: int = 1
    fresh: bool = False
    speed: SpeedOptions | None = field(default_factory=SpeedOptions)
    progress: bool = False


def prepare_data(plan: Plan) -> Path:
    """The dataset folder: ``plan.data``, or synthetic images written once into ``plan.out/data``."""
    if plan.data is not None:
        return plan.data
    root = plan.out / "data"
    if not (root / "HAM10000_metadata.csv").is_file():
        # force: an interrupted earlier write left images but no metadata (force never replaces metadata)
        write_synthetic(root, n=plan.n_synthetic, seed=plan.seed, image_size=plan.synthetic_size, force=True)
        print(f"wrote {plan.n_synthetic} synthetic images to {root}")
    return root


def train_all(plan: Plan, data: Path) -> list[Path]:
    """Train (or reuse) one run per model; return the run folders."""
    runs = []
    for model in plan.models:
        run = plan.out / "runs" / model
        if plan.fresh and run.exists():
            shutil.rmtree(run)
        if (run / "metrics.json").is_file():
            print(f"{model}: reusing {run} (pass --fresh to retrain)")
        else:
            start = time.perf_counter()
            resume = (run / "last.pt").is_file()  # an interrupted run continues where it stopped
            if resume:
                print(f"{model}: resuming {run} from last.pt")
            metrics = train(
                TrainConfig(
                    data=str(data),
                    out=str(run),
                    model=model,
                    image_size=plan.image_size,
                    epochs=plan.epochs,
                    head_epochs=plan.head_epochs if plan.pretrained else None,
                    recipe=plan.recipe,
                    batch_size=plan.batch_size,
                    pretrained=plan.pretrained,
                    seed=plan.seed,
                    threads=plan.threads,
                    progress=plan.progress,
                    patience=0,
                    resume=resume,
                )
            )
            print(
                f"{model}: test accuracy {metrics['accuracy']:.4f}, balanced accuracy "
                f"{metrics['balanced_accuracy']:.4f} ({time.perf_counter() - start:.0f} s)"
            )
        runs.append(run)
    return runs


def reproduce(plan: Plan, *, command: str = "") -> ReportResult:
    """Data -> split -> train every model -> evaluate -> report; returns the report's paths."""
    data = prepare_data(plan)
    runs = train_all(plan, data)
    before = torch.get_num_threads()
    try:
        return build_report(runs, plan.out / "report", speed=plan.speed, command=command)
    finally:
        torch.set_num_threads(before)


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (defaults: a small CPU run at 64 px)."""
    d = Plan(out=Path("."))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="HAM10000 folder (default: generate synthetic data)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--models", nargs="+", default=list(d.models), help=f"default: {' '.join(d.models)}")
    p.add_argument("--image-size", type=int, default=d.image_size, help=f"default: {d.image_size}")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"main/fine-tuning epochs (default: {d.epochs})")
    p.add_argument("--head-epochs", type=int, default=d.head_epochs, help=f"with --pretrained ({d.head_epochs})")
    p.add_argument("--recipe", choices=("strong", "paper", "legacy"), default=d.recipe, help=f"default: {d.recipe}")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default: {d.batch_size}")
    p.add_argument("--n", type=int, default=d.n_synthetic, help=f"synthetic images (default: {d.n_synthetic})")
    p.add_argument(
        "--synthetic-size",
        type=int,
        nargs=2,
        default=d.synthetic_size,
        metavar=("W", "H"),
        help="synthetic image size (default: 200 150)",
    )
    p.add_argument("--pretrained", action="store_true", help="ImageNet weights for transfer models")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads, 0 = torch's default (default: 1)")
    p.add_argument("--fresh", action="store_true", help="retrain runs that already have metrics.json")
    p.add_argument("--no-speed", action="store_true", help="skip the latency/throughput measurement")
    p.add_argument("--speed-batch", type=int, default=32, help="throughput batch (default: 32)")
    p.add_argument("--speed-repeats", type=int, default=5, help="timed calls per median (default: 5)")
    p.add_argument("--device", default="cpu", help="where speed is measured (default: cpu)")
    p.add_argument("--progress", action="store_true", help="progress bars while training")
    return p


def main(argv: list[str] | None = None, *, command: str = "") -> int:
    """Parse ``argv``, run :func:`reproduce`, print where the report is; returns the exit code."""
    args = build_parser().parse_args(argv)
    plan = Plan(
        out=args.out,
        data=args.data,
        models=tuple(args.models),
        image_size=args.image_size,
        epochs=args.epochs,
        head_epochs=args.head_epochs,
        recipe=args.recipe,
        batch_size=args.batch_size,
        n_synthetic=args.n,
        synthetic_size=tuple(args.synthetic_size),
        pretrained=args.pretrained,
        seed=args.seed,
        threads=args.threads,
        fresh=args.fresh,
        progress=args.progress,
        speed=None
        if args.no_speed
        else SpeedOptions(device=args.device, batch=args.speed_batch, repeats=args.speed_repeats),
    )
    start = time.perf_counter()
    result = reproduce(plan, command=command or "python examples/reproduce_paper.py " + " ".join(argv or sys.argv[1:]))
    print(
        f"report: {result.markdown.resolve()}\n        {result.html.resolve()} "
        f"({len(result.files)} files, {time.perf_counter() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
