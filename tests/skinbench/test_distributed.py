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
(counts) exactly. Measured here: 3e-6 relative and 3e-6 absolute after 3 epochs of
custom_cnn. Some trajectories are far more sensitive to the order of sums: with label
smoothing on a class-weighted loss and a warm-up epoch, one process on 1 thread and on
2 threads already differ by 6e-3 after 3 epochs (and 2 processes by the same), so the
weighted run here has no smoothing; the per-step arithmetic is the property test's. The
reported losses of a class-weighted loss are means of per-batch weighted means and
depend on the batching, so only its weights and counts are compared. BatchNorm
layers in training mode use each process's own batch statistics (no SyncBatchNorm on
CPU), so a phase that trains BatchNorm (fine-tuning a transfer model) is only checked to
run, not to match.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
from hypothesis import given, settings
from hypothesis import strategies as st

from skinbench.data.batching import MergedLastBatchSampler
from skinbench.distributed import TIMEOUT_ENV, DistEnv, check_batch, rank_seed, resolve_backend
from skinbench.errors import ConfigError
from skinbench.sharding import KILL_ENV, ShardedBatchSampler, gather_rows, shard

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


# ---------------------------------------------------------------------------------------- single process
def test_a_plain_run_never_initialises_torch_distributed(synthetic_root: Path, tmp_path: Path) -> None:
    seen: list[bool] = []
    argv = ["train", "--data", str(synthetic_root), "--model", "custom_cnn", "--out", str(tmp_path / "run")]
    _train(argv + FAST + ["--epochs", "1"], on_epoch_end=lambda row: seen.append(dist.is_initialized()))
    assert seen == [False] and not dist.is_initialized()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["world_size"] == 1


# ---------------------------------------------------------------------------------------- torchrun jobs
#: Small and quick: 16 px, one thread per process, no progress bars.
FAST = ["--image-size", "16", "--batch-size", "16", "--threads", "1", "--no-progress", "--num-workers", "0"]
#: What each process would otherwise draw on its own (besides dropout, off in torchrun_entry.py).
DETERMINISTIC = ["--augment", "none", "--class-balance", "none"]


def _train(argv: list[str], **kwargs: Any) -> dict[str, Any]:
    """``skinbench train ARGV`` in this process, through the CLI's own parsing."""
    from skinbench.cli import build_parser
    from skinbench.cli_train import train_config
    from skinbench.train import main

    return main(train_config(build_parser().parse_args(argv)), **kwargs)


def _torchrun(args: list[str], *, nproc: int = 2, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600, check=False)


def _no_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``SKINBENCH_TEST_NO_RANDOM=1`` does in torchrun_entry.py, for this process's reference runs."""
    import skinbench.context as context

    make = context.make_transform
    monkeypatch.setattr(torch.nn.Dropout, "forward", lambda self, x: x)
    monkeypatch.setattr(context, "make_transform", lambda train, mean, std, **kw: make(False, mean, std, **kw))


def _assert_close_weights(a: Path, b: Path) -> None:
    sa, sb = torch.load(a, weights_only=True)["model"], torch.load(b, weights_only=True)["model"]
    assert sa.keys() == sb.keys()
    for key, value in sa.items():
        if not value.is_floating_point():
            assert torch.equal(value, sb[key]), key
            continue
        diff = (value - sb[key]).double()
        assert float(diff.abs().max()) <= ABSOLUTE_TOLERANCE, key
        assert float(diff.norm()) <= RELATIVE_TOLERANCE * max(float(sb[key].double().norm()), 1e-12), key


def _assert_same_history(a: Path, b: Path, rows: slice = slice(None), *, losses: bool = True) -> None:
    """Same epochs, phases, learning rates and accuracies (counts: exact), and losses to 1e-5.

    ``losses=False`` for a class-weighted loss: its reported value is the mean of each
    batch's weighted mean, which depends on how the images are batched (the gradient
    does not: it is the weighted mean over the global batch either way).
    """
    ha, hb = pd.read_csv(a / "history.csv")[rows], pd.read_csv(b / "history.csv")[rows]
    for column in ("epoch", "phase", "train_acc", "val_acc", "val_balanced_acc", "lr"):
        assert ha[column].tolist() == hb[column].tolist(), column
    for column in ("train_loss", "val_loss") if losses else ():
        assert np.allclose(ha[column], hb[column], rtol=1e-5, atol=1e-6), column


def _two_process_runs(synthetic_root: Path, tmp: Path) -> dict[str, Any]:
    """One torchrun start, 2 processes: custom_cnn, a class-weighted custom_cnn, resnet18 with the
    feature cache (head phase, then fine-tuning), and the resume of a run a single process started."""
    data = ["--data", str(synthetic_root)]
    weighted = ["--augment", "none", "--class-balance", "loss", "--label-smoothing", "0"]
    tl = ["--model", "resnet18", "--no-pretrained", "--force-frozen-random", "--head-epochs", "2", "--epochs", "1"]
    argv = {
        "cnn": ["train", *data, "--model", "custom_cnn", *FAST, *DETERMINISTIC, "--epochs", "3"],
        "weighted": ["train", *data, "--model", "custom_cnn", *FAST, *weighted, "--epochs", "2"],
        "tl": ["train", *data, *tl, *FAST, *DETERMINISTIC],
    }
    argv["resumed"] = argv["cnn"]
    commands: list[str] = []
    for name, args in argv.items():
        commands += [*args, "--out", str(tmp / "ddp" / name), *(["--resume"] if name == "resumed" else []), "::"]
    with pytest.MonkeyPatch.context() as mp:  # the single-process runs, in this process
        _no_random(mp)
        for name, args in argv.items():
            if name != "resumed":
                _train([*args, "--out", str(tmp / "one" / name)])

        def stop(row: dict[str, Any]) -> None:
            raise KeyboardInterrupt  # a kill after epoch 1, on one process

        with pytest.raises(KeyboardInterrupt):
            _train([*argv["resumed"], "--out", str(tmp / "ddp" / "resumed")], on_epoch_end=stop)
    cache = tmp / "cache"  # a fresh image cache: rank 0 must fill it, rank 1 only read it
    env = {"SKINBENCH_TEST_NO_RANDOM": "1", "SKINBENCH_CACHE": str(cache)}
    result = _torchrun([str(ENTRY), str(tmp / "audit"), *commands[:-1]], env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"tmp": tmp, "audit": tmp / "audit", "cache": cache, "log": result.stdout}


def _check_both_processes_ran_and_only_rank_0_wrote(two_process_runs: dict[str, Any]) -> None:
    tmp, audit = two_process_runs["tmp"], two_process_runs["audit"]
    for rank in (0, 1):
        done = (audit / f"done-rank{rank}.txt").read_text().splitlines()
        assert [line.split()[0] for line in done] == ["0"] * 4, done
    assert not (audit / "writes-rank1.txt").exists()  # not a checkpoint, not the split, not the image cache
    written = {Path(p) for p in (audit / "writes-rank0.txt").read_text().split()}
    assert [p.parent for p in written if p.suffix == ".npy"] == [two_process_runs["cache"]]  # decoded once, by rank 0
    for name in ("cnn", "weighted", "tl"):
        run = tmp / "ddp" / name
        assert {run / f for f in ("config.json", "split.csv", "history.csv", "last.pt", "metrics.json")} <= written
        config = json.loads((run / "config.json").read_text())
        assert (config["world_size"], config["batch_size"], config["per_rank_batch_size"]) == (2, 16, 8)
    assert two_process_runs["log"].count("test accuracy") == 4  # the summary: rank 0 prints, rank 1 does not


def _check_test_metrics_count_every_test_image_once(two_process_runs: dict[str, Any]) -> None:
    for name in ("cnn", "weighted", "tl"):
        ddp, one = two_process_runs["tmp"] / "ddp" / name, two_process_runs["tmp"] / "one" / name
        split = pd.read_csv(ddp / "split.csv")
        test_ids = split.loc[split["split"] == "test", "image_id"].tolist()
        predictions = pd.read_csv(ddp / "predictions.csv")
        assert predictions["image_id"].tolist() == test_ids  # dataset order, each image once, no padding
        metrics = json.loads((ddp / "metrics.json").read_text())
        assert metrics["n"] == len(test_ids) == int(np.sum(metrics["confusion_matrix"]))
        reference = pd.read_csv(one / "predictions.csv")
        probs = [c for c in reference.columns if c.startswith("prob_")]
        assert np.allclose(predictions[probs], reference[probs], atol=1e-4), name


def _check_the_weights_of_one_process_with_the_same_global_batch(two_process_runs: dict[str, Any]) -> None:
    tmp = two_process_runs["tmp"]
    for name in ("cnn", "weighted"):
        _assert_close_weights(tmp / "ddp" / name / "last.pt", tmp / "one" / name / "last.pt")
        _assert_same_history(tmp / "ddp" / name, tmp / "one" / name, losses=name != "weighted")
    # resnet18: the head phase trains on cached features (each process extracts its shard, all get
    # every row) and matches; the fine-tuning epoch trains BatchNorm on per-process batch statistics
    _assert_same_history(tmp / "ddp" / "tl", tmp / "one" / "tl", rows=slice(0, 2))
    history = pd.read_csv(tmp / "ddp" / "tl" / "history.csv")
    assert history["phase"].tolist() == ["head", "head", "finetune"]
    timings = json.loads((tmp / "ddp" / "tl" / "metrics.json").read_text())["timings"]
    assert timings["features_train_seconds"] > 0


def _check_a_run_started_on_one_process_resumes_on_two(two_process_runs: dict[str, Any]) -> None:
    tmp = two_process_runs["tmp"]
    resumed = tmp / "ddp" / "resumed"
    assert pd.read_csv(resumed / "history.csv")["epoch"].tolist() == [1, 2, 3]  # none lost, none repeated
    _assert_close_weights(resumed / "last.pt", tmp / "one" / "cnn" / "last.pt")
    _assert_same_history(resumed, tmp / "one" / "cnn")
    assert json.loads((resumed / "config.json").read_text())["world_size"] == 2


def _split_and_steps(data: Path, out: Path, batch: int) -> tuple[Path, int]:
    """A split file for the run and its training steps per epoch (so a test can stop it mid-epoch)."""
    from skinbench.cli import main

    assert main(["split", "--data", str(data), "--out", str(out)]) == 0
    n_train = int((pd.read_csv(out)["split"] == "train").sum())
    return out, len(ShardedBatchSampler(range(n_train), batch, DistEnv(world_size=2)))


@pytest.mark.slow
def test_a_killed_process_stops_the_job_and_one_process_resumes_it(synthetic_root: Path, tmp_path: Path) -> None:
    split, steps = _split_and_steps(synthetic_root, tmp_path / "split.csv", 16)
    run = tmp_path / "run"
    argv = ["train", "--data", str(synthetic_root), "--model", "custom_cnn", "--out", str(run), *FAST]
    argv += ["--epochs", "3", "--split", str(split)]
    # rank 1 kills itself (SIGKILL, as the kernel or a scheduler would) at its 3rd step of epoch 2
    result = _torchrun(["-m", "skinbench", *argv], env={KILL_ENV: f"1:{steps + 3}"})
    assert result.returncode != 0
    assert "rank      : 1" in result.stderr and "Signal 9 (SIGKILL)" in result.stderr  # torchrun names the cause
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [1] and not (run / "metrics.json").exists()
    metrics = _train([*argv, "--resume"])
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3] and metrics["n"] == len(pd.read_csv(run / "predictions.csv"))
    assert json.loads((run / "config.json").read_text())["world_size"] == 1


@pytest.mark.slow
def test_a_hanging_process_makes_the_others_time_out(synthetic_root: Path, tmp_path: Path) -> None:
    argv = ["train", "--data", str(synthetic_root), "--model", "custom_cnn", "--out", str(tmp_path / "run"), *FAST]
    result = _torchrun(["-m", "skinbench", *argv, "--epochs", "2"], env={KILL_ENV: "1:2:hang", TIMEOUT_ENV: "5"})
    assert result.returncode != 0
    assert "Timed out" in result.stderr  # rank 0's collective gave up after 5 s; torchrun then stopped rank 1


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL needs 2 CUDA devices (one per process)")
def test_nccl_on_two_gpus(synthetic_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["train", "--data", str(synthetic_root), "--model", "custom_cnn", "--out", str(run), *FAST]
    result = _torchrun(["-m", "skinbench", *argv, "--epochs", "1", "--device", "cuda", "--dist-backend", "nccl"])
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert (config["world_size"], config["dist_backend"]) == (2, "nccl")


@pytest.mark.slow
def test_two_processes_on_torchrun(synthetic_root: Path, tmp_path: Path) -> None:
    """One torchrun start (several runs in it); each check below is one property of it."""
    runs = _two_process_runs(synthetic_root, tmp_path)
    _check_both_processes_ran_and_only_rank_0_wrote(runs)
    _check_test_metrics_count_every_test_image_once(runs)
    _check_the_weights_of_one_process_with_the_same_global_batch(runs)
    _check_a_run_started_on_one_process_resumes_on_two(runs)
