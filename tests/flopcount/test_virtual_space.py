"""The virtual run's shortcuts past the fake mode give what the fake mode gives."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from flopcount.capture.recorder import OpRecorder
from flopcount.virtual import VirtualSpace

VIEWS = {
    "view": lambda x: x.view(6, 4),
    "reshape": lambda x: x.reshape(4, 6),
    "transpose": lambda x: x.transpose(0, 2),
    "permute": lambda x: x.permute(2, 0, 1),
    "unsqueeze": lambda x: x.unsqueeze(1),
    "slice": lambda x: x[:, 1:],
    "select": lambda x: x[1],
    "expand": lambda x: x[:, :1].expand(2, 5, 4),
    "split": lambda x: x.split(1, dim=1)[2],
    "unbind": lambda x: x.unbind(0)[1],
    "detach": lambda x: x.detach(),
    "t": lambda x: x[0].t(),
}


def run(fn, shortcut: bool):
    """``fn(weight)`` on a fake parameter under the recorder; the output and the recorded ops."""
    space = VirtualSpace(torch.device("cpu"))
    if not shortcut:
        space._view = lambda func, args, kwargs: None  # every view op through the fake mode
    weight = space.parameter(nn.Parameter(torch.randn(2, 3, 4)))
    with torch.no_grad(), OpRecorder(runner=space.run) as recorder:
        out = fn(weight)
    return weight, out, [(str(c.op), c.input_shapes, c.output_shape) for c in recorder.calls]


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_view_ops_match_the_fake_mode_and_share_storage(name):
    weight, out, calls = run(VIEWS[name], shortcut=True)
    _, expected, expected_calls = run(VIEWS[name], shortcut=False)
    assert type(out) is type(expected)
    assert (out.shape, out.stride(), out.storage_offset(), out.dtype, out.device) == (
        expected.shape,
        expected.stride(),
        expected.storage_offset(),
        expected.dtype,
        expected.device,
    )
    assert (out.requires_grad, out._is_view()) == (expected.requires_grad, expected._is_view())
    assert out.untyped_storage()._cdata == weight.untyped_storage()._cdata  # a view of the weight, as in the fake mode
    assert calls == expected_calls


def test_a_tensor_resized_in_place_by_the_fake_mode_is_not_viewed_from_its_old_layout():
    def fn(x):
        x.unsqueeze_(0)  # in place: the fake mode changes x's shape
        return x.view(24), torch.zeros_like(x)

    _, (flat, zeros), calls = run(fn, shortcut=True)
    _, (flat_ref, zeros_ref), calls_ref = run(fn, shortcut=False)
    assert flat.shape == flat_ref.shape == (24,) and zeros.shape == zeros_ref.shape == (1, 2, 3, 4)
    assert calls == calls_ref
