"""Typed capture decisions: the fallback reads exception types and op identity, never message text."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import flopcount
from flopcount import CaptureLimitation, InputMismatchError, ShapeMismatchError, profile
from flopcount.cli import main
from flopcount.meta import on_meta

VALUE_READS = {
    "item": (lambda x: int(x.sum().item() > 0), "aten::_local_scalar_dense"),
    "bool": (lambda x: 1 if x.sum() > 0 else 2, "aten::_local_scalar_dense"),
    "mask": (lambda x: x[x > 0].numel(), "boolean-mask indexing"),
    "nonzero": (lambda x: len(torch.nonzero(x)), "aten::nonzero"),
    "unique": (lambda x: torch.unique(x).numel(), "unique"),
    "tolist": (lambda x: len(x.tolist()), "aten::_local_scalar_dense"),
    "numpy": (lambda x: x.detach().numpy().shape[0], r"Tensor\.numpy"),
}


class Reads(nn.Module):
    """A Linear scaled by a Python number computed from tensor values."""

    def __init__(self, read):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.read = read

    def forward(self, x):
        return self.fc(x) * self.read(x)


class WeightReads(nn.Module):
    """The same value reads, of a weight-dependent tensor (the Linear's output)."""

    def __init__(self, read):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.head = nn.Linear(4, 4)
        self.read = read

    def forward(self, x):
        h = self.fc(x)
        return self.head(h) * self.read(h)


@pytest.mark.parametrize("name", sorted(VALUE_READS))
def test_value_reads_of_inputs_need_real_inputs_but_no_real_forward(name):
    read, op = VALUE_READS[name]
    with pytest.raises(CaptureLimitation, match=rf"needs tensor values to run \(CaptureLimitation: .*{op}"):
        profile(Reads(read), input_shape=(3, 8))
    real = profile(Reads(read), torch.randn(3, 8))
    assert real.capture.method == "dispatch" and not real.capture.real_forward
    assert [(r.name, r.macs) for r in real.layers if r.macs] == [("fc", 3 * 8 * 4)]


@pytest.mark.parametrize("name", sorted(VALUE_READS))
def test_value_reads_of_weight_dependent_tensors_need_a_real_run(name):
    read, _ = VALUE_READS[name]
    result = profile(WeightReads(read), torch.randn(3, 8))
    assert result.capture.real_forward and "virtual run failed: CaptureLimitation" in result.capture.reason
    assert "[in module ''" in result.capture.reason or name == "numpy"  # the module that read the value
    assert [(r.name, r.macs) for r in result.layers if r.macs] == [("fc", 3 * 8 * 4), ("head", 3 * 4 * 4)]


def test_on_meta_classifies_by_op_and_type():
    meta = torch.empty(3, 4, device="meta")
    with pytest.raises(CaptureLimitation, match="aten::nonzero needs tensor values"), on_meta():
        torch.nonzero(meta)
    with pytest.raises(CaptureLimitation, match="aten::add mixes meta and cpu tensors"), on_meta():
        meta + torch.ones(4, device="cpu")
    with pytest.raises(RuntimeError) as caught, on_meta():  # a shape error stays a shape error
        meta @ meta
    assert not isinstance(caught.value, CaptureLimitation)
    with on_meta():  # real tensors keep their values inside the guard
        assert torch.ones(2, device="cpu").sum().item() == 2.0


def test_error_text_does_not_decide_the_fallback():
    """An error that merely mentions meta or nonzero is the model's own error, not a capture limit."""

    class Fails(nn.Module):
        def forward(self, x):
            raise RuntimeError("meta data-dependent nonzero item() _local_scalar_dense")

    with pytest.raises(ShapeMismatchError, match="model failed on the example inputs: RuntimeError: meta"):
        profile(Fails(), torch.randn(2, 3))


def test_error_types():
    assert issubclass(InputMismatchError, TypeError) and issubclass(ShapeMismatchError, ValueError)
    assert flopcount.errors.CaptureLimitation is CaptureLimitation
    assert {"CaptureLimitation", "InputMismatchError", "errors"} <= set(flopcount.__all__)
    with pytest.raises(InputMismatchError, match=r"do not match Linear\.forward"):
        profile(nn.Linear(2, 2), torch.randn(1, 2), torch.randn(1, 2))
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(100, 10))
    with pytest.raises(ShapeMismatchError) as caught:
        profile(model, input_shape=(1, 3, 8, 8))
    assert caught.value.layer == "2"


class Gate(nn.Module):
    """Value-dependent control flow (the command line only has input shapes)."""

    def forward(self, x):
        return x if x.sum() > 0 else -x


def test_cli_reports_a_capture_limitation_in_one_line(capsys):
    assert main([f"{__name__}:Gate", "--input-shape", "2,3"]) == 2
    err = capsys.readouterr().err
    assert "Gate needs tensor values" in err and len(err.strip().splitlines()) == 1
