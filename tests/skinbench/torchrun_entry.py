"""What torchrun runs in the distributed tests: ``skinbench`` with two test instruments.

Usage (one process per rank)::

    python -m torch.distributed.run --nproc-per-node 2 tests/skinbench/torchrun_entry.py AUDIT train ...

The arguments after AUDIT are a ``skinbench`` command line; several, separated by
``::``, run one after the other in the same processes and process group (one torchrun
start for several runs). The instruments:

* every atomic file write (all of skinbench's writes) is appended to
  ``AUDIT/writes-rank<RANK>.txt``, and ``AUDIT/done-rank<RANK>.txt`` records each
  command's exit status, so a test sees which process ran and which wrote;
* with ``SKINBENCH_TEST_NO_RANDOM=1`` dropout is the identity and augmentation is off:
  the two random draws each process makes on its own. What remains differs from a
  single process only in the order of floating-point sums, which is what the equality
  test measures.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


def _record_writes(audit: Path, rank: str) -> None:
    import skinbench.atomic as atomic  # before any module binds atomic_path by name

    original = atomic.atomic_path

    @contextlib.contextmanager
    def recorded(path: str | Path) -> Iterator[Path]:
        with open(audit / f"writes-rank{rank}.txt", "a") as fh:
            fh.write(f"{Path(path).absolute()}\n")
        with original(path) as tmp:
            yield tmp

    atomic.atomic_path = recorded


def no_random() -> None:
    """Dropout as the identity and no augmentation (also used by the single-process reference run)."""
    import torch

    import skinbench.context as context

    torch.nn.Dropout.forward = lambda self, x: x  # type: ignore[method-assign]
    make = context.make_transform
    context.make_transform = lambda train, mean, std, **kw: make(False, mean, std, **kw)  # type: ignore[assignment]


def main() -> int:
    audit, commands = Path(sys.argv[1]), [[]]
    for arg in sys.argv[2:]:
        if arg == "::":
            commands.append([])
        else:
            commands[-1].append(arg)
    audit.mkdir(parents=True, exist_ok=True)
    rank = os.environ.get("RANK", "single")
    _record_writes(audit, rank)
    if os.environ.get("SKINBENCH_TEST_NO_RANDOM") == "1":
        no_random()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # one process group for all commands (torchrun rendezvous once)
        import torch.distributed as dist

        dist.init_process_group("gloo")
    from skinbench.cli import main as skinbench

    status = 0
    for command in commands:
        status = skinbench(command)
        with open(audit / f"done-rank{rank}.txt", "a") as fh:
            fh.write(f"{status} {' '.join(command)}\n")
        if status:
            break
    return status


if __name__ == "__main__":
    sys.exit(main())
