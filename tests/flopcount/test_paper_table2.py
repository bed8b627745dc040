"""The paper's Table II CNN, counted layer by layer (acceptance numbers of the core issue)."""

from __future__ import annotations

import pytest

from benchmarks.zoo import PaperCNN, paper_cnn_reference_macs
from flopcount import profile

TABLE_II_PARAMS = [896, 18_496, 73_856, 25_690_368, 1_799]
TABLE_II_MACS = [43_352_064, 231_211_008, 231_211_008, 25_690_112, 1_792]


@pytest.fixture(scope="module")
def table2():
    return profile(PaperCNN(), input_shape=(1, 3, 224, 224))


def test_per_layer_params_and_macs(table2):
    weighted = [r for r in table2.layers if r.type in ("Conv2d", "Linear")]
    assert [r.params for r in weighted] == TABLE_II_PARAMS
    assert [r.macs for r in weighted] == TABLE_II_MACS
    assert [r.name for r in weighted] == ["features.0", "features.3", "features.6", "classifier.1", "classifier.4"]


def test_totals(table2):
    assert table2.total_params == 25_785_415
    assert table2.total_macs == sum(TABLE_II_MACS) == paper_cnn_reference_macs(224)
    assert table2.coverage == 1.0 and table2.uncounted == ()


def test_output_shapes_follow_table2(table2):
    shapes = {r.name: r.output_shape for r in table2.layers}
    assert shapes["features.0"] == (1, 32, 224, 224)
    assert shapes["features.2"] == (1, 32, 112, 112)
    assert shapes["features.8"] == (1, 128, 28, 28)
    assert shapes["classifier.0"] == (1, 100_352)
    assert shapes["classifier.4"] == (1, 7)


def test_paper_convention_is_eq_10_and_11(table2):
    paper = table2.using("paper")
    assert paper.total_macs == sum(TABLE_II_MACS)
    assert paper.total_flops == paper.total_macs  # the paper calls these MACs "FLOPs"


def test_flops_are_two_per_mac_plus_documented_extras(table2):
    conv1 = table2.layers[0]
    assert conv1.flops == 2 * conv1.macs + 32 * 224 * 224  # one bias add per output element
    relu = table2.layers[1]
    assert (relu.macs, relu.flops) == (0, 32 * 224 * 224)


@pytest.mark.parametrize("size", [32, 64, 112])
def test_flatten_follows_input_size(size):
    p = profile(PaperCNN(image_size=size), input_shape=(2, 3, size, size))
    assert p.total_macs == 2 * paper_cnn_reference_macs(size)
