"""Shared test configuration: the repository root on sys.path (for benchmarks.zoo), --update-golden,
and the quantized engine put back after each test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files under tests/**/golden/ instead of comparing against them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run should rewrite golden files."""
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(autouse=True)
def _quantized_engine_restored() -> Iterator[None]:
    """Each test leaves the process's quantized engine as it found it.

    torchvision's quantized models (the zoo's int8 entries) set the engine to their
    backend and leave it; under QNNPACK a layer built without a bias is packed with a
    zero one, so a later test in the same worker would see other counts.
    """
    engine = torch.backends.quantized.engine
    yield
    torch.backends.quantized.engine = engine
