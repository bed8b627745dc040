"""Shared skinbench fixtures: the real HAM10000 copy and a small synthetic one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC_N = 280


@pytest.fixture(scope="session", autouse=True)
def _isolated_image_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point the default image cache at a temp folder, never the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKINBENCH_CACHE", str(tmp_path_factory.mktemp("skinbench_cache")))
        yield


@pytest.fixture(scope="session")
def ham10000_root() -> Path:
    """The real HAM10000 folder: $SKINBENCH_DATA, default ../shared/data/ham10000."""
    root = Path(os.environ.get("SKINBENCH_DATA") or REPO_ROOT.parent / "shared" / "data" / "ham10000")
    if not (root / "HAM10000_metadata.csv").is_file():
        pytest.skip(f"real HAM10000 data not found at {root} (set SKINBENCH_DATA to its folder)")
    return root


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic HAM10000-layout dataset of SYNTHETIC_N 200x150 images, written once."""
    from skinbench.data.synthetic import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("synthetic") / "ham10000", n=SYNTHETIC_N, seed=0)


@pytest.fixture(scope="session")
def trained_run(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished custom_cnn run (16 px, 3 epochs) on the synthetic set; copy it before writing into it."""
    import torch

    from skinbench.config import TrainConfig
    from skinbench.train import main

    run = tmp_path_factory.mktemp("trained") / "cnn16"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = TrainConfig(
            data=str(synthetic_root), out=str(run), image_size=16, epochs=3, lr=2e-3, progress=False, patience=0
        )
        main(config)
    finally:
        torch.set_num_threads(before)
    return run


@pytest.fixture
def one_thread():
    """One torch thread: fast on shared cores, and the same float results in every run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
