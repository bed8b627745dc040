"""Functional calls, attention, tied weights, frozen parameters and buffers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.zoo import (
    Decoder,
    FunctionalCNN,
    SDPABlock,
    functional_cnn_reference_macs,
    llama_reference_macs,
    sdpa_block_reference_macs,
)
from flopcount import profile


def test_functional_cnn_counted_in_full():
    result = profile(FunctionalCNN(), input_shape=(1, 3, 64, 64))
    assert result.total_macs == functional_cnn_reference_macs(64)
    assert result.coverage == 1.0
    conv = [r for r in result.layers if r.type == "conv2d"]
    assert [r.params for r in conv] == [16 * 27 + 16, 32 * 16 * 9]


def test_hand_written_attention():
    class Attention(nn.Module):
        def __init__(self, dim=32):
            super().__init__()
            self.q = nn.Parameter(torch.randn(dim, dim))
            self.k = nn.Parameter(torch.randn(dim, dim))
            self.v = nn.Parameter(torch.randn(dim, dim))

        def forward(self, x):
            q, k, v = x @ self.q, torch.matmul(x, self.k), torch.mm(x[0], self.v).unsqueeze(0)
            scores = torch.bmm(q, k.transpose(1, 2)) / q.shape[-1] ** 0.5
            return torch.einsum("bij,bjd->bid", scores.softmax(-1), v)

    result = profile(Attention(), input_shape=(1, 10, 32))
    length, dim = 10, 32
    assert result.total_macs == 3 * length * dim * dim + 2 * length * length * dim
    assert result.uncounted == ()


def test_sdpa_block_and_linear_on_3d_input():
    result = profile(SDPABlock(dim=64, heads=4), input_shape=(2, 16, 64))
    assert result.total_macs == sdpa_block_reference_macs(2, 16, dim=64)
    qkv = next(r for r in result.layers if r.name == "qkv")
    assert qkv.macs == 2 * 16 * 64 * 192 and qkv.input_shapes == ((2, 16, 64),)


def test_decoder_with_shape_unpacking_traces_with_fx():
    model = Decoder(vocab=100, dim=64, layers=2, heads=4, hidden=128)
    result = profile(model, torch.zeros(1, 16, dtype=torch.long))
    assert result.capture.method == "fx"
    assert result.total_macs == llama_reference_macs(1, 16, vocab=100, dim=64, layers=2, hidden=128)


def test_multihead_attention_module():
    mha = nn.MultiheadAttention(64, 4, batch_first=True)
    x = torch.randn(2, 10, 64)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    result = profile(Wrap(), x)
    tokens = 2 * 10
    assert result.total_macs == 4 * tokens * 64 * 64 + 2 * 2 * 10 * 10 * 64
    assert result.layers[0].params == 4 * 64 * 64 + 4 * 64


def test_tied_weights_counted_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 16)
            self.head = nn.Linear(16, 100, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, tokens):
            return self.head(self.embed(tokens))

    result = profile(Tied(), torch.zeros(1, 5, dtype=torch.long))
    assert result.total_params == 1600
    assert [r.params for r in result.layers] == [1600, 0]
    assert result.total_macs == 5 * 16 * 100


def test_module_called_twice_counts_params_once_and_macs_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return self.fc(F.relu(self.fc(x)))

    result = profile(Twice(), input_shape=(3, 8))
    fc = [r for r in result.layers if r.name == "fc"]
    assert [r.params for r in fc] == [72, 0] and [r.macs for r in fc] == [192, 192]


def test_trainable_frozen_split_and_buffers_are_not_params():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    for p in model[0].parameters():
        p.requires_grad_(False)
    result = profile(model, input_shape=(1, 3, 4, 4))
    assert result.total_params == 16 + 8 + 130
    assert result.frozen_params == 16 and result.trainable_params == 138


def test_tuple_and_dict_inputs_and_kwargs():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 3)
            self.b = nn.Linear(5, 3)

        def forward(self, pair, extra=None, scale: float = 1.0):
            out = self.a(pair[0]) + self.b(pair[1])
            if extra is not None:
                out = out + self.a(extra["x"])
            return out * scale

    model = TwoInputs()
    pair = (torch.randn(2, 4), torch.randn(2, 5))
    plain = profile(model, pair)
    assert plain.total_macs == 2 * 4 * 3 + 2 * 5 * 3
    with_dict = profile(model, pair, extra={"x": torch.randn(2, 4)}, scale=2.0)
    assert with_dict.total_macs == plain.total_macs + 2 * 4 * 3
    assert with_dict.input_shapes == ((2, 4), (2, 5), (2, 4))


def test_lstm_and_gru_are_leaves():
    model = nn.LSTM(input_size=10, hidden_size=20, num_layers=2, batch_first=True)
    result = profile(model, input_shape=(3, 7, 10))
    per_step = 4 * 20 * (10 + 20) + 4 * 20 * (20 + 20)
    assert result.total_macs == 3 * 7 * per_step
    assert [r.type for r in result.layers] == ["LSTM"]
    gru = profile(nn.GRU(10, 20, bidirectional=True), input_shape=(7, 3, 10))
    assert gru.total_macs == 2 * 7 * 3 * 3 * 20 * 30
