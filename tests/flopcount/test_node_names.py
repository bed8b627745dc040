"""flopcount's node names against torch.fx's own naming (the oracle), on any sequence of candidates."""

from __future__ import annotations

import operator
import os

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import fx
from torch.fx.graph import _Namespace

from flopcount.capture.node_names import NodeNames, base_name

# parts that exercise every branch of fx's cleaning: numeric suffixes, a leading digit,
# characters illegal in identifiers, keywords and builtins (renamed), the empty string
_PARTS = st.sampled_from(
    [
        "add",
        "add_1",
        "add_2",
        "conv",
        "0",
        "1",
        "layer1",
        "x_1",
        "input",
        "list",
        "for",
        "_",
        "a.b",
        "",
        "é",
        "-",
        "__x",
    ]
)
_CANDIDATES = st.lists(_PARTS, min_size=1, max_size=4).map(lambda parts: "".join(parts))


@settings(max_examples=int(os.environ.get("HYP_N", "200")), deadline=None)
@given(st.lists(_CANDIDATES, max_size=30))
def test_names_equal_fx_namespace(candidates: list[str]) -> None:
    ours, theirs = NodeNames(), _Namespace()
    assert [ours.create(c) for c in candidates] == [theirs.create_name(c, None) for c in candidates]


def test_base_name_equals_fx_for_functions_methods_and_paths() -> None:
    graph = fx.Graph()
    for target in (operator.add, torch.conv2d, torch.nn.functional.relu, "layer1.0.conv1", "__getitem__", "view"):
        assert base_name(target) == graph._target_to_str(target)


def test_traced_node_names_equal_symbolic_trace() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.input = torch.nn.ReLU()  # a module named like a builtin

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.input(self.conv(x))
            return torch.relu(y + 1) + y.sum(dim=1, keepdim=True)

    from flopcount import profile

    expected = [
        n.name for n in fx.symbolic_trace(Net()).graph.nodes if n.op in ("call_module", "call_function", "call_method")
    ]
    assert [r.node for r in profile(Net(), input_shape=(1, 3, 8, 8)).raw_layers] == expected
