"""The fallback capture paths, and clear errors (or correct zeros) on bad input."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from flopcount import ShapeMismatchError, profile
from flopcount.capture import CaptureLimitation


class ShapeBranch(nn.Module):
    """Shape-dependent control flow: fx with concrete shapes traces it."""

    def __init__(self):
        super().__init__()
        self.small = nn.Linear(8, 4)
        self.large = nn.Linear(8, 16)

    def forward(self, x):
        if x.shape[0] > 2:
            return self.large(x)
        return self.small(x)


class IterateRows(nn.Module):
    """Iterating over a tensor: plain fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return torch.stack([self.fc(row) for row in x])


class ValueBranch(nn.Module):
    """Value-dependent control flow: needs real values."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.other = nn.Linear(8, 2)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return self.other(x)


def test_shape_dependent_branch_uses_fx():
    result = profile(ShapeBranch(), input_shape=(3, 8))
    assert result.capture.method == "fx"
    assert result.total_macs == 3 * 8 * 16


def test_iterating_a_tensor_still_traces_with_concrete_shapes():
    result = profile(IterateRows(), input_shape=(3, 8))
    assert result.total_macs == 3 * 8 * 4
    assert [r.name for r in result.layers if r.type == "Linear"] == ["fc"] * 3


def test_input_dependent_branch_runs_no_real_forward():
    model = ValueBranch()
    positive = profile(model, torch.ones(2, 8))
    negative = profile(model, -torch.ones(2, 8))
    assert positive.capture.method == negative.capture.method == "dispatch"
    assert positive.total_macs == 2 * 8 * 4 and negative.total_macs == 2 * 8 * 2


class WeightBranch(ValueBranch):
    """Control flow on a weight-dependent value: only a real run can follow it."""

    def forward(self, x):
        h = self.fc(x)
        if h.sum() > 0:
            return self.other(x)
        return h


def test_weight_dependent_branch_falls_back_to_a_real_run_and_says_why():
    model = WeightBranch()
    with torch.no_grad():
        model.fc.bias.fill_(10.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = profile(model, torch.ones(2, 8))
    assert result.capture.method == "dispatch-real" and result.capture.real_forward
    assert "fx failed" not in result.capture.reason
    assert "aten::_local_scalar_dense needs tensor values" in result.capture.reason
    assert result.total_macs == 2 * 8 * 4 + 2 * 8 * 2
    fc = [r for r in result.layers if r.name == "fc"]
    assert fc and fc[0].params == 36  # per-module attribution survives the fallback
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_value_dependent_model_without_real_inputs_says_what_to_do():
    with pytest.raises(CaptureLimitation, match="pass real example tensors"):
        profile(ValueBranch(), input_shape=(2, 8))


def test_untraceable_forward_falls_back_to_the_virtual_dispatch_path():
    class VarArgs(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, *images):
            return sum(self.conv(image) for image in images)

    result = profile(VarArgs(), torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8))
    assert result.capture.method == "dispatch"
    assert "CaptureLimitation" in result.capture.reason
    assert result.total_macs == 2 * 36 * 4 * 27
    assert {r.name for r in result.layers if r.macs} == {"conv"}


class _Cache:
    """A plain object made in ``forward`` that fx has no graph form for (like transformers' caches)."""

    def __init__(self):
        self.keys: list[torch.Tensor] = []

    def update(self, key):
        self.keys.append(key)
        return torch.cat(self.keys, dim=1)


def _by_keyword(forward):
    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):  # as transformers' decorators: the code takes *args, **kwargs
        kwargs.setdefault("scale", 2.0)
        return forward(self, *args, **kwargs)

    return wrapper


class KeywordForward(nn.Module):
    """A decorated ``forward`` with ``**kwargs``, item assignment and a cache object, all input-only."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)

    @_by_keyword
    def forward(self, x, mask=None, scale=1.0, **kwargs):
        cache = _Cache()
        hidden = cache.update(self.proj(x) * scale)
        out = torch.zeros_like(hidden)
        out[:, :2] = hidden[:, :2]  # item assignment on a traced tensor
        if mask is not None:
            out = out * mask
        return self.head(out + kwargs.get("bias", 0)), cache


def test_decorated_keyword_forward_item_assignment_and_caches_trace_with_fx():
    model = KeywordForward()
    x = torch.randn(1, 4, 8)
    result = profile(model, x, mask=torch.ones(1, 4, 1), bias=torch.ones(8))
    assert result.capture.method == "fx", result.capture.reason
    assert result.total_macs == 4 * 8 * 8 + 4 * 8 * 2
    # the decorator ran (scale 2.0: one multiply per element) and the extra keyword input was passed by name
    assert [r.type for r in result.layers if r.flops and r.family == "elementwise"] == ["mul", "mul", "add"]
    assert any(r.type == "setitem" for r in result.layers)
    from flopcount.capture import capture_dispatch

    inputs = {"mask": torch.ones(1, 4, 1), "bias": torch.ones(8)}
    dispatched = capture_dispatch(model, (x,), inputs, real=False)
    assert sum(r.macs for r in dispatched) == result.total_macs
    assert sum(r.flops for r in dispatched) == result.total_flops


_SHARED_ACTIVATION = nn.SiLU()  # a module outside every model, as transformers' ACT2FN table


class DeviceAware(nn.Module):
    """Builds a mask on its input's device, branches on its values, moves tensors to that device."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        mask = torch.ones(x.shape[0], x.shape[1], device=x.device)
        hidden = _SHARED_ACTIVATION(self.proj(x)).to(x.device).cpu()
        if mask.all():  # input-only: a real value when the inputs are real
            return hidden.to("cpu")
        return hidden * mask[..., None]


def test_input_device_values_and_shared_modules_trace_with_fx():
    result = profile(DeviceAware(), torch.randn(2, 3, 8))
    assert result.capture.method == "fx" and not result.capture.real_forward, result.capture.reason
    assert result.total_macs == 2 * 3 * 8 * 8
    silu = profile(nn.SiLU(), torch.randn(2, 3, 8)).total_flops  # the same formula, as a leaf module
    assert [(r.type, r.flops) for r in result.layers if r.family == "activation"] == [("silu", silu)]


def test_fx_shape_mismatch_falls_back_when_the_fake_run_fits(monkeypatch):
    import flopcount.profiler as profiler

    def refuses(*args, **kwargs):  # a meta kernel stricter than the fake one (e.g. a bf16-only grouped matmul)
        raise ShapeMismatchError("input shapes stop fitting at layer '0' (Linear): meta refuses")

    monkeypatch.setattr(profiler, "capture_fx", refuses)
    result = profile(nn.Sequential(nn.Linear(4, 3)), torch.randn(2, 4))
    assert result.capture.method == "dispatch" and "meta refuses" in result.capture.reason
    assert result.total_macs == 24
    with pytest.raises(ShapeMismatchError, match="meta refuses"):  # both fail: fx's message, which names the layer
        profile(nn.Sequential(nn.Linear(4, 3)), torch.randn(2, 5))


def test_dispatch_path_counts_per_module():
    from flopcount.capture import capture_dispatch

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2))
    records = capture_dispatch(model, (torch.empty(1, 3, 8, 8),), {}, real=False)
    by_name = {r.name: r for r in records if r.macs}
    assert by_name["0"].macs == 36 * 4 * 27 and by_name["0"].type == "Conv2d"  # a leaf, as on the fx path
    assert by_name["3"].macs == 4 * 36 * 2
    assert sum(r.params for r in records) == sum(p.numel() for p in model.parameters())


def test_not_a_module():
    with pytest.raises(TypeError, match=r"needs a torch\.nn\.Module, got function"):
        profile(lambda x: x, input_shape=(1, 3))


def test_no_inputs_and_both_inputs():
    with pytest.raises(ValueError, match="needs example inputs"):
        profile(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="not both"):
        profile(nn.Linear(2, 2), torch.randn(1, 2), input_shape=(1, 2))
    with pytest.raises(ValueError, match="positive integers"):
        profile(nn.Linear(2, 2), input_shape=(1, -2))


def test_wrong_shape_names_the_layer():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(100, 10))
    with pytest.raises(ShapeMismatchError, match=r"layer '2' \(Linear\): expected last dim 100, got 288"):
        profile(model, input_shape=(1, 3, 8, 8))
    with pytest.raises(ShapeMismatchError, match=r"layer '0' \(Conv2d\): expected input with 3 channels, got 1"):
        profile(model, input_shape=(1, 1, 8, 8))


def test_wrong_shape_in_a_functional_op_names_the_module():
    class Bad(nn.Module):
        def forward(self, x):
            return torch.matmul(x, torch.ones(5, 2))

    with pytest.raises(ShapeMismatchError, match="matmul"):
        profile(Bad(), input_shape=(3, 4))


def test_inputs_that_do_not_match_forward():
    with pytest.raises(TypeError, match=r"do not match Linear\.forward"):
        profile(nn.Linear(2, 2), torch.randn(1, 2), torch.randn(1, 2))


def test_empty_model_is_a_correct_zero():
    result = profile(nn.Sequential(), input_shape=(2, 3))
    assert (result.total_params, result.total_macs, result.total_flops, result.layers) == (0, 0, 0, ())
    assert result.coverage == 1.0
    assert "Total params: 0" in str(result)


def test_model_without_parameters():
    result = profile(nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)), input_shape=(1, 2, 4, 4))
    assert result.total_params == 0
    assert result.total_flops == 32 + 8 * 3


def test_known_weight_steered_detection_models_go_straight_to_the_real_run():
    detection = pytest.importorskip("torchvision.models.detection")
    from flopcount.capture import capture_dispatch

    torch.manual_seed(0)
    model = detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3).eval()
    images = [torch.rand(3, 96, 96)]
    result = profile(model, images)
    assert result.capture.method == "dispatch-real" and result.capture.real_forward
    assert result.capture.reason.startswith("the model (SSD) keeps the boxes whose class scores pass its threshold")
    reference = capture_dispatch(model, (images,), {}, real=True)  # the same run the fallback chain ends in
    assert result.total_macs == sum(r.macs for r in reference)
    with pytest.raises(CaptureLimitation, match=r"SSD needs tensor values to run \(the model \(SSD\) keeps"):
        profile(model, [torch.rand(3, 96, 96, device="meta")])
