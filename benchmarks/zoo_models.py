"""The model zoo: 100+ models people profile, each built from a config with random weights.

Shared by ``tests/flopcount/test_zoo.py`` and ``benchmarks/zoo_bench.py``. Nothing is
downloaded: timm models come from ``timm.create_model(name, pretrained=False)``, Hugging
Face models from their config classes (small sizes), torchvision models with
``weights=None``. Inputs are small (64-96 px images, 16-token sequences) so the whole zoo
profiles in minutes on two CPU cores.

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
    """

    name: str
    family: str
    build: Callable[[], Built]
    input_only: bool = True
    notes: dict[str, str] = field(default_factory=dict)


def _image(size: int = 64, batch: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
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
    "efficientformer_l1": {"img_size": 64},
    "efficientformerv2_s0": {"img_size": 64},
    "poolformer_s12": {},
    "mixer_s16_224": {"img_size": 64},
    "resmlp_12_224": {"img_size": 64},
    "gmlp_ti16_224": {"img_size": 64},
    "sequencer2d_s": {"img_size": 64},
    "crossvit_tiny_240": {"img_size": 96},
    "cait_xxs24_224": {"img_size": 64},
    "pit_ti_224": {"img_size": 64},
    "tnt_s_patch16_224": {"img_size": 64},
    "twins_svt_small": {"img_size": 64},
    "pvt_v2_b0": {},
    "mobilevit_xxs": {},
    "mobilevitv2_050": {},
    "edgenext_xx_small": {},
    "tiny_vit_5m_224": {"img_size": 64},
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
TIMM_SIZES = {"crossvit_tiny_240": 96, "eva02_tiny_patch14_224": 56, "inception_v3": 96, "xception41": 96}


def _timm(name: str, kwargs: dict[str, Any]) -> Callable[[], Built]:
    def build() -> Built:
        import timm

        torch.manual_seed(0)
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
        cfg = getattr(transformers, config_name)(**config)
        model = getattr(transformers, model_name)(cfg).eval()
        return model, (), inputs()

    return build


def _text(length: int = 16) -> Callable[[], dict[str, Any]]:
    return lambda: {"input_ids": _tokens(length), "attention_mask": torch.ones(1, length, dtype=torch.long)}


def _seq2seq(length: int = 16) -> Callable[[], dict[str, Any]]:
    return lambda: {"input_ids": _tokens(length), "decoder_input_ids": _tokens(8)}


def _pixels(size: int = 64, channels: int = 3) -> Callable[[], dict[str, Any]]:
    return lambda: {"pixel_values": torch.randn(1, channels, size, size)}


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


# --------------------------------------------------------------------------- registry
def zoo() -> list[ZooModel]:
    """Every zoo model, in a stable order."""
    models = [ZooModel(f"timm/{name}", "timm", _timm(name, kwargs)) for name, kwargs in TIMM_MODELS.items()]
    models += [ZooModel(f"hf/{name}", "hf", _hf(*spec)) for name, spec in HF_MODELS.items()]
    return models


def by_name(name: str) -> ZooModel:
    """The zoo entry called ``name``."""
    return next(m for m in zoo() if m.name == name)
