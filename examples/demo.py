"""`make demo`: profile the paper's two models and print their per-layer tables.

The custom CNN is Table II of the paper; ResNet50 + TL is torchvision's ResNet50 with a
new 7-class head (random init: no weights are needed to count). Both at 224x224x3.
"""

from __future__ import annotations

from flopcount import profile
from skinbench.models import build_model


def main() -> None:
    """Print the per-layer table of each paper model, then a side-by-side summary."""
    results = {}
    for name in ("custom_cnn", "resnet50_tl"):
        model = build_model(name, num_classes=7, pretrained=False, image_size=224)
        results[name] = profile(model, input_shape=(1, 3, 224, 224))
        print(results[name])
        print()
    cnn, resnet = results["custom_cnn"], results["resnet50_tl"]
    print("Paper models at 224x224x3, batch 1")
    print(f"{'model':<14}{'params':>14}{'MACs':>18}{'FLOPs':>18}")
    for name, result in results.items():
        print(f"{name:<14}{result.total_params:>14,}{result.total_macs:>18,}{result.total_flops:>18,}")
    ratio = resnet.total_macs / cnn.total_macs
    print(f"ResNet50 + TL needs {ratio:.2f}x the MACs of the custom CNN "
          f"({(ratio - 1) * 100:+.1f}%), with {resnet.total_params / cnn.total_params:.2f}x the parameters.")


if __name__ == "__main__":
    main()
