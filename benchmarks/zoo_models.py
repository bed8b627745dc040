"""The model zoo: 100+ models people profile, each built from a config with random weights.

Shared by ``tests/flopcount/test_zoo.py`` and ``benchmarks/zoo_bench.py``. Nothing is
downloaded: timm models come from ``timm.create_model(name, pretrained=False)``, Hugging
Face models from their config classes (small sizes), torchvision models with
``weights=None``. Inputs are small (64-96 px images, 16-token sequences) so the whole zoo
profiles in minutes on two CPU cores.

``FLOPCOUNT_ZOO_SCALE=bench`` (``benchmarks/zoo_bench.py --scale bench``) builds the
same models at the sizes people profile them at instead: timm models at their own input
size, Hugging Face models 8 times wider with 8 times longer sequences (hidden 256,
128 tokens) and 224 px images, torchvision models on 224 px images and 8 x 112 px clips.

Each :class:`ZooModel` builds ``(model, args, kwargs)`` and says whether the model's
control flow depends only on its inputs (``input_only``: flopcount must profile it with
no real forward pass) and why a check does not apply (``notes``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import torch
from torch import nn

Built = tuple[nn.Module, tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class ZooModel:
    """One zoo entry.

    Attributes:
        name: Unique id (``timm/resnet18``, ``hf/bert``, ...).
        family: ``timm``, ``hf``, ``detection``, ``segmentation``, ``video``, ``flow``,
            ``script``, ``compiled``, ``lowp`` (fp16/bf16), ``int8`` or ``ops``.
        build: Returns ``(model, args, kwargs)``; the model is in eval mode.
        input_only: Control flow depends only on the inputs: no real forward expected.
        notes: Documented exceptions to a zoo check (``coverage``, ``peer``, ...) -> why.
        reference: The model whose FlopCounterMode MACs flopcount's must equal, when not
            this one (an int8 model's float source: FlopCounterMode counts no quantized op).
    """

    name: str
    family: str
    build: Callable[[], Built]
    input_only: bool = True
    notes: dict[str, str] = field(default_factory=dict)
    reference: Callable[[], Built] | None = None


#: ``ci`` (the zoo test's small sizes) or ``bench`` (the sizes people profile at).
SCALE = os.environ.get("FLOPCOUNT_ZOO_SCALE", "ci")
_WIDTH_KEYS = frozenset(
    {
        "hidden_size", "intermediate_size", "d_model", "d_ff", "dim", "hidden_dim", "n_embd", "ffn_dim",
        "word_embed_proj_dim", "encoder_ffn_dim", "decoder_ffn_dim", "moe_intermediate_size",
        "shared_expert_intermediate_size", "projection_dim", "max_position_embeddings", "n_positions",
        "decoder_hidden_size",
    }
)  # fmt: skip


def _scaled(config: dict[str, Any]) -> dict[str, Any]:
    """A Hugging Face config dict at bench scale: widths and positions x8, images 224 px."""
    if SCALE != "bench":
        return config
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            value = _scaled(value)
        elif key in _WIDTH_KEYS and isinstance(value, int):
            value *= 8
        elif key == "image_size" and value == 64:
            value = 224
        elif key == "hidden_sizes":
            value = type(value)(v * 4 for v in value)
        out[key] = value
    return out


def _seq(length: int) -> int:
    return length * 8 if SCALE == "bench" else length


def _image(size: int = 64, batch: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    if SCALE == "bench" and size < 224:
        size = 224
    return torch.randn(batch, 3, size, size, dtype=dtype)


def _tokens(length: int = 16, vocab: int = 99) -> torch.Tensor:
    return torch.randint(3, vocab, (1, length), generator=torch.Generator().manual_seed(0))


# --------------------------------------------------------------------------- timm
TIMM_MODELS: dict[str, dict[str, Any]] = {
    # name -> create_model kwargs (small variants, img_size set where the model needs it)
    "resnet18": {},
    "resnet50d": {},
    "resnext26ts": {},
    "seresnext26d_32x4d": {},
    "regnetx_002": {},
    "regnety_002": {},
    "mobilenetv2_050": {},
    "mobilenetv3_small_050": {},
    "mobilenetv4_conv_small": {},
    "efficientnet_b0": {},
    "efficientnetv2_rw_t": {},
    "ghostnet_050": {},
    "mnasnet_050": {},
    "densenet121": {},
    "dla34": {},
    "dpn48b": {},
    "cspresnet50": {},
    "hrnet_w18_small": {},
    "rexnet_100": {},
    "repvgg_a0": {},
    "convnext_atto": {},
    "convnextv2_atto": {},
    "inception_v3": {},
    "xception41": {},
    "res2net50_14w_8s": {},
    "nfnet_l0": {},
    "vgg11": {},
    "vit_tiny_patch16_224": {"img_size": 64},
    "deit_tiny_patch16_224": {"img_size": 64},
    "vit_relpos_small_patch16_224": {"img_size": 64},
    "vit_base_patch16_rope_224": {"img_size": 64},
    "beit_base_patch16_224": {"img_size": 64},
    "eva02_tiny_patch14_224": {"img_size": 56},
    "swin_tiny_patch4_window7_224": {"img_size": 64, "window_size": 2},
    "swinv2_cr_tiny_224": {"img_size": 64, "window_size": 2},
    "maxvit_nano_rw_256": {"img_size": 64},
    "coatnet_nano_rw_224": {"img_size": 64},
    "levit_128s": {"img_size": 64},
    "efficientvit_m0": {"img_size": 64},
    "efficientformer_l1": {},
    "efficientformerv2_s0": {"img_size": 64},
    "poolformer_s12": {},
    "mixer_s16_224": {"img_size": 64},
    "resmlp_12_224": {"img_size": 64},
    "gmlp_ti16_224": {"img_size": 64},
    "sequencer2d_s": {"img_size": 64},
    "crossvit_tiny_240": {},
    "cait_xxs24_224": {"img_size": 64},
    "pit_ti_224": {"img_size": 64},
    "tnt_s_patch16_224": {"img_size": 64},
    "twins_svt_small": {"img_size": 64},
    "pvt_v2_b0": {},
    "mobilevit_xxs": {},
    "mobilevitv2_050": {},
    "edgenext_xx_small": {},
    "tiny_vit_5m_224": {},
    "fastvit_t8": {},
    "repvit_m0_9": {},
    "hiera_tiny_224": {"img_size": 64},
    "davit_tiny": {},
    "focalnet_tiny_srf": {},
    "nest_tiny": {"img_size": 64},
    "volo_d1_224": {"img_size": 64},
    "xcit_nano_12_p16_224": {"img_size": 64},
    "convit_tiny": {"img_size": 64},
    "gcvit_xxtiny": {"img_size": 64},
}
#: Input size per timm model when not 64.
TIMM_SIZES = {
    "crossvit_tiny_240": 240,
    "efficientformer_l1": 224,
    "tiny_vit_5m_224": 224,
    "eva02_tiny_patch14_224": 56,
    "inception_v3": 96,
    "xception41": 96,
}


def _timm(name: str, kwargs: dict[str, Any]) -> Callable[[], Built]:
    def build() -> Built:
        import timm

        torch.manual_seed(0)
        if SCALE == "bench":  # the model's own input size
            model = timm.create_model(name, pretrained=False).eval()
            size = model.pretrained_cfg.get("input_size", (3, 224, 224))[-1]
            return model, (torch.randn(1, 3, size, size),), {}
        model = timm.create_model(name, pretrained=False, **kwargs).eval()
        return model, (_image(TIMM_SIZES.get(name, 64)),), {}

    return build


# --------------------------------------------------------------------------- Hugging Face
_SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
_DECODER = dict(_SMALL, vocab_size=99, num_key_value_heads=2, max_position_embeddings=64)


def _hf(
    config_name: str, model_name: str, config: dict[str, Any], inputs: Callable[[], dict[str, Any]]
) -> Callable[[], Built]:
    def build() -> Built:
        import transformers

        torch.manual_seed(0)
        cfg = getattr(transformers, config_name)(**_scaled(config))
        model = getattr(transformers, model_name)(cfg).eval()
        return model, (), inputs()

    return build


def _text(length: int = 16) -> Callable[[], dict[str, Any]]:
    return lambda: {"input_ids": _tokens(_seq(length)), "attention_mask": torch.ones(1, _seq(length), dtype=torch.long)}


def _seq2seq(length: int = 16) -> Callable[[], dict[str, Any]]:
    return lambda: {"input_ids": _tokens(_seq(length)), "decoder_input_ids": _tokens(_seq(8))}


def _pixels(size: int = 64, channels: int = 3) -> Callable[[], dict[str, Any]]:
    return lambda: {"pixel_values": _image(size)[:, :channels]}


_VISION = dict(_SMALL, image_size=64, patch_size=16)

HF_MODELS: dict[str, tuple[str, str, dict[str, Any], Callable[[], dict[str, Any]]]] = {
    "bert": ("BertConfig", "BertModel", dict(_SMALL, vocab_size=99), _text()),
    "roberta": ("RobertaConfig", "RobertaModel", dict(_SMALL, vocab_size=99), _text()),
    "distilbert": (
        "DistilBertConfig",
        "DistilBertModel",
        dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=64),
        _text(),
    ),
    "albert": ("AlbertConfig", "AlbertModel", dict(_SMALL, vocab_size=99, embedding_size=16), _text()),
    "electra": ("ElectraConfig", "ElectraModel", dict(_SMALL, vocab_size=99, embedding_size=16), _text()),
    "gpt2": (
        "GPT2Config",
        "GPT2LMHeadModel",
        dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64),
        _text(),
    ),
    "opt": (
        "OPTConfig",
        "OPTForCausalLM",
        dict(
            vocab_size=99,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            ffn_dim=64,
            word_embed_proj_dim=32,
            max_position_embeddings=64,
        ),
        _text(),
    ),
    "gpt_neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM", dict(_DECODER), _text()),
    "llama": ("LlamaConfig", "LlamaForCausalLM", dict(_DECODER), _text()),
    "mistral": ("MistralConfig", "MistralForCausalLM", dict(_DECODER, sliding_window=8), _text()),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(_DECODER), _text()),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", dict(_DECODER, head_dim=8), _text()),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", dict(_DECODER, pad_token_id=0), _text()),
    "mixtral": (
        "MixtralConfig",
        "MixtralForCausalLM",
        dict(_DECODER, num_local_experts=4, num_experts_per_tok=2),
        _text(),
    ),
    "qwen2_moe": (
        "Qwen2MoeConfig",
        "Qwen2MoeForCausalLM",
        dict(
            _DECODER, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32
        ),
        _text(),
    ),
    "mamba": (
        "MambaConfig",
        "MambaForCausalLM",
        dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, state_size=8),
        _text(),
    ),
    "t5": (
        "T5Config",
        "T5ForConditionalGeneration",
        dict(vocab_size=99, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4),
        _seq2seq(),
    ),
    "bart": (
        "BartConfig",
        "BartForConditionalGeneration",
        dict(
            vocab_size=99,
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=64,
        ),
        _seq2seq(),
    ),
    "marian": (
        "MarianConfig",
        "MarianMTModel",
        dict(
            vocab_size=99,
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=64,
            pad_token_id=0,
            decoder_start_token_id=0,
        ),
        _seq2seq(),
    ),
    "whisper": (
        "WhisperConfig",
        "WhisperModel",
        dict(
            vocab_size=99,
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            num_mel_bins=16,
            max_source_positions=16,
            max_target_positions=16,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
        ),
        lambda: {"input_features": torch.randn(1, 16, 32), "decoder_input_ids": _tokens(8)},
    ),
    "wav2vec2": (
        "Wav2Vec2Config",
        "Wav2Vec2Model",
        dict(
            _SMALL,
            conv_dim=(16, 16),
            conv_stride=(5, 2),
            conv_kernel=(10, 3),
            num_feat_extract_layers=2,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4,
        ),
        lambda: {"input_values": torch.randn(1, 800)},
    ),
    "vit": ("ViTConfig", "ViTModel", dict(_VISION), _pixels()),
    "deit": ("DeiTConfig", "DeiTModel", dict(_VISION), _pixels()),
    "beit": ("BeitConfig", "BeitModel", dict(_VISION, vocab_size=99), _pixels()),
    "dinov2": ("Dinov2Config", "Dinov2Model", dict(_VISION), _pixels()),
    "swin": (
        "SwinConfig",
        "SwinModel",
        dict(image_size=64, patch_size=4, embed_dim=16, depths=(1, 1), num_heads=(2, 2), window_size=4),
        _pixels(),
    ),
    "convnext": (
        "ConvNextConfig",
        "ConvNextModel",
        dict(hidden_sizes=(16, 32), depths=(1, 1), num_stages=2),
        _pixels(),
    ),
    "resnet": ("ResNetConfig", "ResNetModel", dict(hidden_sizes=(16, 32), depths=(1, 1), embedding_size=16), _pixels()),
    "mobilevit": (
        "MobileViTConfig",
        "MobileViTModel",
        dict(image_size=64, hidden_sizes=(16, 24, 32), neck_hidden_sizes=(8, 8, 16, 16, 24, 32, 64)),
        _pixels(),
    ),
    "segformer": (
        "SegformerConfig",
        "SegformerForSemanticSegmentation",
        dict(
            num_encoder_blocks=2,
            depths=(1, 1),
            sr_ratios=(2, 1),
            hidden_sizes=(16, 32),
            num_attention_heads=(1, 2),
            decoder_hidden_size=32,
            patch_sizes=(7, 3),
            strides=(4, 2),
            mlp_ratios=(2, 2),
        ),
        _pixels(),
    ),
    "detr": (
        "DetrConfig",
        "DetrForObjectDetection",
        dict(
            use_timm_backbone=False,
            backbone_config={
                "model_type": "resnet",
                "hidden_sizes": [16, 32, 64, 128],
                "depths": [1, 1, 1, 1],
                "embedding_size": 16,
                "out_features": ["stage4"],
            },
            d_model=32,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            num_queries=10,
            use_pretrained_backbone=False,
        ),
        _pixels(),
    ),
    "clip": (
        "CLIPConfig",
        "CLIPModel",
        dict(
            text_config=dict(_SMALL, vocab_size=99, max_position_embeddings=32),
            vision_config=dict(_VISION),
            projection_dim=16,
        ),
        lambda: {**_text()(), **_pixels()()},
    ),
    "siglip": (
        "SiglipConfig",
        "SiglipModel",
        dict(text_config=dict(_SMALL, vocab_size=99, max_position_embeddings=32), vision_config=dict(_VISION)),
        lambda: {"input_ids": _tokens(), **_pixels()()},
    ),
}


# --------------------------------------------------------------------------- torchvision
def _tv(name: str, size: int = 96, **kwargs: Any) -> Callable[[], Built]:
    def build() -> Built:
        import torchvision

        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
        if "video" in torchvision.models.get_model_builder(name).__module__:
            clip = (8, 112, 112) if SCALE == "bench" else (4, 32, 32)
            return model, (torch.randn(1, 3, *clip),), {}
        if "optical_flow" in torchvision.models.get_model_builder(name).__module__:
            return model, (_image(size), _image(size)), {"num_flow_updates": 2}
        if "detection" in torchvision.models.get_model_builder(name).__module__:
            return model, ([torch.rand(3, size, size)],), {}  # the transform resizes to min_size anyway
        return model, (_image(size),), {}

    return build


_DETECTION = dict(weights_backbone=None, num_classes=5, min_size=96, max_size=96)
TORCHVISION_MODELS: dict[str, tuple[str, dict[str, Any], bool]] = {
    # name -> (family, builder kwargs, control flow depends on inputs only)
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("detection", _DETECTION, False),
    "ssdlite320_mobilenet_v3_large": ("detection", dict(weights_backbone=None, num_classes=5), False),
    "retinanet_resnet50_fpn": ("detection", _DETECTION, False),
    "maskrcnn_resnet50_fpn": ("detection", _DETECTION, False),
    "lraspp_mobilenet_v3_large": ("segmentation", dict(weights_backbone=None, num_classes=5), True),
    "deeplabv3_mobilenet_v3_large": ("segmentation", dict(weights_backbone=None, num_classes=5), True),
    "fcn_resnet50": ("segmentation", dict(weights_backbone=None, num_classes=5), True),
    "r3d_18": ("video", {}, True),
    "mc3_18": ("video", {}, True),
    "r2plus1d_18": ("video", {}, True),
    "raft_small": ("flow", {"size": 128}, True),
}


# --------------------------------------------------------------------------- script, compiled, low precision, int8
def _script(kind: str) -> Callable[[], Built]:
    def build() -> Built:
        import torchvision

        torch.manual_seed(0)
        x = _image(64)
        if kind == "scripted":
            model: nn.Module = torch.jit.script(torchvision.models.resnet18().eval())
        elif kind == "traced":
            model = torch.jit.trace(torchvision.models.mobilenet_v3_small().eval(), x)
        elif kind == "scripted_submodule":
            model = torchvision.models.resnet18().eval()
            model.layer2 = torch.jit.script(model.layer2)
        elif kind == "traced_submodule":
            model = torchvision.models.resnet18().eval()
            model.layer3 = torch.jit.trace(model.layer3, torch.randn(1, 128, 8, 8))
        else:
            import timm

            model = torch.compile(timm.create_model("resnet18", pretrained=False).eval(), backend="eager")
        return model, (x,), {}

    return build


def _lowp(base: str, dtype: torch.dtype) -> Callable[[], Built]:
    def build() -> Built:
        model, args, kwargs = by_name(base).build()
        cast = lambda t: t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t  # noqa: E731
        return model.to(dtype), tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}

    return build


def _int8(name: str) -> Callable[[], Built]:
    def build() -> Built:
        import warnings

        import torchvision

        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name.startswith("dynamic_"):
                source, args, kwargs = by_name(f"hf/{name.removeprefix('dynamic_')}").build()
                model = torch.ao.quantization.quantize_dynamic(source, {nn.Linear}, dtype=torch.qint8)
                return model.eval(), args, kwargs
            if name == "lstm_dynamic":
                source = nn.Sequential(nn.LSTM(16, 32, num_layers=2, batch_first=True))
                model = torch.ao.quantization.quantize_dynamic(source, {nn.LSTM}, dtype=torch.qint8)
                return model.eval(), (torch.randn(2, 8, 16),), {}
            model = torchvision.models.get_model(f"quantized_{name}", weights=None, quantize=True).eval()
        return model, (_image(64),), {}

    return build


def _float_source(name: str) -> Callable[[], Built]:
    """The float model an int8 zoo entry was quantized from (FlopCounterMode counts no int8 op)."""

    def build() -> Built:
        import torchvision

        torch.manual_seed(0)
        if name.startswith("dynamic_"):
            return by_name(f"hf/{name.removeprefix('dynamic_')}").build()
        if name == "lstm_dynamic":
            return nn.Sequential(nn.LSTM(16, 32, num_layers=2, batch_first=True)).eval(), (torch.randn(2, 8, 16),), {}
        return torchvision.models.get_model(name, weights=None).eval(), (_image(64),), {}

    return build


class SpectralBlock(nn.Module):
    """An FNO-style block: rfft2, a learned complex product on the low modes, irfft2, a 1x1 conv."""

    def __init__(self, channels: int = 8, modes: int = 4) -> None:
        super().__init__()
        self.modes = modes
        self.weight = nn.Parameter(torch.randn(channels, channels, modes, modes, dtype=torch.cfloat) / channels)
        self.skip = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(x)
        low = torch.einsum("bixy,ioxy->boxy", spectrum[:, :, : self.modes, : self.modes], self.weight)
        out = torch.zeros_like(spectrum)
        out[:, :, : self.modes, : self.modes] = low
        return torch.relu(torch.fft.irfft2(out, s=x.shape[-2:]) + self.skip(x))


def _ops(name: str) -> Callable[[], Built]:
    def build() -> Built:
        torch.manual_seed(0)
        if name == "fno_block":
            return SpectralBlock().eval(), (torch.randn(1, 8, 32, 32),), {}
        return nn.Sequential(nn.LSTM(16, 32, num_layers=2, bidirectional=True)).eval(), (torch.randn(8, 2, 16),), {}

    return build


# --------------------------------------------------------------------------- registry
def zoo() -> list[ZooModel]:
    """Every zoo model, in a stable order."""
    models = [ZooModel(f"timm/{name}", "timm", _timm(name, kwargs)) for name, kwargs in TIMM_MODELS.items()]
    models += [ZooModel(f"hf/{name}", "hf", _hf(*spec)) for name, spec in HF_MODELS.items()]
    models += [
        ZooModel(f"torchvision/{name}", family, _tv(name, **kwargs), input_only=input_only)
        for name, (family, kwargs, input_only) in TORCHVISION_MODELS.items()
    ]
    models += [
        ZooModel(f"script/{kind}", "script", _script(kind))
        for kind in ("scripted", "traced", "scripted_submodule", "traced_submodule")
    ]
    models.append(ZooModel("compiled/timm_resnet18", "compiled", _script("compiled")))
    models += [
        ZooModel("lowp/timm_resnet18_fp16", "lowp", _lowp("timm/resnet18", torch.float16)),
        ZooModel("lowp/timm_convnext_atto_bf16", "lowp", _lowp("timm/convnext_atto", torch.bfloat16)),
        ZooModel("lowp/hf_llama_bf16", "lowp", _lowp("hf/llama", torch.bfloat16)),
        ZooModel("lowp/hf_bert_fp16", "lowp", _lowp("hf/bert", torch.float16)),
    ]
    models += [
        ZooModel(f"int8/{name}", "int8", _int8(name), reference=_float_source(name))
        for name in ("mobilenet_v2", "resnet18", "shufflenet_v2_x0_5", "dynamic_bert", "lstm_dynamic")
    ]
    models += [ZooModel(f"ops/{name}", "ops", _ops(name)) for name in ("fno_block", "lstm")]
    return models


def by_name(name: str) -> ZooModel:
    """The zoo entry called ``name``."""
    return next(m for m in zoo() if m.name == name)


def reachable_proxies(model: nn.Module) -> list[str]:
    """Every fx ``Proxy`` reachable from a module attribute (through dicts, lists and tuples)."""
    from torch import fx

    found: list[str] = []

    def walk(value: Any, where: str, depth: int) -> None:
        if isinstance(value, fx.Proxy):
            found.append(where)
        elif depth < 4 and isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}[{key!r}]", depth + 1)
        elif depth < 4 and isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]", depth + 1)

    for name, module in model.named_modules():
        for attr, value in vars(module).items():
            walk(value, f"{name}.{attr}", 0)
    return found


# --------------------------------------------------------------------------- the reference count
#: Op families whose MACs FlopCounterMode counts too (its FLOPs / 2).
COMPARED_FAMILIES = frozenset({"conv", "linear", "matmul", "attention", "moe", "rnn"})


def _to_meta(value: Any) -> Any:
    return torch.utils._pytree.tree_map_only(torch.Tensor, lambda t: t.to("meta"), value)


def flop_counter_macs(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[int, str]:
    """FlopCounterMode's MACs (FLOPs / 2), on meta where the model runs there, else on CPU.

    On meta its counts are exact for conv, mm/addmm/bmm and SDPA (which decomposes
    there). On CPU torch 2.13/2.14 dispatch SDPA to a kernel FlopCounterMode has no formula
    for (counted 0): the CPU run maps that kernel to FlopCounterMode's own SDPA formula.
    Hugging Face mixture-of-experts layers run their eager experts (FlopCounterMode has no
    formula for ``_grouped_mm``). The model is copied, never changed. Returns
    ``(macs, "meta" or "cpu")``.
    """
    import copy

    from torch.utils import flop_counter

    try:
        meta_model = _eager_experts(copy.deepcopy(model)).to("meta")
        with flop_counter.FlopCounterMode(display=False) as counter:  # its module tracker needs autograd
            meta_model(*_to_meta(args), **_to_meta(kwargs))
        return counter.get_total_flops() // 2, "meta"
    except Exception:
        pass
    cpu_model = _eager_experts(copy.deepcopy(model))
    cpu_sdpa = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    mapping = {cpu_sdpa: lambda q, k, v, *a, out_shape=None, **kw: flop_counter.sdpa_flop_count(q, k, v)}
    with flop_counter.FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        cpu_model(*args, **kwargs)
    return counter.get_total_flops() // 2, "cpu"


def _eager_experts(model: nn.Module) -> nn.Module:
    """Hugging Face experts modules run their eager (per-expert ``F.linear``) implementation."""
    for module in model.modules():
        config = getattr(module, "config", None)
        if getattr(config, "_experts_implementation", None) not in (None, "eager"):
            config._experts_implementation = "eager"  # type: ignore[union-attr]
    return model
