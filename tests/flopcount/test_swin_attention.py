"""torchvision's Swin window attention: the registered formula against independent counts.

``shifted_window_attention`` is one fx-wrapped call; flopcount counts it with one formula
from shapes instead of running its ~80 aten ops on meta. The references share no code
with :mod:`flopcount.formulas`:

* **FlopCounterMode** on a real CPU run of the function: 2 FLOPs per MAC of its
  mm/addmm/bmm, so it must equal ``2 * macs``;
* **per aten op, brute force**: the function runs on real tiny tensors under a dispatch
  mode that counts every aten op with the per-element constants of the formula module
  docstrings (written here again) times the numel of the op's real output or input; an
  aten op missing from both tables below fails the test, so a new op in a later
  torchvision is noticed, not counted as zero;
* **the op recorder**: what flopcount counted for the call before the formula existed
  (the walker ran it under :class:`flopcount.capture.recorder.OpRecorder`), summed.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from flopcount import profile
from flopcount.capture.recorder import OpRecorder, aten_records
from flopcount.meta import on_meta, to_meta

swin = pytest.importorskip("torchvision.models.swin_transformer")

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
aten = torch.ops.aten

# Documented per-element constants (flopcount/formulas/*.py docstrings): flops per output element.
PER_OUTPUT = {aten.add: 1, aten.sub: 1, aten.mul: 1, aten.div: 1, aten.ne: 1, aten.eq: 1, aten.masked_fill: 1}
PER_OUTPUT |= {aten._softmax: 5, aten.clamp: 2, aten.clamp_min: 2, aten.exp: 1}
FREE = {  # views, copies, padding, shifts, fills, factories, dropout
    *(aten.view, aten._unsafe_view, aten.reshape, aten.permute, aten.transpose, aten.t, aten.expand),
    *(aten.unsqueeze, aten.select, aten.slice, aten.alias, aten.clone, aten.copy_, aten.contiguous),
    *(aten.constant_pad_nd, aten.roll, aten.new_zeros, aten.zero_, aten.fill_, aten.scalar_tensor, aten.lift_fresh),
    *(aten.dropout, aten.native_dropout, aten.detach, aten._to_copy, aten.empty_like, aten.zeros_like),
}


class BruteCount(TorchDispatchMode):
    """MACs of products and flops of everything, per aten op, from real tensors."""

    def __init__(self):
        super().__init__()
        self.macs = self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        op = func.overloadpacket
        if op in (aten.mm, aten.bmm, aten.addmm):
            a, b = args[-2], args[-1]
            macs = out.numel() * a.shape[-1]
            assert a.shape[-1] == b.shape[-2]
            self.macs += macs
            self.flops += 2 * macs + (out.numel() if op is aten.addmm else 0)
        elif op is aten.linalg_vector_norm:
            self.flops += 2 * args[0].numel()  # square and add per input element
        elif op in PER_OUTPUT:
            self.flops += PER_OUTPUT[op] * out.numel()
        else:
            assert op in FREE, f"aten op {op} is in neither table of this test"
        return out


@st.composite
def swin_configs(draw):
    window = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    return {
        "batch": draw(st.integers(1, 2)),
        "height": draw(st.integers(1, 9)),
        "width": draw(st.integers(1, 9)),
        "heads": draw(st.integers(1, 3)),
        "head_dim": draw(st.integers(1, 4)),
        "window": window,
        "shift": [draw(st.integers(0, window[0] - 1)), draw(st.integers(0, window[1] - 1))],
        "qkv_bias": draw(st.booleans()),
        "proj_bias": draw(st.booleans()),
        "v2": draw(st.booleans()),
    }


def build(cfg):
    cls = swin.ShiftedWindowAttentionV2 if cfg["v2"] else swin.ShiftedWindowAttention
    torch.manual_seed(0)
    module = cls(
        cfg["heads"] * cfg["head_dim"],
        cfg["window"],
        cfg["shift"],
        cfg["heads"],
        qkv_bias=cfg["qkv_bias"],
        proj_bias=cfg["proj_bias"],
    ).eval()
    x = torch.randn(cfg["batch"], cfg["height"], cfg["width"], cfg["heads"] * cfg["head_dim"])
    return module, x


def attention_call(module, x):
    """The arguments ``module.forward`` passes to ``shifted_window_attention``."""
    captured = {}
    real = swin.shifted_window_attention

    def spy(*args, **kwargs):
        captured.update(args=args, kwargs=kwargs)
        return real(*args, **kwargs)

    swin.shifted_window_attention = spy
    try:
        with torch.no_grad():
            module(x)
    finally:
        swin.shifted_window_attention = real
    return captured["args"], captured["kwargs"]


def recorder_count(args, kwargs):
    """What flopcount's op recorder counts for the call on meta tensors (its path before the formula)."""
    args, kwargs = to_meta(args), to_meta(kwargs)
    with OpRecorder("attn") as recorder, on_meta(guard=False):
        swin.shifted_window_attention(*args, **kwargs)
    records = aten_records(recorder.calls)
    assert all(r.counted for r in records)
    return sum(r.macs for r in records), sum(r.flops for r in records)


@SETTINGS
@given(cfg=swin_configs())
def test_swin_window_attention_formula_matches_brute_force_flop_counter_and_recorder(cfg):
    module, x = build(cfg)
    prof = profile(module, x)
    [record] = [r for r in prof.layers if r.type == "shifted_window_attention"]
    assert record.family == "attention" and record.output_shape == tuple(x.shape)

    args, kwargs = attention_call(module, x)
    with torch.no_grad(), BruteCount() as brute:
        out = swin.shifted_window_attention(*args, **kwargs)
    assert tuple(out.shape) == tuple(x.shape)
    assert (record.macs, record.flops) == (brute.macs, brute.flops), cfg

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        swin.shifted_window_attention(*args, **kwargs)
    assert counter.get_total_flops() == 2 * record.macs, cfg

    assert (record.macs, record.flops) == recorder_count(args, kwargs), cfg


def test_swin_window_attention_closed_form_of_a_shifted_swin_t_block():
    """swin_t's first shifted block: 56 x 56 x 96, 7 x 7 windows, 3 heads, shift 3."""
    module = swin.ShiftedWindowAttention(96, [7, 7], [3, 3], 3).eval()
    [record] = [r for r in profile(module, input_shape=(1, 56, 56, 96)).layers if r.type == "shifted_window_attention"]
    windows, tokens, rows = 64, 49, 56 * 56
    scores = windows * 3 * tokens * tokens
    macs = rows * 96 * 288 + rows * 96 * 96 + 2 * scores * 32
    flops = 2 * macs + rows * (288 + 96) + rows * 96 + scores * (1 + 5 + 1) + 5 * windows * tokens * tokens
    assert (record.macs, record.flops) == (macs, flops)
    assert math.prod(record.output_shape) == rows * 96
