"""Throughput of the skinbench data pipeline and of one training step.

* Images per second decoded from JPEG (``skinbench.data.cached_images`` into a fresh,
  empty cache folder: decode + resize + write the ``.npy``) vs read back from that cache
  (memory-map + copy into RAM; the file is in the OS page cache by then, so this is the
  warm-cache rate), at 64 and 224 px. Images: the first ``--images`` images (by
  image_id) of the real HAM10000 copy at ``$SKINBENCH_DATA`` or ``../shared/data/ham10000``,
  else a synthetic set from ``skinbench.data.write_synthetic``.
* Training images per second (Adam, cross-entropy, random batches, all parameters
  trainable) of ``custom_cnn`` and ``resnet50_tl`` at 64 and 224 px on CPU, and on CUDA
  when present.

Usage::

    python benchmarks/pipeline_speed.py           # docs/benchmarks.md + results JSON
    python benchmarks/pipeline_speed.py --quick   # 64 images, 1 step, no docs
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    DOCS,
    QUICK_RESULTS,
    REPO_ROOT,
    RESULTS,
    machine_info,
    machine_line,
    publish,
    time_calls,
    version_of,
)

SECTION = "pipeline_speed"
SIZES = (64, 224)
MODELS = ("custom_cnn", "resnet50_tl")
#: Batch size per device (CPU batches are small so a step takes seconds, not minutes).
BATCH = {"cpu": 16, "cuda": 64}


def find_data() -> Path | None:
    """The real HAM10000 folder ($SKINBENCH_DATA, else ../shared/data/ham10000), or None."""
    env = os.environ.get("SKINBENCH_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared" / "data" / "ham10000"]:
        if (candidate / "HAM10000_metadata.csv").is_file():
            return candidate
    return None


def image_paths(n: int, workdir: Path) -> tuple[list[str], str]:
    """``n`` image paths (first by image_id) and a description of where they come from."""
    from skinbench.data import load_metadata, write_synthetic

    root = find_data()
    source = f"real HAM10000 at {root}"
    if root is None:
        root = write_synthetic(workdir / "synthetic", n=max(n, 7))
        source = "synthetic (skinbench.data.write_synthetic, 200x150 JPEG)"
    meta = load_metadata(root).sort_values("image_id").head(n)
    return meta["path"].tolist(), source


def time_decode(paths: list[str], size: int, repeats: int, workdir: Path) -> tuple[float, Path]:
    """Median seconds to fill a fresh cache; returns the last cache folder (kept)."""
    from skinbench.data import cached_images

    times = []
    folder = workdir
    for i in range(repeats):
        folder = workdir / f"cache_{size}_{i}"
        start = time.perf_counter()
        cached_images(paths, size, cache_dir=folder)
        times.append(time.perf_counter() - start)
        if i < repeats - 1:
            shutil.rmtree(folder)
    return statistics.median(times), folder


def time_read(paths: list[str], size: int, folder: Path, repeats: int) -> float:
    """Median seconds to open the cache and copy every image into RAM."""
    import numpy as np

    from skinbench.data import cached_images

    median, _, images = time_calls(lambda: np.array(cached_images(paths, size, cache_dir=folder)), repeats)
    assert images.shape == (len(paths), size, size, 3)
    return median


def data_rates(n: int, repeats: int) -> dict[str, Any]:
    """Decode vs cache-read images/s at every size."""
    with tempfile.TemporaryDirectory(prefix="pipeline_speed_") as tmp:
        workdir = Path(tmp)
        paths, source = image_paths(n, workdir)
        rows = {}
        for size in SIZES:
            decode_s, folder = time_decode(paths, size, max(1, min(repeats, 3)), workdir)
            read_s = time_read(paths, size, folder, repeats)
            rows[str(size)] = {
                "decode_s": decode_s,
                "read_s": read_s,
                "decode_images_per_s": len(paths) / decode_s,
                "read_images_per_s": len(paths) / read_s,
                "speedup": decode_s / read_s,
            }
    return {"images": len(paths), "source": source, "sizes": rows}


def train_rate(name: str, size: int, device: str, steps: int, min_seconds: float = 3.0) -> dict[str, Any]:
    """Training images/s of model ``name``: one warm-up step, then timed steps.

    At least ``steps`` steps are timed, and more (up to 10x ``steps``) until
    ``min_seconds`` have passed, so fast configurations are not timed on one short step.
    """
    import torch
    from torch import nn

    from skinbench.models import build_model

    torch.manual_seed(0)
    model = build_model(name, 7, pretrained=False, image_size=size).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    batch = BATCH[device]
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 7, (batch,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()

    step()
    return timed_rate(step, batch, steps, min_seconds)


def timed_rate(
    step: Callable[[], None],
    batch: int,
    steps: int,
    min_seconds: float,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Time ``step`` (one batch of ``batch`` images) and return the rate of the steps timed.

    At least ``steps`` steps run, and more (up to 10x ``steps``) until ``min_seconds``
    have passed; ``steps`` in the result is the number actually timed, so
    ``images_per_s == batch * steps / seconds`` always holds.
    """
    done, start = 0, clock()
    while done < steps or (clock() - start < min_seconds and done < 10 * steps):
        step()
        done += 1
    elapsed = clock() - start
    return {"batch": batch, "steps": done, "seconds": elapsed, "images_per_s": batch * done / elapsed}


def train_rates(steps: int, quick: bool) -> dict[str, Any]:
    """Training images/s for every model, size and device."""
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out: dict[str, Any] = {}
    for device in devices:
        for name in MODELS[:1] if quick else MODELS:
            for size in SIZES[:1] if quick else SIZES:
                n = steps if device == "cpu" else steps * 5
                out[f"{device}/{name}/{size}"] = {
                    "device": device,
                    "model": name,
                    "size": size,
                    **train_rate(name, size, device, n),
                }
    return out


def render(payload: dict[str, Any]) -> str:
    """Markdown section for docs/benchmarks.md."""
    from tabulate import tabulate

    data = payload["data"]
    rows = [
        [f"{size} px", f"{r['decode_images_per_s']:,.0f}", f"{r['read_images_per_s']:,.0f}", f"{r['speedup']:.0f}x"]
        for size, r in data["sizes"].items()
    ]
    train = [
        [r["device"], r["model"], f"{r['size']} px", r["batch"], r["steps"], f"{r['images_per_s']:,.1f}"]
        for r in payload["training"].values()
    ]
    return "\n\n".join(
        [
            machine_line(payload["machine"]),
            f"Data: {data['images']:,} images, {data['source']}. Decode = `cached_images` into an empty cache "
            f"folder (JPEG decode + resize + `.npy` write, {payload['decode_workers']} threads; median of "
            f"{min(payload['repeats'], 3)} fresh folders); read = `cached_images` on the filled folder + copy to RAM "
            f"(warm OS page cache; median of {payload['repeats']} after a warm-up).",
            tabulate(
                rows,
                ["size", "decode (images/s)", "cache read (images/s)", "read / decode speed-up"],
                tablefmt="github",
                disable_numparse=True,
            ),
            "Training: Adam (lr 1e-4), cross-entropy, one random batch reused, every parameter trainable "
            f"(`build_model(name, 7, pretrained=False, image_size=size)`); one warm-up step, then at least "
            f"{payload['steps']} timed steps, more (up to {10 * payload['steps']}) until 3 s have passed.",
            tabulate(
                train,
                ["device", "model", "size", "batch", "timed steps", "train images/s"],
                tablefmt="github",
                disable_numparse=True,
            ),
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 images, 1 step, one model, no docs")
    parser.add_argument("--images", type=int, default=1000, help="images for the data rates (default 1000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed cache reads (default 5; decodes: 3)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps on CPU (default 3; CUDA 5x)")
    parser.add_argument("--json", type=Path, help="results JSON (default benchmarks/results/pipeline_speed.json)")
    parser.add_argument("--docs", type=Path, help="markdown file to update (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.repeats, args.steps = 64, 1, 1
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the measurements, print the tables and write the JSON (and docs section)."""
    args = parse_args(argv)
    start = time.perf_counter()
    info = machine_info()
    payload: dict[str, Any] = {
        "schema": "flopcount.benchmarks.pipeline_speed/1",
        "machine": info,
        "versions": {
            "flopcount": version_of("flopcount"),
            "torch": info["torch"],
            "torchvision": version_of("torchvision"),
            "pillow": version_of("pillow"),
            "numpy": version_of("numpy"),
        },
        "repeats": args.repeats,
        "steps": args.steps,
        "decode_workers": min(4, os.cpu_count() or 1),
        "data": data_rates(args.images, args.repeats),
        "training": train_rates(args.steps, args.quick),
    }
    payload["wall_s"] = time.perf_counter() - start
    json_path = args.json or (QUICK_RESULTS if args.quick else RESULTS) / "pipeline_speed.json"
    publish(payload, render(payload), json_path, args.docs or (None if args.quick else DOCS), SECTION)
    return payload


if __name__ == "__main__":
    main()
