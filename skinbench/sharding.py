"""How a torchrun job divides the data: training batches, evaluation shards, gathering.

The rules are described in :mod:`skinbench.distributed`. With a single process
(``DistEnv()``) everything here is the identity: :func:`shard` is the whole split,
:func:`gather_rows` returns its input.

Test hook: ``SKINBENCH_TEST_KILL_AT=RANK:STEP`` makes process RANK kill itself with
SIGKILL when it draws its STEP-th training batch (counted from the process's start), as
a crashed or killed machine would; ``RANK:STEP:hang`` makes it hang there instead, so
the others' next collective times out. The tests of :mod:`skinbench.distributed` use it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from skinbench.distributed import DistEnv
from skinbench.errors import ConfigError

__all__ = ["KILL_ENV", "ShardedBatchSampler", "gather_rows", "loss_weights", "shard"]

#: Test hook, ``RANK:STEP[:hang]``: that rank SIGKILLs itself (or hangs) when it draws its STEP-th training batch.
KILL_ENV = "SKINBENCH_TEST_KILL_AT"


def shard(n: int, env: DistEnv) -> range:
    """Indices ``0 .. n-1`` this process evaluates: a contiguous share, unpadded, sizes differing by at most 1.

    Example:
        >>> [list(shard(5, DistEnv(rank=r, world_size=2))) for r in (0, 1)]
        [[0, 1], [2, 3, 4]]
    """
    return range(env.rank * n // env.world_size, (env.rank + 1) * n // env.world_size)


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts)
    return np.concatenate(parts)


def gather_rows(env: DistEnv, index: Iterable[int], *columns: Any) -> tuple[Any, ...]:
    """Every process's rows, on every process, in dataset order.

    Args:
        env: This process's place in the job.
        index: Dataset index of each of this process's rows.
        columns: Arrays or tensors with one row per index (labels, probabilities, features).

    Returns:
        ``columns`` of the whole dataset, row i holding index i (unchanged for a single process).

    Raises:
        RuntimeError: The indices of all processes together are not ``0 .. n-1`` each exactly once.
    """
    if not env.distributed:
        return columns
    parts: list[Any] = [None] * env.world_size
    dist.all_gather_object(parts, (np.asarray(list(index), dtype=np.int64), columns))
    idx = np.concatenate([p[0] for p in parts])
    order = np.argsort(idx, kind="stable")
    if not np.array_equal(idx[order], np.arange(len(idx))):
        raise RuntimeError(f"gathered {len(idx)} rows that do not cover 0..{len(idx) - 1} exactly once")
    out = []
    for k in range(len(columns)):
        whole = _concat([p[1][k] for p in parts])
        out.append(whole[torch.from_numpy(order)] if isinstance(whole, torch.Tensor) else whole[order])
    return tuple(out)


def _global_batches(order: list[int], batch_size: int, world: int) -> list[list[int]]:
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < min(batch_size, 2 * world):  # a short last batch
        last = batches.pop()
        batches[-1] = batches[-1] + last
    return batches


class ShardedBatchSampler(Sampler[list[int]]):
    """This process's share of each global training batch (see the module docstring).

    Args:
        sampler: The epoch's shuffled order, the same on every process.
        batch_size: The global batch.
        env: This process's place in the job.
        weights: Per dataset index, the image's weight in a weighted-mean loss (the class
            weight of its label, :func:`loss_weights`); None: every image counts once.

    Example:
        >>> shares = [ShardedBatchSampler(range(13), 4, DistEnv(rank=r, world_size=2)) for r in (0, 1)]
        >>> [list(s) for s in shares], shares[1].loss_scales()
        ([[[0, 1], [4, 5], [8, 9]], [[2, 3], [6, 7], [10, 11, 12]]], [1.0, 1.0, 1.2])
    """

    def __init__(
        self, sampler: Iterable[int], batch_size: int, env: DistEnv, *, weights: np.ndarray | None = None
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        n = len(sampler)  # type: ignore[arg-type]
        if env.distributed and n < 2 * env.world_size:
            raise ConfigError(f"{n} training images are too few for {env.world_size} processes (2 each at least)")
        self.sampler = sampler
        self.batch_size = batch_size
        self.env = env
        self.weights = weights
        self._scales: list[float] = []

    def __iter__(self) -> Iterator[list[int]]:
        self._scales.clear()
        world, rank = self.env.world_size, self.env.rank
        for batch in _global_batches([int(i) for i in self.sampler], self.batch_size, world):
            _fault_point(self.env)
            share = batch[rank * len(batch) // world : (rank + 1) * len(batch) // world]
            if self.weights is None:
                self._scales.append(len(share) * world / len(batch))
            else:
                self._scales.append(float(self.weights[share].sum() * world / self.weights[batch].sum()))
            yield share

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return len(_global_batches(list(range(n)), self.batch_size, self.env.world_size))

    def loss_scales(self) -> list[float]:
        """Per step drawn so far, ``share weight x world size / global batch weight`` (1 for equal shares).

        The weight of a share is its number of images, or the sum of their ``weights``.
        DDP averages the processes' gradients; multiplying each share's (weighted) mean
        loss by this makes that average the gradient of the (weighted) mean loss over the
        global batch. The list is filled as batches are drawn (before the step uses it)
        and emptied when a new epoch starts.
        """
        return self._scales


def loss_weights(criterion: torch.nn.Module, labels: np.ndarray) -> np.ndarray | None:
    """Per image, its weight in ``criterion``'s weighted mean: ``criterion.weight[label]``; None if unweighted.

    ``nn.CrossEntropyLoss(weight=...)`` and :class:`skinbench.losses.OneVsRestBCE` divide
    the batch's summed loss by the summed weights of its labels; a loss without a
    ``weight`` tensor averages over the images.

    Example:
        >>> loss_weights(torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0])), np.array([1, 0, 1])).tolist()
        [3.0, 1.0, 3.0]
        >>> loss_weights(torch.nn.CrossEntropyLoss(), np.array([1, 0])) is None
        True
    """
    weight = getattr(criterion, "weight", None)
    if not isinstance(weight, torch.Tensor):
        return None
    out: np.ndarray = weight.detach().cpu().double().numpy()[np.asarray(labels, dtype=np.int64)]
    return out


_drawn = 0


def _fault_point(env: DistEnv) -> None:
    """The test hook of :data:`KILL_ENV`: SIGKILL (or hang in) this process at its chosen training batch."""
    global _drawn
    _drawn += 1
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    rank, step, *action = spec.split(":")
    if int(rank) == env.rank and int(step) == _drawn:
        if action == ["hang"]:
            while True:
                time.sleep(60)
        os.kill(os.getpid(), signal.SIGKILL)
