"""skinbench.cost: flopcount's exact counts, phase-wise trainable parameters, measured speed, epoch times."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from flopcount import profile
from skinbench.cost import SpeedOptions, count, epoch_seconds, measure_speed, model_cost
from skinbench.models import build_model


def _flopcount(name: str, size: int, outputs: int = 7):
    with torch.device("meta"):
        model = build_model(name, outputs, pretrained=False, image_size=size)
    return profile(model, input_shape=(1, 3, size, size))


def test_custom_cnn_counts_are_table_ii_at_224() -> None:
    c = count("custom_cnn", image_size=224)
    assert (c.params, c.trainable) == (25_785_415, 25_785_415)
    assert c.macs_paper == c.macs_torchvision == 531_465_984  # eqs. 10-11 on Table II
    assert c.macs == 531_465_984 and c.flops == _flopcount("custom_cnn", 224).total_flops
    assert c.coverage == 1.0


@pytest.mark.parametrize(("name", "size"), [("resnet50_tl", 224), ("resnet18", 64)])
def test_counts_equal_flopcount_in_every_convention(name: str, size: int) -> None:
    p = _flopcount(name, size)
    c = count(name, image_size=size)
    assert (c.params, c.macs, c.flops) == (p.total_params, p.total_macs, p.total_flops)
    assert c.macs_torchvision == p.using("torchvision").total_macs
    assert c.macs_paper == p.using("paper").total_macs


def test_trainable_is_head_plus_last_stage_for_transfer_models() -> None:
    with torch.device("meta"):
        m = build_model("resnet50_tl", 7, pretrained=False, image_size=224)
    layer4 = sum(p.numel() for p in m.backbone.layer4.parameters())
    head = sum(p.numel() for p in m.head.parameters())
    assert head == 2048 * 256 + 256 + 256 * 7 + 7
    assert count("resnet50_tl").trainable == layer4 + head
    assert count("resnet50_tl", unfreeze_stages=0).trainable == head
    assert count("resnet50_tl", unfreeze_stages=None).trainable == 24_034_375


def test_measure_speed_reports_positive_medians_and_device() -> None:
    s = measure_speed(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)), 8, batch=4, warmup=1, repeats=3)
    assert s.latency_ms > 0 and s.throughput > 0
    assert (s.batch, s.repeats, s.peak_memory_mb) == (4, 3, None)  # no allocator statistics on CPU
    assert s.device.startswith("cpu: ")


@pytest.mark.parametrize("kw", [dict(batch=0), dict(repeats=0), dict(warmup=-1)])
def test_measure_speed_rejects_bad_settings(kw: dict) -> None:
    with pytest.raises(ValueError, match="need batch"):
        measure_speed(nn.Flatten(), 4, **kw)


def test_model_cost_adds_speed_columns_and_restores_threads() -> None:
    before = torch.get_num_threads()
    row = model_cost("custom_cnn", image_size=16, speed=SpeedOptions(batch=2, warmup=0, repeats=1, threads=1))
    assert torch.get_num_threads() == before
    assert row["params"] == count("custom_cnn", image_size=16).params
    assert row["device"].startswith("cpu: ") and row["device"].endswith(", 1 torch threads")
    assert set(model_cost("custom_cnn", image_size=16)) >= {"params", "macs", "flops"}
    assert "latency_ms" not in model_cost("custom_cnn", image_size=16)


def test_epoch_seconds_per_phase() -> None:
    h = pd.DataFrame({"phase": ["head", "finetune", "finetune"], "seconds": [2.0, 4.0, 8.0]})
    assert epoch_seconds(h) == {"train_s": 14.0, "epoch_s": 14 / 3, "head_epoch_s": 2.0, "finetune_epoch_s": 6.0}
    empty = epoch_seconds(pd.DataFrame({"phase": [], "seconds": []}))
    assert empty == {"train_s": 0.0} and not any(math.isnan(v) for v in empty.values())
