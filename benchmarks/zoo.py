"""Reference models shared by the benchmarks and the tests.

* :class:`PaperCNN` - Table II of the paper, written out layer by layer.
* :class:`FunctionalCNN` - the same kind of network using only functional calls
  (``F.conv2d`` with ``nn.Parameter`` weights, ``torch.matmul``), which module-hook
  counters miss.
* :class:`SDPABlock` - a pre-norm transformer block using ``F.scaled_dot_product_attention``.
* :func:`llama_7b` - a decoder-only transformer with LLaMA-7B shapes (build it on meta).
* :class:`InputSteered`, :class:`WeightSteered` - the Table II CNN with control flow on
  the input's values (a branch) and on a weight's value (a loop sized by ``.item()``).

Each comes with its exact MAC count derived by hand (``*_reference_macs``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PaperCNN(nn.Module):
    """Table II: 3 x [Conv 3x3 same + ReLU + MaxPool 2] (32/64/128), Dense 256, Dropout, Dense 7."""

    def __init__(self, num_classes: int = 7, image_size: int = 224) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for filters in (32, 64, 128):
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = filters
        self.features = nn.Sequential(*layers)
        flat = 128 * (image_size // 8) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def paper_cnn_reference_macs(size: int = 224) -> int:
    """Eq. 10 for each conv (H*W*Cin*Cout*9) plus eq. 11 for each dense layer."""
    convs = size * size * 3 * 32 * 9 + (size // 2) ** 2 * 32 * 64 * 9 + (size // 4) ** 2 * 64 * 128 * 9
    return convs + 128 * (size // 8) ** 2 * 256 + 256 * 7


class InputSteered(nn.Module):
    """The Table II CNN, then one more Dense 7 when the input's mean is positive."""

    def __init__(self) -> None:
        super().__init__()
        self.net = PaperCNN()
        self.extra = nn.Linear(7, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        if x.mean() > 0:  # the branch reads the input's values
            y = self.extra(y)
        return y


class WeightSteered(nn.Module):
    """The Table II CNN, then a Dense 7 applied as many times as a (frozen) weight says."""

    def __init__(self, steps: int = 3) -> None:
        super().__init__()
        self.net = PaperCNN()
        self.refine = nn.Linear(7, 7)
        self.steps = nn.Parameter(torch.tensor(float(steps)), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        for _ in range(int(self.steps.item())):  # the loop reads a weight's value
            y = self.refine(y)
        return y


def steered_reference_macs(extra_dense: int, size: int = 224) -> int:
    """:func:`paper_cnn_reference_macs` plus ``extra_dense`` Dense 7 -> 7 layers."""
    return paper_cnn_reference_macs(size) + extra_dense * 7 * 7


class FunctionalCNN(nn.Module):
    """Conv -> ReLU -> conv -> global pool -> matmul head, written with functional calls only."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(16, 3, 3, 3))
        self.b1 = nn.Parameter(torch.zeros(16))
        self.w2 = nn.Parameter(torch.randn(32, 16, 3, 3))
        self.head = nn.Parameter(torch.randn(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(x, self.w1, self.b1, padding=1))
        x = F.conv2d(x, self.w2, stride=2, padding=1)
        x = x.mean(dim=(2, 3))
        return torch.matmul(x, self.head)


def functional_cnn_reference_macs(size: int = 224) -> int:
    """MACs of :class:`FunctionalCNN` at batch 1."""
    half = (size + 1) // 2
    return size * size * 16 * 3 * 9 + half * half * 32 * 16 * 9 + 32 * 10


class SDPABlock(nn.Module):
    """Pre-norm transformer block: LayerNorm, qkv Linear, SDPA, out Linear, LayerNorm, MLP."""

    def __init__(self, dim: int = 512, heads: int = 8, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = (
            self.qkv(self.norm1(x)).reshape(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        )
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(attn.transpose(1, 2).reshape(batch, length, dim))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


def sdpa_block_reference_macs(batch: int, length: int, dim: int = 512, mlp_ratio: int = 4) -> int:
    """Linear layers (qkv, proj, fc1, fc2) plus the two attention products."""
    tokens = batch * length
    linears = tokens * dim * (3 * dim + dim + 2 * mlp_ratio * dim)
    return linears + 2 * batch * length * length * dim


class RMSNorm(nn.Module):
    """RMSNorm as LLaMA writes it (functional ops, so every op is visible)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class DecoderLayer(nn.Module):
    """LLaMA decoder layer: RMSNorm, attention with rotary embeddings, SwiGLU MLP."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = RMSNorm(dim)
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.ffn_norm = RMSNorm(dim)
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        h = self.attention_norm(x)
        shape = (batch, length, self.heads, dim // self.heads)
        q = self.wq(h).view(shape).transpose(1, 2)
        k = self.wk(h).view(shape).transpose(1, 2)
        v = self.wv(h).view(shape).transpose(1, 2)
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.wo(attn.transpose(1, 2).reshape(batch, length, dim))
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Decoder(nn.Module):
    """Decoder-only transformer (token embedding, N layers, final norm, LM head)."""

    def __init__(self, vocab: int, dim: int, layers: int, heads: int, hidden: int, max_len: int = 4096) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, hidden) for _ in range(layers))
        self.norm = RMSNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        head_dim = dim // heads
        freqs = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        angles = torch.outer(torch.arange(max_len).float(), freqs)
        self.register_buffer("cos", torch.cat((angles, angles), -1).cos(), persistent=False)
        self.register_buffer("sin", torch.cat((angles, angles), -1).sin(), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        x = self.embed(tokens)
        cos, sin = self.cos[:length], self.sin[:length]
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))


LLAMA_7B = dict(vocab=32000, dim=4096, layers=32, heads=32, hidden=11008)


def llama_7b() -> Decoder:
    """A decoder with LLaMA-7B shapes (6,738,415,616 parameters); build it under ``torch.device('meta')``."""
    return Decoder(**LLAMA_7B)


def llama_reference_macs(
    batch: int, length: int, vocab: int = 32000, dim: int = 4096, layers: int = 32, hidden: int = 11008
) -> int:
    """Projections, SwiGLU MLP and LM head, plus the two attention products per layer."""
    tokens = batch * length
    per_layer = tokens * (4 * dim * dim + 3 * dim * hidden) + 2 * batch * length * length * dim
    return layers * per_layer + tokens * dim * vocab
