"""LoopState: best value, early stopping, phase change, and its dict form in last.pt."""

from __future__ import annotations

import json
import math
from pathlib import Path

from skinbench.schedule import LoopState


def _row(epoch: int, value: float, monitor: str = "val_acc") -> dict[str, object]:
    return {"epoch": epoch, monitor: value}


def test_best_value_and_early_stopping() -> None:
    state = LoopState()
    improved = [state.record(_row(e, v), "val_acc", patience=2) for e, v in enumerate([0.5, 0.6, 0.6, 0.55], 1)]
    assert improved == [True, True, False, False]
    assert (state.best, state.best_epoch, state.epoch, state.phase_epoch) == (0.6, 2, 4, 4)
    assert state.bad_epochs == 2 and state.stopped


def test_loss_is_minimised_and_nan_never_wins() -> None:
    state = LoopState()
    assert not state.record(_row(1, math.nan, "val_loss"), "val_loss", patience=0)
    assert state.record(_row(2, 1.0, "val_loss"), "val_loss", patience=0)
    assert not state.record(_row(3, 2.0, "val_loss"), "val_loss", patience=0)
    assert state.best == 1.0 and not state.stopped  # patience 0: never stops


def test_next_phase_keeps_the_run_best_and_resets_the_phase_counters() -> None:
    state = LoopState()
    state.record(_row(1, 0.5), "val_acc", patience=1)
    state.record(_row(2, 0.4), "val_acc", patience=1)
    assert state.stopped
    state.next_phase()
    assert (state.phase, state.phase_epoch, state.phase_best, state.bad_epochs, state.stopped) == (1, 0, None, 0, False)
    assert (state.best, state.best_epoch, len(state.history)) == (0.5, 1, 2)


def test_dict_form_matches_the_state_of_legacy_checkpoints() -> None:
    layout = json.loads((Path(__file__).parent / "data" / "legacy_checkpoint_layout.json").read_text())
    state = LoopState(history=[{"epoch": 1}])
    assert list(state.to_dict()) == list(layout["last.pt"]["state"])
    assert LoopState.from_dict(state.to_dict()) == state
