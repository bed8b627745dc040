"""Recurrent layers as leaves.

Per time step, layer and direction a cell multiplies the input and the hidden state by
its gate matrices: ``macs = G * H * (I + H)`` with ``G`` = 4 (LSTM), 3 (GRU) or 1 (RNN),
``I`` the layer's input size (``H * directions`` above the first layer) and ``H`` the
hidden size (``proj_size`` for the recurrent input of a projected LSTM, plus the
projection's own ``H * P``). ``flops = 2 * macs`` plus two bias adds per gate unit, the
gate activations (sigmoid 4, tanh 5 flops) and the state update (LSTM 4 per unit:
``c = f*c + i*g``, ``h = o*tanh(c)``; GRU 5 per unit).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from flopcount.formulas.registry import OpCall, register_formula
from flopcount.records import Count

_SIGMOID, _TANH = 4, 5
_GATES = {"LSTM": 4, "GRU": 3}


def _cell_elementwise(kind: str, hidden: int, nonlinearity: str) -> int:
    if kind == "LSTM":
        return hidden * (3 * _SIGMOID + 2 * _TANH + 4)
    if kind == "GRU":
        return hidden * (2 * _SIGMOID + _TANH + 5)
    return hidden * (_TANH if nonlinearity == "tanh" else 1)


def rnn_kind(module: Any) -> str:
    """``"LSTM"``, ``"GRU"`` or ``"RNN"`` for a float or dynamically quantized recurrent module."""
    mode = str(getattr(module, "mode", ""))
    if mode in _GATES:
        return mode
    return "LSTM" if isinstance(module, nn.LSTM) else "GRU" if isinstance(module, nn.GRU) else "RNN"


def recurrent_count(module: Any, input_shape: tuple[int, ...]) -> Count:
    """Cost of a full-sequence recurrent module (its attributes: sizes, layers, directions).

    Works for ``nn.LSTM``/``nn.GRU``/``nn.RNN`` and their dynamically quantized versions
    (``torch.ao.nn.quantized.dynamic.LSTM``), which have the same attributes.
    """
    if len(input_shape) == 2:
        steps, batch = input_shape[0], 1
    elif module.batch_first:
        batch, steps = input_shape[0], input_shape[1]
    else:
        steps, batch = input_shape[0], input_shape[1]
    kind = rnn_kind(module)
    gates = _GATES.get(kind, 1)
    hidden = module.hidden_size
    proj = getattr(module, "proj_size", 0) or 0
    recurrent_size = proj or hidden
    directions = 2 if module.bidirectional else 1
    total = Count()
    for layer in range(module.num_layers):
        input_size = module.input_size if layer == 0 else recurrent_size * directions
        macs = gates * hidden * (input_size + recurrent_size) + hidden * proj
        flops = 2 * macs + _cell_elementwise(kind, hidden, str(getattr(module, "nonlinearity", "tanh")))
        if module.bias:
            flops += 2 * gates * hidden
        total = total + Count(macs, flops).scaled(steps * batch * directions)
    return total


@register_formula(nn.LSTM, nn.GRU, nn.RNN, family="rnn")
def recurrent(call: OpCall) -> Count:
    """Full-sequence ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``."""
    return recurrent_count(call.module_as(nn.RNNBase), call.arg(0, "input").shape)
