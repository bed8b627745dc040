"""fx's nn.Module patches go on the traced model's own classes, and the counts do not change."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from flopcount import profile
from flopcount.capture import fx as fx_capture
from flopcount.capture.scoped_patches import own_class_patches, patchable_classes

MODULE_CALL, MODULE_GETATTR = nn.Module.__dict__["__call__"], nn.Module.__dict__["__getattr__"]
#: What Spy saw while traced (not on the model: profile() puts back whatever forward writes to it).
SEEN: dict[str, Any] = {}


class Spy(nn.Module):
    """Notes, while it is traced, what nn.Module and its own class hold."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        SEEN["module_untouched"] = (
            nn.Module.__dict__["__call__"] is MODULE_CALL and nn.Module.__dict__["__getattr__"] is MODULE_GETATTR
        )
        SEEN["own"] = {name for name in ("__call__", "__getattr__") if name in type(self).__dict__}
        SEEN["scale"] = type(self.scale).__name__  # a parameter read gives fx's proxy
        return F.relu(self.fc(x)) * self.scale


class OwnCall(nn.Module):
    """A class with its own __call__ that goes through super(): only the nn.Module patch reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_the_patches_go_on_the_models_classes_and_come_off_again() -> None:
    SEEN.clear()
    result = profile(Spy(), input_shape=(2, 4))
    assert result.capture.method == "fx"
    assert {"module_untouched": True, "own": {"__call__", "__getattr__"}, "scale": "ShapeProxy"} == SEEN
    for cls in (Spy, nn.Linear):
        assert "__call__" not in cls.__dict__ and "__getattr__" not in cls.__dict__
    assert nn.Module.__dict__["__call__"] is MODULE_CALL and nn.Module.__dict__["__getattr__"] is MODULE_GETATTR
    assert [(r.type, r.macs, r.flops) for r in result.layers] == [("Linear", 32, 72), ("relu", 0, 8), ("mul", 0, 8)]
    assert result.unused_params == 0  # the parameter read through the patched __getattr__ counts as used


def test_classes_with_their_own_call_or_a_bare_module_keep_fxs_patch_on_nn_module() -> None:
    assert patchable_classes(nn.Sequential(OwnCall())) is None
    assert patchable_classes(nn.Sequential(nn.Module())) is None
    model = nn.Sequential(OwnCall(), nn.ReLU())
    with own_class_patches(model) as redirected:
        assert not redirected
    layers = profile(model, input_shape=(2, 4)).layers
    assert [(r.name, r.type, r.macs) for r in layers] == [("0.fc", "Linear", 32), ("1", "ReLU", 0)]


def test_another_threads_fx_trace_patches_nn_module_as_usual() -> None:
    seen: list[bool] = []

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(nn.Module.__dict__["__call__"] is not MODULE_CALL)  # fx's wrapper on nn.Module
            return x + 1

    with own_class_patches(nn.Sequential(nn.Linear(2, 2))) as redirected:
        worker = threading.Thread(target=fx.symbolic_trace, args=(Probe(),))
        worker.start()
        worker.join()
    assert redirected and seen == [True]
    assert nn.Module.__dict__["__call__"] is MODULE_CALL


@contextlib.contextmanager
def _fx_patches_on_nn_module(model: nn.Module, modules: Any = None) -> Iterator[bool]:
    yield False


def _resnet18() -> nn.Module:
    models = pytest.importorskip("torchvision.models", reason="the resnet18 case needs torchvision")
    return models.resnet18()


@pytest.mark.parametrize(
    "build",
    [
        lambda: (_resnet18().to("meta"), (torch.empty(1, 3, 64, 64, device="meta"),)),
        lambda: (Spy(), (torch.ones(2, 4),)),
        lambda: (nn.LSTM(8, 16, batch_first=True), (torch.ones(2, 5, 8),)),
    ],
    ids=["resnet18", "spy", "lstm"],
)
def test_counts_equal_those_with_fxs_own_patches(build: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model, args = build()
    scoped = profile(model, *args)
    monkeypatch.setattr(fx_capture, "own_class_patches", _fx_patches_on_nn_module)
    plain = profile(model, *args)
    assert scoped.layers == plain.layers and scoped.capture == plain.capture and scoped.total_params > 0
