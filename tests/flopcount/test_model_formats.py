"""Quantized, TorchScript, compiled, fp16/bf16 models; FFT and detection ops; one family per op on every path."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.ao import quantization as tq
from torch.utils.flop_counter import FlopCounterMode

from flopcount import CaptureLimitation, profile
from flopcount.capture import capture_dispatch
from flopcount.formulas.fft import fft_count

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # torch.jit and eager quantization are deprecated
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*must run observer before calling calculate_qparams"),
]


def fcm_macs(model: nn.Module, *args) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*args)
    return counter.get_total_flops() // 2


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


X = torch.randn(1, 3, 16, 16)
NET_MACS = 14 * 14 * 8 * 27 + 8 * 4


def _scripted_sub():
    model = Net().eval()
    model.conv = torch.jit.script(model.conv)
    return model


def _traced_sub():
    model = Net().eval()
    model.head = torch.jit.trace(model.head, torch.randn(1, 8))
    return model


SCRIPTS = {
    "scripted model": lambda: torch.jit.script(Net().eval()),
    "traced model": lambda: torch.jit.trace(Net().eval(), X),
    "scripted submodule": _scripted_sub,
    "traced submodule": _traced_sub,
    "compiled model": lambda: torch.compile(Net().eval()),
}


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_torchscript_and_compiled_models_are_counted(kind):
    model = SCRIPTS[kind]()
    result = profile(model, X)
    assert result.total_macs == NET_MACS == fcm_macs(model, X)
    assert result.total_params == 8 * 27 + 8 + 8 * 4 + 4 and result.unused_params == 0
    assert result.coverage == 1.0 and not result.capture.real_forward
    assert {r.family for r in result.layers if r.macs} <= {"conv", "linear", "matmul"}
    if kind.endswith("submodule"):  # the other layer keeps its own path
        assert {"conv", "head"} <= {r.name for r in result.layers}
    if kind == "compiled model":
        assert [r.name for r in result.layers if r.macs] == ["conv", "head"]  # not "_orig_mod.conv"


class QuantNet(nn.Module):
    """Eager-mode static quantization: conv+relu, a residual add, linear."""

    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.add = nn.quantized.FloatFunctional()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.relu(self.conv(self.quant(x)))
        x = self.add.add(x, self.conv2(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.dequant(self.fc(x))


def _static_int8():
    model = QuantNet().eval()
    model.qconfig = tq.get_default_qconfig("fbgemm")
    fused = tq.fuse_modules(model, [["conv", "relu"]])
    prepared = tq.prepare(fused)
    prepared(torch.randn(2, 3, 8, 8))
    return tq.convert(prepared)


def _packed_sizes(model: nn.Module) -> int:
    total = 0
    for module in model.modules():
        if type(module).__name__ in ("Conv2d", "ConvReLU2d", "Linear") and hasattr(module, "weight"):
            weight = module.weight() if callable(module.weight) else module.weight
            bias = module.bias() if callable(module.bias) else module.bias
            total += weight.numel() + (bias.numel() if bias is not None else 0)
    return total


def test_static_int8_model_has_the_macs_of_its_float_source():
    float_model = QuantNet().eval()
    int8 = _static_int8()
    x = torch.randn(1, 3, 8, 8)
    result = profile(int8, x)
    assert result.capture.method == "fx" and result.coverage == 1.0
    assert result.total_macs == profile(float_model, x).total_macs == 64 * 8 * 27 + 64 * 8 * 72 + 8 * 4
    assert result.total_params == _packed_sizes(int8) == sum(p.numel() for p in float_model.parameters())
    assert result.unused_params == 0 and result.trainable_params == 0
    by_type = {r.type: r for r in result.layers}
    assert by_type["ConvReLU2d"].dtype == by_type["Linear"].dtype == "int8"
    assert by_type["ConvReLU2d"].family == "conv" and by_type["ConvReLU2d"].activation_bytes == 64 * 8  # 1 B/element
    assert {r.family for r in result.layers if r.type.endswith("add")} == {"elementwise"}
    assert "Integer (int8) ops" in str(result)
    assert result.using("torchvision").total_macs == result.total_macs


def test_packed_weights_are_unpacked_once_per_packed_object(monkeypatch):
    import gc

    import torch.ao.nn.quantized as nnq

    from flopcount import params

    int8 = _static_int8()
    x = torch.randn(1, 3, 8, 8)
    unpacked: list[str] = []
    for cls in (nnq.Conv2d, nnq.modules.linear.LinearPackedParams):  # ConvReLU2d inherits the first
        original = cls._weight_bias
        counting = lambda self, f=original: unpacked.append(type(self).__name__) or f(self)  # noqa: E731
        monkeypatch.setattr(cls, "_weight_bias", counting)
    first = profile(int8, x)
    # once each, for the parameters and the bias FLOPs
    assert sorted(unpacked) == ["Conv2d", "ConvReLU2d", "LinearPackedParams"]
    unpacked.clear()
    assert profile(int8, x).to_dict() == first.to_dict() and unpacked == []
    # new weights are a new packed object: read again, and the bias that went away is gone from the count
    weight, _ = int8.conv._weight_bias()
    int8.conv.set_weight_bias(weight, None)
    unpacked.clear()
    without_bias = profile(int8, x)
    assert unpacked == ["ConvReLU2d"] and without_bias.total_params == first.total_params - 8
    kept = len(params._SIZES)
    del int8, first, without_bias
    gc.collect()
    assert len(params._SIZES) < kept  # entries leave with their packed objects


def test_dynamic_rnn_cells_are_unpacked_once_and_sized_as_the_float_source():
    from flopcount import params

    float_lstm = nn.Sequential(nn.LSTM(6, 5, num_layers=2, bidirectional=True)).eval()
    int8 = torch.ao.quantization.quantize_dynamic(float_lstm, {nn.LSTM}, dtype=torch.qint8)
    x = torch.randn(4, 2, 6)
    assert profile(int8, x).total_params == sum(p.numel() for p in float_lstm.parameters())
    cells = [packed.param for packed in int8[0]._all_weight_values]
    assert len(cells) == 4 and all(params._cached(cell) is not None for cell in cells)  # one entry per cell, kept


def test_dynamic_int8_linear_and_lstm():
    source = nn.Sequential(nn.Linear(8, 4), nn.LSTM(4, 6, num_layers=2))
    int8 = tq.quantize_dynamic(source, {nn.Linear, nn.LSTM}, dtype=torch.qint8)
    x = torch.randn(5, 1, 8)
    result, reference = profile(int8, x), profile(source, x)
    assert result.total_macs == reference.total_macs and result.coverage == 1.0
    assert [(r.type, r.family, r.dtype) for r in result.layers] == [
        ("Linear", "linear", "int8"),
        ("LSTM", "rnn", "int8"),
    ]
    assert result.total_params == reference.total_params and result.unused_params == 0


class VarArgs(nn.Module):
    """``*args`` forward: fx cannot trace it, the dispatch path runs."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *args):
        return self.inner(*args)


@pytest.mark.parametrize("layer", [nn.LSTM(8, 16, num_layers=2, bidirectional=True), nn.GRU(8, 16), nn.Conv1d(4, 4, 3)])
def test_one_family_and_count_per_op_on_every_path(layer):
    x = torch.randn(5, 2, 8) if not isinstance(layer, nn.Conv1d) else torch.randn(1, 4, 9)
    fx_result = profile(nn.Sequential(layer), x)
    dispatch_result = profile(VarArgs(layer), x)
    assert (fx_result.capture.method, dispatch_result.capture.method) == ("fx", "dispatch")
    fx_rows = [(r.type, r.family, r.macs, r.flops, r.params) for r in fx_result.layers]
    dispatch_rows = [(r.type, r.family, r.macs, r.flops, r.params) for r in dispatch_result.layers]
    assert fx_rows == dispatch_rows
    assert fx_result.using("torchvision").total_macs == dispatch_result.using("torchvision").total_macs


class SharedWeights(nn.Module):
    """Uses a submodule's weight without calling the submodule (tied heads, Mamba's A_log, DETR's queries)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.queries = nn.Embedding(4, 8)
        self.unused = nn.Linear(8, 2)

    def forward(self, *xs):
        x = F.linear(xs[0], self.proj.weight) + self.queries.weight.sum(0)
        return x


def test_unused_params_on_the_dispatch_path_follow_tensor_identity():
    result = profile(SharedWeights(), torch.randn(2, 8))
    assert result.capture.method == "dispatch"
    assert result.unused_params == 8 * 2 + 2 + 8  # the unused head and proj's unused bias


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_models_have_the_float_macs_and_their_own_bytes(dtype):
    model = Net().eval()
    full = profile(model, X)
    half = profile(Net().eval().to(dtype), X.to(dtype))
    assert half.total_macs == full.total_macs and half.total_flops == full.total_flops
    assert half.total_activation_bytes * 2 == full.total_activation_bytes
    assert {r.dtype for r in half.layers} == {str(dtype).removeprefix("torch.")}
    varargs = profile(VarArgs(Net().eval().to(dtype)), X.to(dtype))  # the dispatch path too
    assert varargs.total_macs == full.total_macs and not varargs.capture.real_forward


def test_fft_formula_is_5_n_log2_n_per_complex_transform():
    class Spectral(nn.Module):
        def forward(self, x):
            return torch.fft.irfft(torch.fft.rfft(x) * 2, n=x.shape[-1]) + torch.fft.fft2(x).real

    result = profile(Spectral(), torch.randn(4, 64))
    fft = [r for r in result.layers if r.family == "fft"]
    assert result.coverage == 1.0 and len(fft) == 3
    n = 4 * 64
    assert [r.flops for r in fft] == [round(2.5 * n * 6), round(2.5 * n * 6), 5 * n * (2 + 6)]
    assert fft_count((1024,), [0], real=False).flops == 5 * 1024 * 10


def test_detection_ops_have_documented_formulas():
    torchvision = pytest.importorskip("torchvision")

    class Heads(nn.Module):
        def forward(self, features, boxes, scores):
            pooled = torchvision.ops.roi_align(features, [boxes], (2, 2), 1.0, 2)
            pooled2 = torchvision.ops.roi_pool(features, [boxes], (2, 2), 1.0)
            keep = torchvision.ops.nms(boxes, scores, 0.5)
            return pooled, pooled2, keep

    boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 5.0, 5.0], [2.0, 2.0, 7.0, 7.0]])
    result = profile(Heads(), torch.randn(1, 4, 8, 8), boxes, torch.rand(3))
    by_type = {r.type.rsplit(".", 1)[-1]: r for r in result.layers if r.family == "detection"}
    assert result.coverage == 1.0 and not result.capture.real_forward  # boxes and scores are inputs
    assert by_type["roi_align"].flops == 3 * 4 * 2 * 2 * 9 * 4  # K*C*PH*PW outputs, 9 FLOPs x 2x2 samples
    assert by_type["roi_pool"].flops == 3 * 4 * 2 * 2
    assert by_type["nms"].flops == 12 * 3 * 2 // 2


def test_dispatch_records_name_the_module_of_every_op():
    records = capture_dispatch(VarArgs(nn.Sequential(nn.Linear(4, 4), nn.ReLU())), (torch.ones(2, 4),), {}, real=False)
    assert [(r.name, r.type) for r in records] == [("inner.0", "Linear"), ("inner.1", "ReLU")]


def test_no_warning_spam_from_proxies():
    """A second profile of a model that caches on self neither warns nor changes path."""

    class Cache(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.cache = {}

        def forward(self, x):
            self.cache.setdefault("w", self.fc.weight * 1)
            return x @ self.cache["w"]

    model = Cache()
    first = profile(model, torch.ones(2, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = profile(model, torch.ones(2, 4))
    assert first.layers == second.layers and first.capture == second.capture and model.cache == {}


def test_mixture_of_experts_expected_and_routed_counts():
    pytest.importorskip("transformers")
    from benchmarks.zoo_models import by_name
    from flopcount.formulas.moe import EXPECTED_NOTE, ROUTED_NOTE, experts_count

    model, args, kwargs = by_name("hf/mixtral").build()  # hidden 32, intermediate 64, 4 experts, top-2
    expected = profile(model, *args, **kwargs)
    routed = profile(model, *args, **kwargs, moe="routed")
    assert not expected.capture.real_forward and routed.capture.real_forward
    assert "moe='routed'" in routed.capture.reason  # on every torch, even where a fake run would go through
    experts = [r for r in expected.layers if r.family == "moe"]
    assert len(experts) == 2 and {r.note for r in experts} == {EXPECTED_NOTE}
    tokens, per_layer = 16, experts_count(16, 2, [(4, 128, 32), (4, 32, 64)], 64, 32, gated=True)
    assert experts[0].macs == per_layer.macs == tokens * 2 * (128 * 32 + 32 * 64)
    # Every token goes through exactly top-k experts: the routed count is the same.
    assert routed.using("torchvision").total_macs == expected.using("torchvision").total_macs
    assert ROUTED_NOTE in {r.note for r in routed.layers} and not any(r.family == "moe" for r in routed.layers)
    with pytest.raises(CaptureLimitation, match=r"moe='routed'.*real example tensors"):
        profile(model, **{name: value.to("meta") for name, value in kwargs.items()}, moe="routed")
    with pytest.raises(ValueError, match="moe must be one of"):
        profile(model, *args, moe="sometimes", **kwargs)
