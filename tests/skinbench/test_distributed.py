"""Training on several processes (torchrun, torch.distributed): the rules in isolation, then real jobs.

The unit tests check the pieces without processes: the torchrun environment, the
backend choice, the global batch, the sharded training batches and their loss weights,
the evaluation shards and the gathering of their rows. The slow tests launch
``python -m torch.distributed.run --nproc-per-node 2`` on the synthetic data (Gloo on
the CPU, one thread per process):

* ``tests/skinbench/torchrun_entry.py`` runs custom_cnn and a transfer model with the
  phase-1 feature cache (head phase on cached features, then a fine-tuning epoch), and
  resumes on 2 processes a run a single process started. It records which process
  wrote which file and, with ``SKINBENCH_TEST_NO_RANDOM=1``, switches off dropout and
  augmentation, the randomness each process draws on its own: the runs must then equal
  single-process runs with the same global batch and seed, up to the order of float sums.
* ``python -m skinbench train`` (the real module torchrun runs) with rank 1 killed by
  SIGKILL mid-epoch: the job stops, and ``--resume`` on one process finishes the run.

Tolerance of the equality, and why not exact: DDP sums each process's gradient and
averages them, a single process sums over the whole batch; float addition is not
associative, so gradients differ in the last bits, and Adam (which divides by the root
of the squared-gradient average) can turn a difference in the last bits of a
near-zero gradient into a step of up to ``lr``. So each weight tensor must agree to
``RELATIVE_TOLERANCE`` in norm, every single weight to ``ABSOLUTE_TOLERANCE`` (half a
step at lr 1e-3), the loss columns of ``history.csv`` to 1e-5 and the accuracy columns
(counts) exactly. Measured: 2e-6 relative, 2e-5 absolute after 3 epochs. BatchNorm
layers in training mode use each process's own batch statistics (no SyncBatchNorm on
CPU), so a phase that trains BatchNorm (fine-tuning a transfer model) is only checked to
run, not to match.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skinbench.data.batching import MergedLastBatchSampler
from skinbench.distributed import DistEnv, check_batch, rank_seed, resolve_backend
from skinbench.errors import ConfigError
from skinbench.sharding import ShardedBatchSampler, gather_rows, shard

RELATIVE_TOLERANCE = 1e-4
ABSOLUTE_TOLERANCE = 5e-4
ENTRY = Path(__file__).with_name("torchrun_entry.py")
ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------- units
def test_environment_of_a_single_process_and_of_torchrun() -> None:
    assert DistEnv.from_environ({}) == DistEnv(0, 0, 1)
    assert not DistEnv.from_environ({"RANK": "0", "WORLD_SIZE": "1"}).distributed  # torchrun with one process
    env = DistEnv.from_environ({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (env.rank, env.local_rank, env.world_size, env.distributed, env.is_main) == (3, 1, 4, True, False)
    with pytest.raises(ConfigError, match="integers"):
        DistEnv.from_environ({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="RANK=2, WORLD_SIZE=2"):
        DistEnv.from_environ({"RANK": "2", "WORLD_SIZE": "2"})


def test_backend_is_nccl_on_cuda_and_gloo_elsewhere() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert (resolve_backend("auto", cpu), resolve_backend("auto", cuda)) == ("gloo", "nccl")
    assert resolve_backend("gloo", cuda) == "gloo"
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        resolve_backend("nccl", cpu)
    with pytest.raises(ConfigError, match="unknown dist_backend"):
        resolve_backend("mpi", cpu)


def test_batch_size_is_the_global_batch() -> None:
    assert check_batch(32, DistEnv(world_size=1), needs_two=True) == 32
    assert check_batch(32, DistEnv(world_size=4), needs_two=True) == 8
    with pytest.raises(ConfigError, match="multiple of the 3 processes"):
        check_batch(32, DistEnv(world_size=3), needs_two=False)
    assert check_batch(4, DistEnv(world_size=4), needs_two=False) == 1  # no BatchNorm: one image per process is fine
    with pytest.raises(ConfigError, match="BatchNorm needs at least 2"):
        check_batch(4, DistEnv(world_size=4), needs_two=True)


def test_rank_0_keeps_the_seed_and_the_others_get_distinct_ones() -> None:
    seeds = [rank_seed(11, DistEnv(rank=r, world_size=4)) for r in range(4)]
    assert seeds[0] == 11 and len(set(seeds)) == 4 and all(0 <= s < 2**63 for s in seeds)


def _epoch(n: int, batch: int, world: int) -> list[list[list[int]]]:
    """Per rank, its batches of one epoch over ``range(n)``."""
    return [list(ShardedBatchSampler(range(n), batch, DistEnv(rank=r, world_size=world))) for r in range(world)]


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 90), per_rank=st.integers(1, 6), world=st.integers(1, 4), weighted=st.booleans())
def test_sharded_batches_cover_each_image_once_in_global_batches(
    n: int, per_rank: int, world: int, weighted: bool
) -> None:
    batch = per_rank * world
    if n < 2 * world and world > 1:
        with pytest.raises(ConfigError, match="too few"):
            _epoch(n, batch, world)
        return
    weights = np.random.default_rng(n).uniform(0.5, 3.0, n) if weighted else None  # class weights of the labels
    samplers = [ShardedBatchSampler(range(n), batch, DistEnv(r, r, world), weights=weights) for r in range(world)]
    ranks = [list(s) for s in samplers]
    assert len({len(r) for r in ranks}) == 1  # same number of steps everywhere: DDP's collectives pair up
    steps = [list(itertools.chain.from_iterable(r[i] for r in ranks)) for i in range(len(ranks[0]))]
    assert sorted(itertools.chain.from_iterable(steps)) == list(range(n))  # every image once
    assert all(step == sorted(step) for step in steps)  # rank r's share is the r-th contiguous part
    if world > 1:  # a short last batch still gives every process 2 images
        assert all(len(r[i]) >= 2 for r in ranks for i in range(len(r)) if len(steps[i]) < batch)
    single = list(MergedLastBatchSampler(range(n), batch))
    if n % batch == 0 or n % batch >= 2 * world or n < batch:
        assert steps == single  # same global batches as one process
    if world == 1:
        assert steps == single  # the single-process rule, exactly
    w = np.ones(n) if weights is None else weights
    for sampler, batches in zip(samplers, ranks):
        assert len(sampler.loss_scales()) == len(batches)
        for share, step, scale in zip(batches, steps, sampler.loss_scales()):
            # DDP averages the processes' gradients of (scale x weighted mean over the share): every image
            # then weighs w_i / (sum of w over the global batch), as in one process's weighted mean
            assert scale / (world * w[share].sum()) == pytest.approx(1 / w[step].sum())


def test_evaluation_shards_are_contiguous_unpadded_and_disjoint() -> None:
    for n in (0, 1, 5, 13, 100):
        for world in (1, 2, 3, 8):
            parts = [list(shard(n, DistEnv(rank=r, world_size=world))) for r in range(world)]
            assert list(itertools.chain.from_iterable(parts)) == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def _fake_gather(monkeypatch: pytest.MonkeyPatch, others: list[Any]) -> None:
    """all_gather_object as if the other ranks had sent ``others`` (rank 0 is this process)."""

    def all_gather_object(parts: list[Any], mine: Any) -> None:
        parts[:] = [mine, *others]

    monkeypatch.setattr("skinbench.sharding.dist.all_gather_object", all_gather_object)


def test_gathered_rows_come_back_in_dataset_order_each_once(monkeypatch: pytest.MonkeyPatch) -> None:
    env = DistEnv(rank=0, world_size=2)
    labels, probs = np.arange(5) * 10, np.arange(10.0).reshape(5, 2)
    feats = torch.arange(15.0).reshape(5, 3)
    mine, theirs = shard(5, env), shard(5, DistEnv(rank=1, world_size=2))
    _fake_gather(
        monkeypatch, [(np.asarray(theirs), (labels[theirs.start :], probs[theirs.start :], feats[theirs.start :]))]
    )
    y, p, f = gather_rows(env, mine, labels[: mine.stop], probs[: mine.stop], feats[: mine.stop])
    assert y.tolist() == labels.tolist() and np.array_equal(p, probs) and torch.equal(f, feats)
    _fake_gather(monkeypatch, [(np.asarray([1, 2]), (labels[1:3],))])  # index 1 twice, 3 and 4 missing
    with pytest.raises(RuntimeError, match="exactly once"):
        gather_rows(env, [0, 1], labels[:2])
    assert gather_rows(DistEnv(), range(3), labels[:3])[0] is not None  # one process: unchanged
