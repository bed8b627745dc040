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

from torch import nn

from flopcount.formulas.registry import OpCall, register_formula
from flopcount.records import Count

_SIGMOID, _TANH = 4, 5


def _cell_elementwise(module: nn.RNNBase, hidden: int) -> int:
    if isinstance(module, nn.LSTM):
        return hidden * (3 * _SIGMOID + 2 * _TANH + 4)
    if isinstance(module, nn.GRU):
        return hidden * (2 * _SIGMOID + _TANH + 5)
    return hidden * (_TANH if module.nonlinearity == "tanh" else 1)


@register_formula(nn.LSTM, nn.GRU, nn.RNN, family="rnn")
def recurrent(call: OpCall) -> Count:
    """Full-sequence ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``."""
    module = call.module_as(nn.RNNBase)
    shape = call.arg(0, "input").shape
    if len(shape) == 2:
        steps, batch = shape[0], 1
    elif module.batch_first:
        batch, steps = shape[0], shape[1]
    else:
        steps, batch = shape[0], shape[1]
    gates = {nn.LSTM: 4, nn.GRU: 3}.get(type(module), 1)
    hidden = module.hidden_size
    proj = getattr(module, "proj_size", 0) or 0
    recurrent_size = proj or hidden
    directions = 2 if module.bidirectional else 1
    total = Count()
    for layer in range(module.num_layers):
        input_size = module.input_size if layer == 0 else recurrent_size * directions
        macs = gates * hidden * (input_size + recurrent_size) + hidden * proj
        flops = 2 * macs + _cell_elementwise(module, hidden)
        if module.bias:
            flops += 2 * gates * hidden
        total = total + Count(macs, flops).scaled(steps * batch * directions)
    return total
