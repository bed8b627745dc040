"""Fast Fourier transforms: ``5 N log2 N`` FLOPs per complex transform of length ``N``.

The convention is the classic operation count of a radix-2 Cooley-Tukey FFT (the one
FFTW's benchmarks use to report "mflops"): a complex transform of ``N`` points costs
``5 N log2 N`` real FLOPs, whatever the algorithm torch's backend picks (and for any
``N``, powers of two or not). A transform of real input (``rfft``) or to real output
(``irfft``) costs half of the complex one, ``2.5 N log2 N``. A multi-dimensional
transform is one transform per dimension: over a signal of ``numel`` points,
``5 * numel * sum(log2 N_d)`` (halved for real transforms). FFTs have no MACs.

Counted at the aten level (``_fft_r2c``, ``_fft_c2r``, ``_fft_c2c``), which every
``torch.fft`` function and ``torch.stft`` reach, on both capture paths.
"""

from __future__ import annotations

import math

import torch

from flopcount.formulas.registry import OpCall, register_formula
from flopcount.records import Count, Shape

aten = torch.ops.aten

#: FLOPs of a complex transform of N points, per N log2 N.
FFT_FLOPS_PER_NLOGN = 5


def fft_count(signal: Shape, dims: list[int], *, real: bool) -> Count:
    """FLOPs of transforming ``signal`` (its shape, in the complex or real domain) along ``dims``.

    Example (a 1-d complex FFT of 1024 points, and the real one):
        >>> fft_count((1024,), [0], real=False), fft_count((1024,), [0], real=True)
        (Count(macs=0, flops=51200), Count(macs=0, flops=25600))
    """
    numel = math.prod(signal)
    logs = sum(math.log2(signal[d]) for d in dims if signal[d] > 1)
    flops = FFT_FLOPS_PER_NLOGN * numel * logs
    return Count(0, round(flops / 2 if real else flops))


@register_formula(aten._fft_r2c, family="fft")
def fft_r2c(call: OpCall) -> Count:
    """``_fft_r2c(real input, dim, normalization, onesided)``: the input is the signal."""
    return fft_count(call.args[0].shape, list(call.args[1]), real=True)


@register_formula(aten._fft_c2r, family="fft")
def fft_c2r(call: OpCall) -> Count:
    """``_fft_c2r(complex input, dim, normalization, last_dim_size)``: the real output is the signal."""
    return fft_count(call.out.shape, list(call.args[1]), real=True)


@register_formula(aten._fft_c2c, family="fft")
def fft_c2c(call: OpCall) -> Count:
    """``_fft_c2c(complex input, dim, normalization, forward)``."""
    return fft_count(call.args[0].shape, list(call.args[1]), real=False)
