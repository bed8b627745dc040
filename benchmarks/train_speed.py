"""Training images per second of skinbench's training loop beside a minimal hand-written loop.

For each image size (64 and 128 px) and torch thread count (1 and the machine's usable
cores), three ways to train ``custom_cnn`` on the same images with the same batch:

* **skinbench strong**: skinbench's own path, as ``skinbench.train.train_epoch`` sets it
  up for the default ``strong`` recipe: ``RunContext.loader`` (shuffled batches),
  ``RunContext.batch_pipeline`` (uint8 -> float, one ``BatchAugment`` call per batch,
  normalisation), ``skinbench.engine.train_one_epoch`` with the recipe's loss
  (``skinbench.losses.make_loss``), AdamW (``skinbench.optim.make_optimizer``) and its
  per-step learning rate (``skinbench.optim.lr_schedule``); validation not included.
* **hand loop**: a minimal loop over an in-memory uint8 tensor: index a shuffled batch,
  the same ``BatchAugment`` call and normalisation, the same model, loss and AdamW
  (``zero_grad``, ``backward``, ``step``): the speed to expect from the hardware.
* **skinbench legacy**: skinbench's loop with the per-image torchvision augmentation of
  runs before recipes (flips + rotation in the dataset, image by image), for comparison.

Each row: one untimed warm-up epoch, then ``--repeats`` timed epochs over the same
``--images`` training images (at 128 px a quarter as many, at least 4 batches); the
median images/s is reported. The loops' epochs are interleaved (A, B, C, A, B, C, ...),
so load from other processes that comes and goes hits all of them alike. Target:
skinbench within 1.2x of the hand loop.

Images: the train split of a synthetic HAM10000-layout set (``skinbench.data.write_synthetic``),
or of ``--data DIR``; the images' content does not change the speed.

Usage::

    python benchmarks/train_speed.py            # docs/benchmarks.md section + results JSON
    python benchmarks/train_speed.py --quick    # 64 px, 1 thread, 64 images, 1 repeat, no docs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import DOCS, QUICK_RESULTS, RESULTS, machine_info, machine_line, publish, version_of

SECTION = "train_speed"
SIZES = (64, 128)
BATCH = 32
TARGET = 1.2
VARIANTS = ("skinbench strong", "hand loop", "skinbench legacy")


def epoch_rates(
    epochs: dict[str, Callable[[], int]],
    repeats: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, dict[str, Any]]:
    """Time each of ``epochs`` (each returns the images it trained on), interleaved, after ``warmup`` untimed rounds.

    Returns:
        Per name: ``{"images": images per epoch, "seconds": [each timed epoch],
        "images_per_s": median over the timed epochs of images / seconds, "repeats": timed epochs}``.
    """
    for _ in range(warmup):
        for run in epochs.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in epochs}
    images: dict[str, int] = {}
    for _ in range(max(1, repeats)):
        for name, run in epochs.items():
            start = clock()
            images[name] = run()
            times[name].append(clock() - start)
    return {
        name: {
            "images": images[name],
            "seconds": seconds,
            "images_per_s": statistics.median(images[name] / s for s in seconds),
            "repeats": len(seconds),
        }
        for name, seconds in times.items()
    }


def compare(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (size, threads): hand-loop images/s over skinbench strong's, and whether it is within :data:`TARGET`.

    Example:
        >>> rows = [{"size": 64, "threads": 1, "variant": "skinbench strong", "images_per_s": 90.0},
        ...         {"size": 64, "threads": 1, "variant": "hand loop", "images_per_s": 99.0}]
        >>> compare(rows)
        [{'size': 64, 'threads': 1, 'hand_over_skinbench': 1.1, 'within_target': True}]
    """
    rate = {(r["size"], r["threads"], r["variant"]): r["images_per_s"] for r in rows}
    out = []
    for size, threads in dict.fromkeys((r["size"], r["threads"]) for r in rows):
        ours, hand = rate.get((size, threads, VARIANTS[0])), rate.get((size, threads, VARIANTS[1]))
        if ours and hand:
            ratio = round(hand / ours, 4)
            out.append({"size": size, "threads": threads, "hand_over_skinbench": ratio})
            out[-1]["within_target"] = ratio <= TARGET
    return out


def _context(data: Path, workdir: Path, size: int, augment: str) -> Any:
    from skinbench.config import TrainConfig
    from skinbench.context import build_context
    from skinbench.rundir import RunDir

    config = TrainConfig(
        data=str(data), out=str(workdir / f"run_{size}"), model="custom_cnn", image_size=size, batch_size=BATCH,
        augment=augment, progress=False, device="cpu", cache_dir=str(workdir / "cache"), threads=1, num_workers=0,
    )  # fmt: skip
    return build_context(config, RunDir(config.out), pretrained=False)


def skinbench_epoch(ctx: Any, n: int) -> Callable[[], int]:
    """One training epoch over the first ``n`` training images, set up as ``skinbench.train.train_epoch`` does."""
    import torch
    from torch.utils.data import Subset

    from skinbench.engine import train_one_epoch
    from skinbench.losses import make_loss
    from skinbench.optim import lr_schedule, make_optimizer

    config, epoch = ctx.config, [0]
    criterion = make_loss(config, ctx.splits["train"].labels, len(ctx.classes))
    optimizer = make_optimizer(config, ctx.model.parameters(), config.lr)
    data = Subset(ctx.dataset("train", augment=True), range(n))

    def run() -> int:
        epoch[0] += 1
        torch.manual_seed(epoch[0])
        loader = ctx.loader(data, shuffle=True, seed=epoch[0])
        prepare = ctx.batch_pipeline(epoch[0])
        lr_at = lr_schedule(config, config.lr, 100, epoch[0], len(loader))
        result = train_one_epoch(ctx.model, loader, criterion, optimizer, ctx.device, prepare=prepare, lr_at=lr_at)
        return int(result["n"])

    return run


def hand_epoch(ctx: Any, n: int) -> Callable[[], int]:
    """The same epoch as a minimal loop: in-memory uint8 batches, BatchAugment, normalise, AdamW step."""
    import torch
    from torch import nn

    from skinbench.data.augment import BatchAugment
    from skinbench.engine import inverse_frequency_weights
    from skinbench.models import build_model
    from skinbench.recipes import AUGMENTATIONS

    config = ctx.config
    torch.manual_seed(0)
    model = build_model("custom_cnn", 7, pretrained=False, image_size=config.image_size).train()
    images = torch.from_numpy(ctx.splits["train"].images[:n].copy()).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(ctx.splits["train"].labels[:n].copy()).long()
    weight = inverse_frequency_weights(ctx.splits["train"].labels, 7)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    decay = [p for p in model.parameters() if p.dim() > 1]
    rest = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=config.lr
    )
    augment = BatchAugment(**AUGMENTATIONS["strong"])
    mean = torch.tensor(config.mean).view(1, 3, 1, 1)
    std = torch.tensor(config.std).view(1, 3, 1, 1)
    generator = torch.Generator().manual_seed(0)

    def run() -> int:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            x = (augment(images[idx].float() / 255, generator) - mean) / std
            loss = loss_fn(model(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return n

    return run


def measure(data: Path, workdir: Path, sizes: tuple[int, ...], threads: list[int], args: argparse.Namespace) -> list:
    """Every (size, threads, variant) row."""
    import torch

    rows = []
    for size in sizes:
        n = max(4 * BATCH, int(args.images * (64 / size) ** 2))
        contexts = {augment: _context(data, workdir, size, augment) for augment in ("strong", "legacy")}
        n = min(n, len(contexts["strong"].splits["train"].labels))
        for t in threads:
            torch.set_num_threads(t)
            epochs = {
                VARIANTS[0]: skinbench_epoch(contexts["strong"], n),
                VARIANTS[1]: hand_epoch(contexts["strong"], n),
                VARIANTS[2]: skinbench_epoch(contexts["legacy"], n),
            }
            results = epoch_rates(dict(list(epochs.items())[: 2 if args.quick else 3]), args.repeats)
            for variant, result in results.items():
                rows.append({"size": size, "threads": t, "variant": variant, "batch": BATCH, **result})
                print(f"{size} px, {t} thread(s), {variant}: {result['images_per_s']:.1f} images/s", file=sys.stderr)
    return rows


def render(payload: dict[str, Any]) -> str:
    """Markdown section for docs/benchmarks.md."""
    from tabulate import tabulate

    ratio = {(c["size"], c["threads"]): c["hand_over_skinbench"] for c in payload["comparison"]}
    rows = [
        [
            f"{r['size']} px",
            r["threads"],
            r["variant"],
            r["images"],
            " / ".join(f"{s:.2f}" for s in r["seconds"]),
            f"{r['images_per_s']:.1f}",
            f"{ratio[(r['size'], r['threads'])]:.2f}x" if r["variant"] == VARIANTS[0] else "",
        ]
        for r in payload["rows"]
    ]
    headers = ["size", "threads", "loop", "images/epoch", "timed epochs (s)", "images/s", "hand / skinbench"]
    return "\n\n".join(
        [
            "## Training speed: skinbench's loop vs a hand-written loop",
            "`python benchmarks/train_speed.py` (see `skinbench/resources.py` and docs/skinbench/training.md for the "
            "thread rule it supports).",
            machine_line(payload["machine"]),
            f"custom_cnn, batch {BATCH}, CPU, images of {payload['source']}; one warm-up epoch, then the median of "
            f"{payload['repeats']} timed epochs (training only, no validation). `skinbench strong` is skinbench's "
            "training loop with the default recipe's batched augmentation, loss, AdamW and schedule; `hand loop` is a "
            "minimal loop with the same model, batch, threads, augmentation call, loss and optimizer; `skinbench "
            f"legacy` is the per-image torchvision augmentation of runs before recipes. Target: hand / skinbench <= "
            f"{TARGET}. The loops' epochs are interleaved, so load from other processes hits them alike.",
            tabulate(rows, headers, tablefmt="github", disable_numparse=True),
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 px, 1 thread, 64 images, 1 repeat")
    parser.add_argument("--data", type=Path, help="HAM10000 folder (default: synthetic images)")
    parser.add_argument("--images", type=int, default=512, help="training images per epoch at 64 px (default 512)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per row (default 3)")
    parser.add_argument("--threads", type=int, nargs="+", help="torch thread counts (default: 1 and the usable cores)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="image sizes (default: 64 128)")
    parser.add_argument("--json", type=Path, help="results JSON (default benchmarks/results/train_speed.json)")
    parser.add_argument("--docs", type=Path, help="markdown file to update (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.repeats, args.threads, args.sizes = 64, 1, [1], [64]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the measurements, print the table and write the JSON (and docs section)."""
    from skinbench.data import write_synthetic
    from skinbench.resources import usable_cores

    args = parse_args(argv)
    start = time.perf_counter()
    info = machine_info()
    threads = args.threads or sorted({1, usable_cores()})
    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        workdir = Path(tmp)
        data = args.data or write_synthetic(workdir / "synthetic", n=max(64, int(args.images / 0.7) + 16), seed=0)
        source = f"{args.data}" if args.data else "a synthetic set (skinbench.data.write_synthetic, 200x150 JPEG)"
        rows = measure(data, workdir, tuple(args.sizes), threads, args)
    payload: dict[str, Any] = {
        "schema": "flopcount.benchmarks.train_speed/1",
        "machine": info,
        "versions": {"flopcount": version_of("flopcount"), "torch": info["torch"]},
        "batch": BATCH,
        "repeats": args.repeats,
        "source": source,
        "target": TARGET,
        "rows": rows,
        "comparison": compare(rows),
    }
    payload["wall_s"] = time.perf_counter() - start
    json_path = args.json or (QUICK_RESULTS if args.quick else RESULTS) / "train_speed.json"
    publish(payload, render(payload), json_path, args.docs or (None if args.quick else DOCS), SECTION)
    return payload


if __name__ == "__main__":
    main()
