"""What training and evaluation of a run share: device, model, data, transforms, loaders.

:func:`build_context` turns a :class:`~skinbench.config.TrainConfig` into a
:class:`RunContext`. :func:`skinbench.train.setup_run` and
:func:`skinbench.evaluate.evaluate_run` both start from it, so a run is evaluated on
the same split, images, normalisation, device rule and loader settings it was trained with.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, Subset, WeightedRandomSampler

from skinbench.config import TrainConfig, check_device
from skinbench.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LesionDataset,
    SplitData,
    channel_stats,
    load_split_data,
    make_transform,
    task_classes,
    task_outputs,
)
from skinbench.data.augment import BatchAugment
from skinbench.data.batching import MergedLastBatchSampler
from skinbench.data.dataset import uint8_transform
from skinbench.data.pipeline import BatchPipeline
from skinbench.distributed import DistEnv, in_turn, local_device
from skinbench.engine import predict
from skinbench.errors import ConfigError
from skinbench.models import build_model, is_transfer
from skinbench.recipes import AUGMENTATIONS
from skinbench.rundir import RunDir
from skinbench.sharding import ShardedBatchSampler, gather_rows, shard

__all__ = ["Item", "RunContext", "build_context", "normalisation", "resolve_device"]

#: A dataset item: an input tensor (an image, or a cached feature vector) and its label.
Item = tuple[torch.Tensor, ...]


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; otherwise ``torch.device(name)``.

    Raises:
        ConfigError: An unknown device name, or CUDA asked for but not available.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but CUDA is not available")
    return torch.device(name)


def normalisation(config: TrainConfig, train: SplitData) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of eq. 1: ImageNet's for a pretrained backbone, else the train split's."""
    if is_transfer(config.model) and config.pretrained:
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    mean, std = channel_stats(train.images)
    return list(mean), list(std)


@dataclass
class RunContext:
    """A run's configuration, folder, device, model and data, ready to train or evaluate.

    Attributes:
        config: The configuration, with ``mean`` and ``std`` resolved.
        run: The run folder.
        device: Where the model and batches live.
        model: The model, on ``device`` (channels_last on CUDA when configured).
        splits: The train/val/test images and labels.
        dist: This process's place in a torchrun job (rank 0 of 1 for a single process).
    """

    config: TrainConfig
    run: RunDir
    device: torch.device
    model: nn.Module
    splits: dict[str, SplitData]
    dist: DistEnv = field(default_factory=DistEnv)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names of the task, in label order."""
        return task_classes(self.config.task)

    @property
    def amp(self) -> bool:
        """float16 autocast: configured and on CUDA."""
        return self.config.amp and self.device.type == "cuda"

    @property
    def channels_last(self) -> bool:
        """channels_last memory format: configured and on CUDA."""
        return self.config.channels_last and self.device.type == "cuda"

    def dataset(self, split: str, *, augment: bool = False) -> LesionDataset:
        """Images and labels of ``split``, normalised (evaluation), or for training if ``augment``.

        Training images are uint8 tensors that :meth:`batch_pipeline` converts, augments
        and normalises per batch; with ``config.augment == "legacy"`` they are flipped,
        rotated and normalised here, image by image, as before recipes.
        """
        mean, std = self.config.mean, self.config.std
        assert mean is not None and std is not None  # resolved by build_context
        data = self.splits[split]
        if augment and self.config.augment != "legacy":
            return LesionDataset(data.images, data.labels, uint8_transform())
        return LesionDataset(data.images, data.labels, make_transform(augment, mean, std))

    def batch_pipeline(self, seed: int) -> BatchPipeline | None:
        """The per-batch conversion, augmentation and normalisation of training images; None for ``legacy``."""
        if self.config.augment == "legacy":
            return None
        assert self.config.mean is not None and self.config.std is not None
        settings = AUGMENTATIONS[self.config.augment]
        augment = BatchAugment(**settings) if settings else None
        return BatchPipeline(augment, self.config.mean, self.config.std, torch.Generator().manual_seed(seed))

    def loader(
        self, dataset: Dataset[Item], *, shuffle: bool = False, seed: int = 0, weights: torch.Tensor | None = None
    ) -> DataLoader[Item]:
        """Batches of ``dataset``; a shuffled order depends only on ``seed``.

        ``shuffle`` makes a training loader: a random order (drawn with replacement with
        probabilities proportional to ``weights`` when given: class-balanced sampling),
        and a last batch of one image joins the batch before it (see
        :mod:`skinbench.data.batching`). Under torchrun each process gets its share of
        every global batch (:class:`~skinbench.sharding.ShardedBatchSampler`).
        """
        generator = torch.Generator().manual_seed(seed)
        common: dict[str, Any] = {
            "generator": generator,
            "num_workers": self.config.num_workers,
            "pin_memory": self.device.type == "cuda",
        }
        if not shuffle:
            return DataLoader(dataset, batch_size=self.config.batch_size, **common)
        # the generator draws the workers' base seed, then the order: as DataLoader(shuffle=True) does
        order: Sampler[int] = RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
        if weights is not None:
            order = WeightedRandomSampler(weights.tolist(), len(weights), replacement=True, generator=generator)
        batches: MergedLastBatchSampler | ShardedBatchSampler = MergedLastBatchSampler(order, self.config.batch_size)
        if self.dist.distributed:
            batches = ShardedBatchSampler(order, self.config.batch_size, self.dist)
        return DataLoader(dataset, batch_sampler=batches, **common)

    def predict(
        self,
        model: nn.Module,
        dataset: Dataset[Item],
        *,
        criterion: nn.Module | None = None,
        desc: str = "eval",
        tta: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """:func:`skinbench.engine.predict` of ``model`` over all of ``dataset``, in dataset order.

        ``tta`` averages the probabilities over the 4 flips of each image.

        Under torchrun each process predicts its :func:`~skinbench.sharding.shard`
        and every process gets all rows, each image exactly once; the loss is the mean
        over the whole dataset.
        """
        part = shard(len(dataset), self.dist)  # type: ignore[arg-type]
        data = Subset(dataset, part) if self.dist.distributed else dataset
        kw: dict[str, Any] = {"amp": self.amp, "channels_last": self.channels_last, "progress": self.config.progress}
        kw["tta"] = tta
        y, probs, loss = predict(model, self.loader(data), self.device, criterion=criterion, desc=desc, **kw)
        if not self.dist.distributed:
            return y, probs, loss
        y, probs, losses = gather_rows(self.dist, part, y, probs, np.full(len(y), loss))
        return y, probs, float(np.mean(losses))


def build_context(config: TrainConfig, run: RunDir, *, pretrained: bool, dist: DistEnv | None = None) -> RunContext:
    """Resolve the device, build the model, load the split data and the normalisation of a run.

    The model is built right after ``torch.manual_seed(config.seed)``, so its initial
    weights depend only on the seed. The split is read from ``run.split_path``, or made
    and written there when missing. ``mean``/``std`` missing from ``config`` are resolved
    (see :func:`normalisation`).

    Args:
        config: The run configuration.
        run: The run folder.
        pretrained: Load ImageNet weights into a transfer model's backbone (training);
            evaluation loads a checkpoint instead.
        dist: The torchrun job (training under torchrun): the model goes to this process's
            GPU, and rank 0 makes the split file and the image cache before the others read them.

    Raises:
        ConfigError: CUDA asked for but unavailable.
        skinbench.errors.ModelError: Unknown model, or ImageNet weights unavailable.
        skinbench.errors.DataError: Missing or invalid data.
    """
    dist = dist or DistEnv()
    device = local_device(resolve_device(config.device), dist)
    torch.manual_seed(config.seed)
    model = build_model(config.model, task_outputs(config.task), pretrained=pretrained, image_size=config.image_size)
    with in_turn(dist):  # rank 0 makes split.csv and the image cache, the other processes read them
        splits = load_split_data(
            config.data,
            run.split_path,
            task=config.task,
            image_size=config.image_size,
            fractions=config.fractions,
            seed=config.seed,
            cache_dir=config.cache_dir,
            skip=config.skip,
            split_file=config.split_file,
            progress=config.progress,
        )
    if config.mean is None or config.std is None:
        mean, std = normalisation(config, splits["train"])
        config = dataclasses.replace(config, mean=mean, std=std)
    model.to(device)
    if config.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return RunContext(config=config, run=run, device=device, model=model, splits=splits, dist=dist)
