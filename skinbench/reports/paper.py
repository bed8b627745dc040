"""The numbers printed in the paper (Mamun et al.), quoted verbatim: the one place they are typed.

Everything else in skinbench and the documentation computes its numbers; the "paper"
columns of every table come from :data:`PAPER` and :data:`TABLE3`.
``docs/scripts/gen_numbers.py`` imports them from here.
"""

from __future__ import annotations

from typing import Any

#: Numbers printed in the paper, quoted verbatim (Tables II and IV, abstract, conclusion).
PAPER: dict[str, Any] = {
    "table2_params": [896, 18_496, 73_856, 25_690_112, 1_799],
    "cnn_params": 692_807,  # Table III "Custom CNN Implementation", abstract "692,000"
    "resnet_tl_params": 23_661_703,  # Table III "Baseline: ResNet50 + TL"
    "resnet_params_abstract": 23.9e6,  # abstract: "from 23.9 million in ResNet50"
    "cnn_flops": 30.04e6,  # Table IV / abstract "30.04 Million"
    "resnet_flops": 4.00e9,  # Table IV "4.00 Billion"
    "flops_increase_pct": 13_216.76,  # Table IV "+13,216.76% more computations"
    "acc_cnn": 87.05,  # Table IV, %
    "acc_resnet": 89.08,  # Table IV / Table I, %
    "acc_gap_pct": 0.022,  # Table IV "+0.022% better than CNN"
    "param_reduction_pct": 96.7,  # abstract
    "flops_reduction_pct": 99.2,  # conclusion
}

#: Table III "Comparison of Total Parameters in Different Models": (paper's model name,
#: total parameters, skinbench model that rebuilds it or None when it cannot be built exactly).
TABLE3: list[tuple[str, int, str | None]] = [
    ("MobileNet", 4_253_864, None),  # Keras MobileNet (v1); torchvision has no MobileNet v1
    ("Soft Attention", 47_535_287, None),
    ("VGG16 + SA", 62_650_711, None),
    ("ResNet50 + SA", 23_911_319, None),
    ("ResNet34 + SA", 31_414_167, None),
    ("IRV2 + SA", 47_535_287, None),
    ("DenseNet201 + SA", 17_477_463, None),
    ("IRV2 + GradCam", 47_550_631, None),
    ("Baseline: ResNet50 + TL", PAPER["resnet_tl_params"], "resnet50_tl"),
    ("Custom CNN Implementation", PAPER["cnn_params"], "custom_cnn"),
]

#: Why a Table III model is not rebuilt (models whose skinbench name is None).
NOT_REBUILT: dict[str, str] = {
    "MobileNet": "Keras MobileNet v1 with the authors' head; torchvision has no MobileNet v1",
    "IRV2 + GradCam": "Keras InceptionResNetV2 with the authors' head; not in torchvision",
}
SA_REASON = "soft-attention (SA) variant from prior work; its attention block is not specified exactly"

#: Image size and classes of every cost number the paper quotes.
PAPER_IMAGE_SIZE = 224
PAPER_NUM_CLASSES = 7
