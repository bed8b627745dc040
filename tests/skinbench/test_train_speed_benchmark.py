"""benchmarks/train_speed.py: its arithmetic (a fake clock), its comparison, and its published results."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from benchmarks.train_speed import TARGET, VARIANTS, compare, epoch_rates

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "train_speed.json"


class FakeClock:
    """A clock that each fake epoch advances by its own duration; reading it costs nothing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[str] = []

    def __call__(self) -> float:
        return self.now

    def epoch(self, name: str, seconds: list[float], images: int):
        durations = iter(seconds)

        def run() -> int:
            self.now += next(durations)
            self.calls.append(name)
            return images

        return run


def test_epoch_rates_are_medians_of_the_timed_epochs_after_the_warm_up() -> None:
    clock = FakeClock()
    epochs = {
        "a": clock.epoch("a", [100.0, 2.0, 4.0, 1.0], images=64),  # the slow first epoch is the warm-up
        "b": clock.epoch("b", [9.0, 8.0, 8.0, 16.0], images=32),
    }
    result = epoch_rates(epochs, repeats=3, clock=clock)
    assert clock.calls == ["a", "b"] * 4  # interleaved: a warm-up round, then 3 timed rounds
    assert result["a"] == {"images": 64, "seconds": [2.0, 4.0, 1.0], "images_per_s": 32.0, "repeats": 3}
    assert result["b"]["seconds"] == [8.0, 8.0, 16.0] and result["b"]["images_per_s"] == 4.0


def test_compare_divides_the_hand_loop_by_skinbench_per_size_and_threads() -> None:
    rows = [
        {"size": 64, "threads": 1, "variant": VARIANTS[0], "images_per_s": 100.0},
        {"size": 64, "threads": 1, "variant": VARIANTS[1], "images_per_s": 110.0},
        {"size": 64, "threads": 1, "variant": VARIANTS[2], "images_per_s": 20.0},
        {"size": 128, "threads": 2, "variant": VARIANTS[0], "images_per_s": 10.0},
        {"size": 128, "threads": 2, "variant": VARIANTS[1], "images_per_s": 13.0},
    ]
    assert compare(rows) == [
        {"size": 64, "threads": 1, "hand_over_skinbench": 1.1, "within_target": True},
        {"size": 128, "threads": 2, "hand_over_skinbench": 1.3, "within_target": False},
    ]
    assert TARGET == 1.2


def test_published_rates_add_up() -> None:
    """benchmarks/results/train_speed.json: every row's median rate comes from its own epochs."""
    if not RESULTS.is_file():
        pytest.skip("benchmarks/train_speed.py has not been run")
    payload = json.loads(RESULTS.read_text())
    for row in payload["rows"]:
        median = statistics.median(row["images"] / s for s in row["seconds"])
        assert row["images_per_s"] == pytest.approx(median, rel=1e-9) and len(row["seconds"]) == row["repeats"], row
    assert compare(payload["rows"]) == payload["comparison"]
