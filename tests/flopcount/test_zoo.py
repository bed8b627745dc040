"""The zoo: 100+ models people profile, built from configs with random weights (no downloads).

For every model of :mod:`benchmarks.zoo_models` (timm, Hugging Face transformers,
torchvision detection/segmentation/video/optical flow, TorchScript, compiled, fp16/bf16
and int8 models, FFT and LSTM blocks):

* ``profile()`` raises nothing;
* nothing is left behind: profiled before it ever ran, the model's first real forward
  gives the output of an untouched copy's; profiled again after that forward, the next
  forward gives the same output; no fx ``Proxy`` is reachable from the model; a third
  profile has the second's records, and all three the same path, MACs and parameters;
* coverage is at least 99% (or the entry documents why not);
* ``total_params`` equals the model's unique parameters (packed int8 weights included);
* the MACs of conv, linear, matmul, attention, mixture-of-experts and recurrent records
  equal FlopCounterMode's (FLOPs / 2) on the same shapes, on meta where the model runs
  there, else on CPU with FlopCounterMode's own SDPA formula mapped to the CPU kernel it
  misses (see :func:`benchmarks.zoo_models.flop_counter_macs`); an int8 model against
  its float source (FlopCounterMode counts no quantized op);
* a model whose control flow depends only on its inputs is profiled without a real
  forward pass (``Profile.capture.real_forward`` is False).

Small configs and 64-96 px images keep the module at a few minutes on two cores.
"""

from __future__ import annotations

import collections
import copy
import logging
import warnings

import pytest
import torch
from torch.utils._pytree import tree_leaves

from benchmarks.zoo_models import COMPARED_FAMILIES, ZooModel, flop_counter_macs, reachable_proxies, zoo
from flopcount import profile
from flopcount.params import parameter_counts

ZOO = zoo()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
OPTIONAL_SOURCES = frozenset({"timm", "transformers", "torchvision"})


def _forward(model, args, kwargs):
    with torch.no_grad():
        return model(*args, **kwargs)


def _same_output(a, b) -> bool:
    """Equal tensors; other leaves (a key-value cache object, say) of the same type."""
    left, right = tree_leaves(a), tree_leaves(b)
    return len(left) == len(right) and all(
        torch.equal(x, y) if isinstance(x, torch.Tensor) else type(x) is type(y) for x, y in zip(left, right)
    )


def _build(entry: ZooModel):
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return entry.build()
    except ModuleNotFoundError as exc:  # flopcount needs only torch: the zoo's model sources are optional
        if exc.name not in OPTIONAL_SOURCES:
            raise
        pytest.skip(f"{entry.name} is built with {exc.name}, which is not installed (the zoo extra)")


@pytest.mark.parametrize("entry", ZOO, ids=[entry.name for entry in ZOO])
def test_zoo_model(entry: ZooModel):
    model, args, kwargs = _build(entry)
    twin = copy.deepcopy(model)  # never run, as the model: its first forward is the reference
    first = profile(model, *args, **kwargs)  # on a model never run (libraries install hooks on the first call)
    assert reachable_proxies(model) == []
    before = _forward(model, args, kwargs)
    assert _same_output(_forward(twin, args, kwargs), before), "profile() changed the model's first forward"
    second = profile(model, *args, **kwargs)  # on a model run for real
    assert reachable_proxies(model) == []
    assert _same_output(before, _forward(model, args, kwargs)), "a real forward after profile() changed"
    assert profile(model, *args, **kwargs).layers == second.layers
    # A model that sets itself up on its first call (torchvision's MultiScaleRoIAlign: the
    # levels' scales) runs that setup in the first profile only: a few scalar FLOPs.
    assert (second.capture, second.total_macs, second.total_params) == (
        first.capture,
        first.total_macs,
        first.total_params,
    )
    if "coverage" not in entry.notes:
        assert first.coverage >= 0.99, first.uncounted
    assert first.total_params == parameter_counts(model)[0]
    if entry.input_only:
        assert not first.capture.real_forward, first.capture.reason
    ours = sum(r.macs for r in first.layers if r.family in COMPARED_FAMILIES)
    reference = (
        _build(ZooModel(entry.name, entry.family, entry.reference)) if entry.reference else (model, args, kwargs)
    )
    peer, where = flop_counter_macs(*reference)
    if "peer" not in entry.notes:
        assert ours == peer, f"flopcount {ours:,} vs FlopCounterMode {peer:,} on {where}"


def test_the_zoo_covers_the_families_people_profile():
    families = collections.Counter(entry.family for entry in ZOO)
    assert len(ZOO) >= 100 and len({entry.name for entry in ZOO}) == len(ZOO)
    assert families["timm"] >= 40 and families["hf"] >= 15
    assert {"detection", "segmentation", "video", "flow", "script", "compiled", "lowp", "int8"} <= set(families)
    hf = {entry.name for entry in ZOO if entry.family == "hf"}
    # encoder, decoder, encoder-decoder, vision, speech, multimodal, mixture of experts
    assert {"hf/bert", "hf/llama", "hf/t5", "hf/vit", "hf/whisper", "hf/clip", "hf/mixtral"} <= hf
