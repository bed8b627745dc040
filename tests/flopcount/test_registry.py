"""The formula registry: user formulas, duplicates, overrides, and unknown ops."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from flopcount import Count, DuplicateFormulaError, profile, register_formula, unregister_formula
from flopcount.formulas import FAMILIES, lookup, registered_targets


class Scale(nn.Module):
    """A user module with a learnable scale."""

    def __init__(self, n: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return x * self.weight


def my_gate(x):
    return torch.sigmoid(x) * x


torch.fx.wrap("my_gate")  # a leaf function for fx (must be called at module level)


def test_user_module_formula_makes_it_a_leaf():
    model = nn.Sequential(nn.Linear(4, 4), Scale(4))
    assert [r.type for r in profile(model, input_shape=(2, 4)).layers] == ["Linear", "mul"]

    @register_formula(Scale, family="elementwise")
    def scale_count(call):
        return Count(macs=0, flops=100 * call.out.numel)

    try:
        result = profile(model, input_shape=(2, 4))
        assert [r.type for r in result.layers] == ["Linear", "Scale"]
        assert result.layers[1].flops == 800 and result.layers[1].params == 4
    finally:
        unregister_formula(Scale)
    assert lookup(Scale) is None


def test_user_function_formula():
    class UsesGate(nn.Module):
        def forward(self, x):
            return my_gate(x)

    register_formula(my_gate, family="activation")(lambda call: Count(flops=7 * call.out.numel))
    try:
        result = profile(UsesGate(), input_shape=(3, 5))
        assert result.total_flops == 7 * 15
    finally:
        unregister_formula(my_gate)


def test_duplicate_registration_is_an_error_unless_overridden():
    with pytest.raises(DuplicateFormulaError, match="Conv2d is already registered"):
        register_formula(nn.Conv2d, family="conv")(lambda call: Count())
    original = lookup(nn.Conv2d)
    register_formula(nn.Conv2d, family="conv", override=True)(lambda call: Count(macs=1, flops=2))
    try:
        assert profile(nn.Conv2d(1, 1, 1), input_shape=(1, 1, 2, 2)).total_macs == 1
    finally:
        register_formula(nn.Conv2d, family="conv", override=True)(original.fn)
    assert profile(nn.Conv2d(1, 1, 1), input_shape=(1, 1, 2, 2)).total_macs == 4


def test_bad_family_and_no_target():
    with pytest.raises(ValueError, match="unknown formula family"):
        register_formula(Scale, family="magic")
    with pytest.raises(ValueError, match="at least one target"):
        register_formula(family="conv")


def test_unknown_ops_are_listed_never_silent():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.special.bessel_j0(x) + torch.cummax(x, dim=-1).values

    result = profile(Odd(), input_shape=(2, 8))
    ops = {u.op for u in result.uncounted}
    assert any(op.endswith("aten.special_bessel_j0") for op in ops), ops  # caller>aten op
    assert "cummax>aten.cummax" in ops
    assert 0 < result.coverage < 1
    text = str(result)
    assert "Uncounted ops" in text and "aten.cummax" in text and "Coverage:" in text


def test_every_family_is_used_and_registry_is_large():
    families = {lookup(t).family for t in registered_targets()}
    assert families == set(FAMILIES) - {"other"}
    assert len(registered_targets()) > 500
