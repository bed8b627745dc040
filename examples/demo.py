"""`make demo`: the paper's two models layer by layer, then a small end-to-end run and its report.

1. Per-layer tables of the custom CNN (Table II) and ResNet50 + TL at 224x224x3 (flopcount,
   no weights needed), and Tables III and IV's cost columns beside the paper's values.
2. ``examples/reproduce_paper.py`` with small settings: data -> split -> train the two paper
   models and three torchvision models (32 px, 2 epochs, random init) -> evaluate -> report.

Data: synthetic images (the embedded default) unless the environment variable
``SKINBENCH_DATA`` is set to a HAM10000 folder, e.g. ``SKINBENCH_DATA=../shared/data/ham10000
make demo`` (the real data makes the run much longer: 10,015 images instead of 280).
The output goes to ``runs/demo`` (``runs/demo-ham10000`` with real data); runs are
retrained every time. Finishes in a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from flopcount import profile
from skinbench.models import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reproduce_paper
import reproduce_tables

ROOT = Path(__file__).resolve().parents[1]


def profile_paper_models() -> None:
    """Print the per-layer table of each paper model, then a side-by-side summary."""
    results = {}
    for name in ("custom_cnn", "resnet50_tl"):
        model = build_model(name, num_classes=7, pretrained=False, image_size=224)
        results[name] = profile(model, input_shape=(1, 3, 224, 224))
        print(results[name])
        print()
    cnn, resnet = results["custom_cnn"], results["resnet50_tl"]
    print("Paper models at 224x224x3, batch 1")
    print(f"{'model':<14}{'params':>14}{'MACs':>18}{'FLOPs':>18}")
    for name, result in results.items():
        print(f"{name:<14}{result.total_params:>14,}{result.total_macs:>18,}{result.total_flops:>18,}")
    ratio = resnet.total_macs / cnn.total_macs
    print(
        f"ResNet50 + TL needs {ratio:.2f}x the MACs of the custom CNN "
        f"({(ratio - 1) * 100:+.1f}%), with {resnet.total_params / cnn.total_params:.2f}x the parameters.\n"
    )


def demo_args(environ: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """reproduce_paper's arguments: real data only when ``SKINBENCH_DATA`` is set in ``environ``.

    Example:
        >>> demo_args({})[:2], "--data" in demo_args({})
        (['--out', 'runs/demo'], False)
        >>> demo_args({"SKINBENCH_DATA": "/d"})[:4]
        ['--out', 'runs/demo-ham10000', '--data', '/d']
    """
    data = environ.get("SKINBENCH_DATA", "")
    small = [
        "--image-size",
        "32",
        "--epochs",
        "2",
        "--head-epochs",
        "1",
        "--batch-size",
        "32",
        "--fresh",
        "--speed-batch",
        "8",
        "--speed-repeats",
        "3",
    ]
    if data:
        return ["--out", "runs/demo-ham10000", "--data", data, *small]
    return ["--out", "runs/demo", "--n", "280", "--synthetic-size", "64", "48", *small]


def main() -> int:
    """Profile the paper models, print Tables III-IV, run the small pipeline; returns the exit code."""
    start = time.perf_counter()
    os.chdir(ROOT)
    profile_paper_models()
    reproduce_tables.main([])
    args = demo_args()
    print("\nsmall end-to-end run: python examples/reproduce_paper.py " + " ".join(args))
    code = reproduce_paper.main(args, command="make demo")
    print(f"make demo finished in {time.perf_counter() - start:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
