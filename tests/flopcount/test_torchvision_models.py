"""Every torchvision classification model against the numbers in its weights' metadata.

``weights.meta['num_params']`` must equal ``total_params`` exactly; ``weights.meta['_ops']``
(torchvision's "GFLOPS", which are GMACs of conv/linear/matmul/attention, printed with 3
decimals) must match the ``torchvision`` convention within 0.1%, or within the rounding of
the printed value for the smallest models (where 0.0005 GMACs exceeds 0.1%).
Models are built on the meta device (no weights are downloaded or allocated).
"""

from __future__ import annotations

import contextlib
import warnings
from unittest import mock

import pytest
import torch

torchvision = pytest.importorskip("torchvision")
from torchvision.models._api import WeightsEnum  # noqa: E402

from flopcount import profile  # noqa: E402

MODELS = torchvision.models.list_models(module=torchvision.models)


def _keep(tensor, *args, **kwargs):
    return tensor


@contextlib.contextmanager
def _no_weights():
    """Build models "as their weights expect" without downloading the weights."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(WeightsEnum, "get_state_dict", lambda self, *a, **k: {}))
        stack.enter_context(mock.patch.object(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None))
        yield


def build(name: str):
    weights = torchvision.models.get_model_weights(name).DEFAULT
    with _no_weights(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.device("meta"):
                model = torchvision.models.get_model(name, weights=weights)
        except NotImplementedError:  # regnet computes widths with tensors at build time
            with contextlib.ExitStack() as stack:
                for init in [f for f in dir(torch.nn.init) if f.endswith("_") and not f.startswith("_")]:
                    stack.enter_context(mock.patch.object(torch.nn.init, init, _keep))
                model = torchvision.models.get_model(name, weights=weights)
    return model, weights


def test_model_list_is_complete():
    assert len(MODELS) >= 80
    assert {"resnet50", "vit_b_16", "swin_t", "maxvit_t", "regnet_y_128gf"} <= set(MODELS)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_params_and_macs_match_torchvision_metadata(name):
    model, weights = build(name)
    size = weights.transforms().crop_size[0]
    result = profile(model, input_shape=(1, 3, size, size), convention="torchvision")
    assert result.total_params == weights.meta["num_params"]
    reference = weights.meta["_ops"] * 1e9
    tolerance = max(1e-3 * reference, 0.5e6)
    assert abs(result.total_macs - reference) <= tolerance, (result.total_macs, reference)
    assert result.capture.method == "fx", result.capture
    assert result.uncounted == ()
