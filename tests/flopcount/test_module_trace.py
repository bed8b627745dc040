"""The tracer's own ``trace`` for module roots gives what fx's ``Tracer.trace`` gives, and leaves fx as it found it."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx import _symbolic_trace as fx_trace

from flopcount import profile
from flopcount.capture import fx as fx_capture
from flopcount.capture import module_trace
from flopcount.capture.isolation import ModuleState

SEEN: dict[str, Any] = {}


@fx.wrap
def _wrapped_scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """A function fx keeps as one call (``torch.fx.wrap``), as timm and torchvision do."""
    return x * factor


class Net(nn.Module):
    """Shared submodule, a buffer, a tensor attribute, an fx.wrap'd function, keyword inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.blocks = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), self.act, nn.Conv2d(8, 8, 1))
        self.register_buffer("shift", torch.ones(1, 8, 1, 1))
        self.table = torch.ones(8)  # neither a parameter nor a buffer
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        SEEN["tracing"] = fx_trace.is_fx_symbolic_tracing()  # what transformers reads
        y = self.act(self.conv(x)) + self.shift
        y = _wrapped_scale(self.blocks(y), scale) * self.table.view(1, 8, 1, 1)
        return self.head(F.adaptive_avg_pool2d(y, 1).flatten(1))


@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_records_equal_those_of_fxs_own_trace(scale: float, monkeypatch: pytest.MonkeyPatch) -> None:
    model, x = Net().eval(), torch.randn(2, 3, 16, 16)
    assert module_trace.supported()  # torch 2.13-2.15 have every piece
    ours = profile(model, x, scale=scale)
    assert SEEN.pop("tracing") is True and not fx_trace.is_fx_symbolic_tracing()  # set while tracing, restored after
    monkeypatch.setattr(module_trace, "supported", lambda: False)  # fx's own Tracer.trace
    theirs = profile(model, x, scale=scale)
    assert ours.capture.method == theirs.capture.method == "fx"
    assert ours.raw_layers == theirs.raw_layers and ours.total_params == theirs.total_params
    # fx.wrap'd: one call, as fx keeps it (run under the op recorder: no formula of its own)
    assert [r.type for r in ours.raw_layers if r.type.startswith("_wrapped_scale")] == ["_wrapped_scale>aten.mul"]


def test_a_tracer_with_autowrapped_functions_uses_fxs_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(module_trace, "trace_module", lambda *args, **kwargs: calls.append("ours"))
    walker = fx_capture.GraphWalker(nn.Linear(2, 2), {"input": torch.ones(1, 2)})
    tracer = fx_capture.ShapeTracer(walker)
    tracer._autowrap_function_ids = {id(torch.relu)}  # autowrapped functions: fx scans every forward's globals
    tracer.trace(nn.Sequential(nn.Linear(2, 2)))
    assert calls == []


def test_forward_signature_is_kept_per_function_and_follows_an_instance_forward() -> None:
    first, second = nn.Linear(2, 2), nn.Linear(3, 3)
    assert fx_capture.forward_signature(first) is fx_capture.forward_signature(second)
    assert list(fx_capture.forward_signature(first).parameters) == ["input"]
    second.forward = lambda x, mask=None: x  # type: ignore[method-assign]  # an instance's own forward
    assert list(fx_capture.forward_signature(second).parameters) == ["x", "mask"]


def test_module_state_restores_reordered_and_swapped_attributes() -> None:
    model = nn.Linear(2, 2)
    model.a, model.b = torch.zeros(1), torch.ones(1)
    before = dict(vars(model))
    state = ModuleState(model)
    a, b = model.a, model.b
    del model.a, model.b
    model.b, model.a = a, b  # same keys, same values, swapped between them and reordered
    state.restore()
    assert list(vars(model)) == list(before) and all(vars(model)[k] is v for k, v in before.items())


class _NoWeakref:
    """A callable that takes no weak reference (as some C-implemented functions)."""

    __slots__ = ()

    def __call__(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def test_forward_signature_of_a_forward_without_weak_references() -> None:
    import types

    model = nn.Identity()
    model.forward = types.MethodType(_NoWeakref(), model)  # type: ignore[method-assign]
    assert list(fx_capture.forward_signature(model).parameters) == ["x"]
    assert profile(model, torch.ones(2, 3)).total_macs == 0  # profiles (fx binds its inputs by that signature)
