"""Profiling leaves the model and torch exactly as it found them, and is deterministic."""

from __future__ import annotations

import copy
import gc

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.zoo import Decoder, PaperCNN
from benchmarks.zoo_models import reachable_proxies
from flopcount import profile


def _snapshot(model: nn.Module):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        {
            name: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks), m.training)
            for name, m in model.named_modules()
        },
        set(dir(model)),
        {p.device for p in model.parameters()},
        [p.requires_grad for p in model.parameters()],
    )


def test_model_state_hooks_attributes_and_device_unchanged():
    model = Decoder(vocab=50, dim=32, layers=2, heads=4, hidden=64)
    calls = []
    model.layers[0].register_forward_hook(lambda *a: calls.append("user hook"))
    model.train()
    before = _snapshot(model)
    functional_before = (F.conv2d, F.linear, F.relu, torch.matmul, nn.Module.__call__, nn.Module.__getattr__)
    profile(model, torch.zeros(1, 8, dtype=torch.long))
    after = _snapshot(model)
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0])
    assert before[1:] == after[1:]
    assert calls == []  # user hooks never run: nothing is executed on the model
    assert (F.conv2d, F.linear, F.relu, torch.matmul, nn.Module.__call__, nn.Module.__getattr__) == functional_before


def test_two_calls_identical_and_independent_of_mode_grad_and_device():
    model = PaperCNN(image_size=32)
    x = torch.randn(2, 3, 32, 32)
    first = profile(model, x)
    model.train()
    with torch.no_grad():
        second = profile(model, x)
    model.eval()
    third = profile(model, input_shape=(2, 3, 32, 32))
    with torch.device("meta"):
        meta_model = PaperCNN(image_size=32)
    fourth = profile(meta_model, torch.empty(2, 3, 32, 32, device="meta"))
    assert first.layers == second.layers == third.layers == fourth.layers
    assert first.to_json() == second.to_json()


def test_meta_weights_profile_and_stay_on_meta():
    with torch.device("meta"):
        model = nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Flatten(),
            nn.LazyLinear(4) if False else nn.Linear(8 * 6 * 6, 4),
        )
    result = profile(model, input_shape=(1, 3, 8, 8))
    assert result.total_params == sum(p.numel() for p in model.parameters())
    assert {p.device.type for p in model.parameters()} == {"meta"}


def test_no_real_arithmetic_runs():
    """A model whose real forward would take minutes profiles instantly on meta inputs."""
    with torch.device("meta"):
        big = nn.Sequential(*[nn.Linear(8192, 8192) for _ in range(8)])
    result = profile(big, input_shape=(4096, 8192))
    assert result.total_macs == 8 * 4096 * 8192 * 8192


def test_training_only_branches_are_not_counted():
    class AuxHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Linear(4, 2)
            self.aux = nn.Linear(4, 2)

        def forward(self, x):
            out = self.main(x)
            if self.training:
                out = out + self.aux(x)
            return out

    model = AuxHead().train()
    result = profile(model, input_shape=(1, 4))
    assert result.total_macs == 8
    assert result.unused_params == 10  # the aux head's parameters are reported, not hidden
    assert model.training and model.aux.training


class WritesToSelf(nn.Module):
    """A forward that fills a cache, rebuilds a buffer for a new size and keeps a list on self."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.bias_cache: dict[str, torch.Tensor] = {}
        self.register_buffer("pos", torch.zeros(4, 8), persistent=False)

    def forward(self, x):
        if x.shape[0] != self.pos.shape[0]:  # lazily built for the input length, on the input's device
            self.pos = torch.arange(x.shape[0] * 8, dtype=x.dtype, device=x.device).view(x.shape[0], 8)
        key = str(x.device)
        if key not in self.bias_cache:
            self.bias_cache[key] = self.fc.bias * 2
        self.pyramid = [x, x * 2]
        return self.fc(x + self.pos) + self.bias_cache[key]


class WritesToSelfVarArgs(WritesToSelf):
    """The same, with a ``*args`` forward: fx cannot trace it, the dispatch path runs."""

    def forward(self, *args):
        return super().forward(*args)


@pytest.mark.parametrize("path", ["fx", "dispatch"])
def test_nothing_left_behind_after_a_forward_that_writes_to_self(path):
    model = (WritesToSelf() if path == "fx" else WritesToSelfVarArgs()).eval()
    x = torch.randn(6, 8)
    attrs = {name: dict(vars(module)) for name, module in model.named_modules()}
    buffers = dict(model.named_buffers())
    first = profile(model, x)
    assert first.capture.method == path
    assert reachable_proxies(model) == []
    assert {name: dict(vars(module)) for name, module in model.named_modules()} == attrs
    assert all(b is buffers[n] for n, b in model.named_buffers()) and model.bias_cache == {}
    second = profile(model, x)
    assert second.layers == first.layers and second.capture == first.capture
    with torch.no_grad():
        expected = model(x)  # the model still runs, on its own device
    assert model.pos.device.type == "cpu" and torch.isfinite(expected).all()


class CapturingHooks(nn.Module):
    """Like transformers' output capturing: hooks installed on first use, a flag says so."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(2))
        self.collected: list[torch.Tensor] = []

    def forward(self, x):
        if not getattr(self, "_output_capturing_hooks_installed", False):
            for layer in self.layers:
                layer.register_forward_hook(lambda module, args, out: self.collected.append(out))
            self._output_capturing_hooks_installed = True
        self.collected.clear()
        for layer in self.layers:
            x = layer(x)
        return self.collected[1]  # IndexError when the hooks are gone but the flag stays


def test_a_model_already_run_with_library_hooks_profiles():
    model = CapturingHooks().eval()
    x = torch.randn(2, 4)
    with torch.no_grad():
        expected = model(x)
    result = profile(model, x)
    assert result.total_macs == 2 * 2 * 4 * 4
    assert len(model.layers[0]._forward_hooks) == 1  # the user's model keeps its own hooks
    with torch.no_grad():
        assert torch.equal(model(x), expected)


def test_hooks_a_library_installs_while_profiling_are_removed():
    model = CapturingHooks().eval()
    x = torch.randn(2, 4)
    twin = copy.deepcopy(model)
    result = profile(model, x)  # the model never ran: tracing its forward installs the hooks
    assert result.total_macs == 2 * 2 * 4 * 4
    assert [len(layer._forward_hooks) for layer in model.layers] == [0, 0]
    assert not hasattr(model, "_output_capturing_hooks_installed")
    with torch.no_grad():
        assert torch.equal(model(x), twin(x))
    assert [len(layer._forward_hooks) for layer in model.layers] == [1, 1]  # installed once, by the real call


COLLECTOR_SEEN: list[bool] = []


class _CollectorProbe(nn.Module):
    """Notes whether Python's cyclic garbage collector is on whenever its forward runs (on any copy of it)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        COLLECTOR_SEEN.append(gc.isenabled())
        if x.sum() > 0:  # a value read: fx fails, the fake-weight run executes this Python again
            return self.fc(x)
        return x


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_paused_only_for_the_call(enabled):
    probe = _CollectorProbe()
    COLLECTOR_SEEN.clear()
    (gc.enable if enabled else gc.disable)()
    try:
        assert profile(probe, torch.ones(2, 4)).total_macs == 32
        assert gc.isenabled() is enabled  # as it was before the call
    finally:
        gc.enable()
    assert len(COLLECTOR_SEEN) >= 2 and not any(COLLECTOR_SEEN)  # paused while the model ran
