"""Mixture of experts: the expected active compute, without running the router's choice.

A top-k mixture-of-experts layer sends each of ``T`` tokens to ``k`` of its ``E``
experts. Whatever the router picks, the experts together process exactly ``T * k``
token-expert pairs, so the convention here counts

``macs = T * k * (MACs of one expert on one token)``

where one expert's MACs on one token are the sum, over the experts' stacked weight
matrices (``gate_up_proj`` ``(E, 2F, H)``, ``down_proj`` ``(E, H, F)``, ...), of the
size of one expert's matrix. ``flops = 2 * macs`` plus, per token-expert pair, the gate
(SiLU and multiply, 6 per intermediate unit, or the activation alone, 5, without a
gate) and the weighting and sum of the expert outputs (2 per hidden unit). The router
(a ``Linear`` and a top-k) is counted as the ops it runs. Records of this formula are
family ``moe``; their ``note`` says ``"moe expected: top-k of E experts per token"``.

This is exact for any routing when every routed pair is computed once (Mixtral,
Qwen-MoE, DeepSeek-MoE style; no capacity limit): a real run with the same routing
counts the same MACs. ``profile(..., moe="routed")`` counts the experts' own ops
instead, which needs the router's choice and so a real forward pass; those records are
noted ``"moe routed"``.

Matched by structure (:class:`~flopcount.formulas.registry.ModulePattern`), so
``transformers`` is never imported: a module class with ``_apply_gate`` (added by
``transformers.integrations.moe.use_experts_implementation``) whose ``forward`` takes
``top_k_index``.
"""

from __future__ import annotations

import inspect
import math

from torch import nn

from flopcount.formulas.registry import ModulePattern, OpCall, register_formula
from flopcount.records import Count

_GATE_FLOPS = 6  # silu (5) and the multiply by the up projection
_ACT_FLOPS = 5


def _is_hf_experts(cls: type) -> bool:
    if not (isinstance(cls, type) and issubclass(cls, nn.Module) and hasattr(cls, "_apply_gate")):
        return False
    try:
        return "top_k_index" in inspect.signature(cls.forward).parameters
    except (TypeError, ValueError):
        return False


#: ``profile(..., moe=...)``: count the expected active compute, or the routed one (a real run).
MOE_MODES = ("expected", "routed")
EXPECTED_NOTE = "moe expected: top-k of E experts per token, router's choice not run"
ROUTED_NOTE = "moe routed: the experts' ops for this input's routing (real run)"

HF_EXPERTS = ModulePattern("transformers experts (use_experts_implementation)", _is_hf_experts)


def experts_count(
    tokens: int, top_k: int, weights: list[tuple[int, ...]], intermediate: int, hidden: int, *, gated: bool
) -> Count:
    """Expected cost of ``tokens`` tokens, each through ``top_k`` experts.

    Args:
        tokens: Tokens entering the layer.
        top_k: Experts per token.
        weights: Shapes of the stacked expert weights, ``(E, out, in)`` each.
        intermediate: The experts' intermediate size ``F``.
        hidden: The hidden size ``H``.
        gated: SwiGLU-style experts (``act(gate) * up``).

    Example (Mixtral-style: H=32, F=64, 4 experts, top-2, 16 tokens):
        >>> experts_count(16, 2, [(4, 128, 32), (4, 32, 64)], 64, 32, gated=True)
        Count(macs=196608, flops=407552)
    """
    pairs = tokens * top_k
    macs = pairs * sum(math.prod(shape[1:]) for shape in weights)
    extra = pairs * (intermediate * (_GATE_FLOPS if gated else _ACT_FLOPS) + 2 * hidden)
    return Count(macs, 2 * macs + extra)


@register_formula(HF_EXPERTS, family="moe", note=EXPECTED_NOTE)
def hf_experts(call: OpCall) -> Count:
    """``Experts(hidden_states (T, H), top_k_index (T, k), top_k_weights (T, k))``."""
    module = call.module_as(nn.Module)
    hidden_states = call.arg(0, "hidden_states")
    top_k_index = call.arg(1, "top_k_index")
    weights = [tuple(p.shape) for p in module.parameters(recurse=False) if p.dim() == 3]
    hidden = hidden_states.shape[-1]
    tokens = math.prod(hidden_states.shape[:-1])
    down = getattr(module, "down_proj", None)
    if down is not None and down.dim() == 3:
        intermediate = down.shape[1] if getattr(module, "is_transposed", False) else down.shape[2]
    else:
        intermediate = hidden
    return experts_count(
        tokens, top_k_index.shape[-1], weights, intermediate, hidden, gated=bool(getattr(module, "has_gate", True))
    )
