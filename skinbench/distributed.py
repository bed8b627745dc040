"""Training on several processes, GPUs and machines with ``torch.distributed`` (``torchrun``).

``torchrun --nproc-per-node N -m skinbench train ...`` starts N copies of ``skinbench
train``; each finds its place in the job in the environment variables torchrun sets
(``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``). Without them,
or with ``WORLD_SIZE=1``, nothing here initialises ``torch.distributed``: a plain
``skinbench train`` runs exactly as a single process always did.

The rules, one place each:

* **Batch and learning rate.** ``--batch-size`` is the *global* batch: each of the W
  processes trains on ``batch_size / W`` images per step (it must divide evenly), and DDP
  averages the gradients, so one step sees the same images and gives the same gradient
  as a single process with that batch. ``--lr`` is the learning rate of that global
  batch and is never rescaled: the same command line trains the same recipe on 1 or 8
  processes (to use a bigger global batch, raise ``--batch-size`` and, if you want the
  linear scaling rule, ``--lr`` yourself). ``config.json`` records ``world_size`` and
  ``per_rank_batch_size`` beside ``batch_size``.
* **Training batches** (:class:`skinbench.sharding.ShardedBatchSampler`): every process
  draws the same shuffled order (the same seed), cuts it into global batches as a
  single process does, and trains on its contiguous share of each. An incomplete last
  batch with fewer than 2 images per process joins the batch before it (for W = 1 the
  single-process rule of :mod:`skinbench.data.batching`; for W > 1 the last step can
  therefore differ from a single process's when the split leaves a remainder below 2W),
  and each share's loss is weighted by its share of the global batch: its size, or the
  sum of its images' class weights for a class-weighted loss
  (:meth:`~skinbench.sharding.ShardedBatchSampler.loss_scales`), so the averaged
  gradient is the gradient of the (weighted) mean loss over the global batch, as one
  process computes it.
* **Evaluation** (validation, test, phase-1 features): process r predicts the
  contiguous, unpadded shard :func:`~skinbench.sharding.shard` of the split;
  :func:`~skinbench.sharding.gather_rows` collects
  every shard with its dataset indices on every process and puts the rows back in
  dataset order, checking that each index comes exactly once. Metrics therefore cover
  each image once: no sampler padding, no duplicates.
* **Files**: only rank 0 writes (``config.json``, checkpoints, ``history.csv``,
  metrics); the others wait at a :func:`barrier` after each epoch. Shared inputs (the
  split file, the decoded-image cache) are made by one process first and read by the
  rest (:func:`in_turn`).
* **Randomness**: dropout and augmentation draw from a per-process seed
  (:func:`rank_seed`; rank 0 keeps the single-process seed), the shuffle order from the
  shared one.
* **Failures**: a process that raises exits non-zero and torchrun stops all the others
  (its default, ``--max-restarts 0``); a process that hangs makes the others' next
  collective fail after ``$SKINBENCH_DIST_TIMEOUT`` seconds (default 1800).

Backend: ``--dist-backend auto`` picks NCCL when the run's device is CUDA, else Gloo.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from skinbench.errors import ConfigError

__all__ = [
    "BACKENDS",
    "TIMEOUT_ENV",
    "DistEnv",
    "barrier",
    "check_batch",
    "in_turn",
    "local_device",
    "rank_seed",
    "resolve_backend",
    "session",
    "sum_over_ranks",
    "unwrap",
    "wrap",
]

BACKENDS = ("auto", "nccl", "gloo")
#: Seconds a collective waits for the other processes before it fails.
TIMEOUT_ENV = "SKINBENCH_DIST_TIMEOUT"
_DEFAULT_TIMEOUT = 1800.0


@dataclass(frozen=True)
class DistEnv:
    """Where this process is in a torchrun job (rank 0 of 1 outside one).

    Attributes:
        rank: Global rank, 0 .. world_size - 1.
        local_rank: Rank on this machine (picks the GPU).
        world_size: Number of processes in the job.
        backend: ``nccl`` or ``gloo`` once the process group is up; None for a single process.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        """Whether this process trains together with others."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> DistEnv:
        """Read ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (as torchrun sets them).

        Raises:
            ConfigError: A variable is not an integer, or the rank is out of range.

        Example:
            >>> DistEnv.from_environ({})
            DistEnv(rank=0, local_rank=0, world_size=1, backend=None)
            >>> DistEnv.from_environ({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}).distributed
            True
        """
        env = os.environ if environ is None else environ
        try:
            values = {k: int(env.get(k, default)) for k, default in (("RANK", 0), ("LOCAL_RANK", 0), ("WORLD_SIZE", 1))}
        except ValueError:
            raise ConfigError("RANK, LOCAL_RANK and WORLD_SIZE must be integers (as torchrun sets them)") from None
        rank, world = values["RANK"], values["WORLD_SIZE"]
        if world < 1 or not 0 <= rank < world:
            raise ConfigError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
        return cls(rank, values["LOCAL_RANK"], world)


def resolve_backend(name: str, device: torch.device) -> str:
    """``auto`` -> ``nccl`` on a CUDA device, else ``gloo``; an explicit name is checked.

    Raises:
        ConfigError: An unknown name, or NCCL without a CUDA device.

    Example:
        >>> resolve_backend("auto", torch.device("cpu")), resolve_backend("auto", torch.device("cuda"))
        ('gloo', 'nccl')
    """
    if name not in BACKENDS:
        raise ConfigError(f"unknown dist_backend {name!r} (expected {', '.join(BACKENDS)})")
    if name == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if name == "nccl" and device.type != "cuda":
        raise ConfigError(f"dist_backend nccl needs a CUDA device, not {device.type} (use gloo)")
    return name


def _timeout() -> datetime.timedelta:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else _DEFAULT_TIMEOUT
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    return datetime.timedelta(seconds=seconds)


def local_device(device: torch.device, env: DistEnv) -> torch.device:
    """The device of this process: under torchrun, ``cuda`` becomes ``cuda:LOCAL_RANK`` (made current).

    Example:
        >>> local_device(torch.device("cpu"), DistEnv(rank=1, local_rank=1, world_size=2))
        device(type='cpu')
    """
    if not (env.distributed and device.type == "cuda"):
        return device
    if device.index is None:
        device = torch.device("cuda", env.local_rank)
    torch.cuda.set_device(device)
    return device


@contextlib.contextmanager
def session(backend: str, device: torch.device) -> Iterator[DistEnv]:
    """Join the torchrun job for the ``with`` block (a single process: do nothing).

    Initialises the default process group from the environment (``env://``) with the
    backend :func:`resolve_backend` picks for ``device`` and destroys it afterwards. A
    process group that is already up (a caller's) is used and left up.

    Args:
        backend: ``auto``, ``nccl`` or ``gloo``.
        device: The run's device (``cuda``, ``cpu``): decides ``auto``.

    Yields:
        The process's :class:`DistEnv`.
    """
    env = DistEnv.from_environ()
    if not env.distributed:
        yield env
        return
    if dist.is_initialized():
        yield DistEnv(env.rank, env.local_rank, env.world_size, str(dist.get_backend()))
        return
    name = resolve_backend(backend, device)
    if name == "nccl":
        local_device(device, env)
    dist.init_process_group(name, timeout=_timeout())
    try:
        yield DistEnv(env.rank, env.local_rank, env.world_size, name)
    finally:
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait until every process gets here (nothing for a single process)."""
    if env.distributed:
        dist.barrier()


@contextlib.contextmanager
def in_turn(env: DistEnv) -> Iterator[None]:
    """Run the ``with`` block in every process: rank 0 first, then each machine's local rank 0, then the rest.

    For work with a shared result on disk: rank 0 writes the split file and fills the
    decoded-image cache, the first process of every other machine (whose cache folder
    may be a local disk) finds the split and fills its cache, and every other process
    only reads. Each process passes three barriers, the block runs between its turn's.
    """
    mine = 0 if env.rank == 0 else 1 if env.local_rank == 0 else 2
    for _ in range(mine):
        barrier(env)
    yield
    for _ in range(mine, 3):
        barrier(env)


def check_batch(batch_size: int, env: DistEnv, *, needs_two: bool) -> int:
    """The per-process batch of global batch ``batch_size``.

    Args:
        batch_size: The global batch (``--batch-size``).
        env: This process's place in the job.
        needs_two: The model has BatchNorm layers that train on batch statistics, so a
            process must get at least 2 images per step.

    Raises:
        ConfigError: ``batch_size`` is not a multiple of the world size, or too small.

    Example:
        >>> check_batch(32, DistEnv(world_size=4), needs_two=True)
        8
    """
    per_rank, rest = divmod(batch_size, env.world_size)
    if rest:
        raise ConfigError(
            f"batch_size {batch_size} is the global batch and must be a multiple of the {env.world_size} processes"
        )
    if needs_two and per_rank < 2:
        raise ConfigError(
            f"batch_size {batch_size} gives {per_rank} image per process; BatchNorm needs at least 2 "
            f"(use --batch-size {2 * env.world_size} or more)"
        )
    return per_rank


def rank_seed(seed: int, env: DistEnv) -> int:
    """The seed of this process's dropout and augmentation: ``seed`` on rank 0, a distinct one elsewhere.

    Example:
        >>> rank_seed(7, DistEnv()), rank_seed(7, DistEnv(rank=1, world_size=2)) != 7
        (7, True)
    """
    if env.rank == 0:
        return seed
    return (seed ^ (env.rank * 0x9E3779B97F4A7C15)) % (2**63)


def sum_over_ranks(env: DistEnv, *values: float) -> tuple[float, ...]:
    """Each of ``values`` summed over the processes (unchanged for a single process)."""
    if not env.distributed:
        return tuple(float(v) for v in values)
    parts: list[Any] = [None] * env.world_size
    dist.all_gather_object(parts, [float(v) for v in values])
    return tuple(float(sum(p[k] for p in parts)) for k in range(len(values)))


def wrap(module: nn.Module, env: DistEnv, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel for training (itself for a single process).

    Build it after freezing: DDP synchronises the gradients of the parameters that
    require them when it is made. BatchNorm layers keep per-process batch statistics.
    """
    if not env.distributed:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (for evaluation: no collectives per batch)."""
    inner = module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
    assert isinstance(inner, nn.Module)
    return inner
