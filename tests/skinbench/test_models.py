"""Model registry: Table II parameter counts, the transfer wrapper's phases, pretrained weights."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn

from skinbench.models import (
    CustomCNN,
    PretrainedUnavailable,
    TransferModel,
    UnknownModelError,
    available_models,
    build_model,
)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_custom_cnn_matches_table_ii_at_224() -> None:
    model = build_model("custom_cnn", 7, pretrained=False, image_size=224)
    assert isinstance(model, CustomCNN)
    assert _count(model) == 25_785_415
    per_layer = [_count(m) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert per_layer == [896, 18_496, 73_856, 25_690_368, 1_799]
    assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 7)


@pytest.mark.parametrize("size", [32, 64, 100])
def test_custom_cnn_flatten_follows_input_size(size: int) -> None:
    model = CustomCNN(7, image_size=size)
    dense = model.classifier[1]
    assert dense.in_features == 128 * (size // 8) ** 2
    assert model(torch.zeros(2, 3, size, size)).shape == (2, 7)


def test_custom_cnn_binary_has_one_logit() -> None:
    assert build_model("custom_cnn", 1, pretrained=False, image_size=32)(torch.zeros(1, 3, 32, 32)).shape == (1, 1)


@pytest.mark.parametrize(
    "name", ["mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x1_0", "squeezenet1_0", "resnet18"]
)
def test_torchvision_models_get_the_same_head(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 7, pretrained=False, image_size=32)
    assert isinstance(model, TransferModel)
    assert model.head[0].in_features == model.feature_dim
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    assert model.features(x).shape == (2, model.feature_dim)
    assert model(x).shape == (2, 7)
    assert model.head[-1].out_features == 7


def test_registry_lists_paper_models_first_and_rejects_unknown_names() -> None:
    names = available_models()
    assert names[:2] == ["custom_cnn", "resnet50_tl"]
    assert {"mobilenet_v3_small", "efficientnet_b0", "resnet18"} <= set(names)
    assert "vit_b_16" not in names
    with pytest.raises(UnknownModelError, match="resnet50"):
        build_model("resnet5", 7, pretrained=False, image_size=64)


def test_phase_freezing_of_resnet() -> None:
    model = build_model("resnet18", 7, pretrained=False, image_size=32)
    assert model.stages == ["layer1", "layer2", "layer3", "layer4"]

    model.freeze_backbone()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if n.startswith("head.")}
    model.train()
    assert model.head.training and not model.backbone.training  # frozen BN keeps its statistics

    assert model.unfreeze_last(1) == ["layer4"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if n.startswith(("head.", "backbone.layer4."))}
    model.train()
    assert model.backbone.layer4[0].bn1.training
    assert not model.backbone.bn1.training and not model.backbone.layer3[0].bn1.training

    assert model.unfreeze_last(2) == ["layer3", "layer4"]
    assert model.backbone.layer3[0].conv1.weight.requires_grad
    assert not model.backbone.conv1.weight.requires_grad


def test_mobilenet_trailing_projection_joins_last_stage() -> None:
    model = build_model("mobilenet_v3_small", 7, pretrained=False, image_size=32)
    model.unfreeze_last(1)
    # MobileNetV3 keeps its pretrained 576->1024 projection in the backbone, after the last stage.
    assert model.backbone.classifier[0].weight.requires_grad
    assert model.backbone.features[-1][0].weight.requires_grad
    assert not model.backbone.features[-2].block[0][0].weight.requires_grad


def _fail_download(url: str, *args, **kwargs):
    raise urllib.error.URLError("no network in this test")


def test_pretrained_unavailable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", _fail_download)
    with pytest.raises(PretrainedUnavailable, match=r"resnet50 .*could not be obtained: .*no network") as exc:
        build_model("resnet50_tl", 7, pretrained=True, image_size=64)
    assert "\n" not in str(exc.value)


def test_pretrained_weights_are_loaded_through_the_weights_api(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    torch.manual_seed(1)
    reference = torchvision.models.resnet18().state_dict()
    urls = []

    def fake_download(url: str, *args, **kwargs):
        urls.append(url)
        return reference

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", fake_download)
    model = build_model("resnet18", 7, pretrained=True, image_size=32)
    assert urls == [torchvision.models.ResNet18_Weights.DEFAULT.url]
    assert torch.equal(model.backbone.layer4[1].conv2.weight, reference["layer4.1.conv2.weight"])
    assert "fc.weight" not in model.backbone.state_dict()  # ImageNet layer replaced by the new head
