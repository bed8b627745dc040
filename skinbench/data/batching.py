"""Training batches that never hold a single image.

BatchNorm in training mode needs more than one value per channel: a batch of one image
whose feature map is 1x1 (MobileNet, ResNet at small sizes) raises ``Expected more
than 1 value per channel when training``. When a split's size is one more than a
multiple of the batch size (7010 = 163 x 43 + 1 for HAM10000's train split at batch 43)
the last batch of every epoch would be such a batch.

Rule: **when the last batch of an epoch would hold exactly one image, that image joins
the batch before it** (which then holds ``batch_size + 1``). Every image is used in
every epoch, the order is unchanged (the same sampler, the same random generator), and
only the size of the last batch differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from torch.utils.data import Sampler

__all__ = ["MergedLastBatchSampler"]


class MergedLastBatchSampler(Sampler[list[int]]):
    """Batches of ``batch_size`` indices from ``sampler``; a last batch of one joins the one before.

    Args:
        sampler: Yields dataset indices (a ``RandomSampler``, a ``SequentialSampler``, a
            distributed sampler's shard, ...).
        batch_size: Images per batch.

    Example:
        >>> list(MergedLastBatchSampler(range(7), 3))
        [[0, 1, 2], [3, 4, 5, 6]]
        >>> list(MergedLastBatchSampler(range(8), 3)), len(MergedLastBatchSampler(range(7), 3))
        ([[0, 1, 2], [3, 4, 5], [6, 7]], 2)
        >>> list(MergedLastBatchSampler(range(1), 3))   # a split of one image stays one batch
        [[0]]
    """

    def __init__(self, sampler: Iterable[int], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.sampler = sampler
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        pending: list[int] | None = None
        for index in self.sampler:
            batch.append(int(index))
            if len(batch) == self.batch_size:
                if pending is not None:
                    yield pending
                pending, batch = batch, []
        if len(batch) == 1 and pending is not None:
            yield pending + batch
        else:
            if pending is not None:
                yield pending
            if batch:
                yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        full, rest = divmod(n, self.batch_size)
        return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)
