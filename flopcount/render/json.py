"""JSON output in the stable schema ``flopcount.profile/1``.

Top-level keys: ``schema``, ``flopcount_version``, ``model``, ``convention``,
``capture`` (``method``, ``reason``, ``real_forward``), ``inputs`` (list of shapes), ``totals`` (``params``,
``trainable_params``, ``frozen_params``, ``unused_params``, ``macs``, ``flops``,
``activation_bytes``), ``coverage`` (0..1), ``uncounted`` (list of ``{op, occurrences}``)
and ``layers`` (list of records: ``name``, ``type``, ``family``, ``input_shapes``,
``output_shape``, ``params``, ``macs``, ``flops``, ``activation_bytes``, ``node``,
``counted``, ``dtype`` (``"int8"`` marks integer arithmetic), ``note``). New keys may be
added; existing keys keep their meaning.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flopcount._version import __version__

if TYPE_CHECKING:
    from flopcount.result import Profile

SCHEMA = "flopcount.profile/1"


def to_dict(profile: Profile) -> dict[str, Any]:
    """The profile as plain JSON-able data."""
    return {
        "schema": SCHEMA,
        "flopcount_version": __version__,
        "model": profile.model,
        "convention": profile.convention.name,
        "capture": {
            "method": profile.capture.method,
            "reason": profile.capture.reason,
            "real_forward": profile.capture.real_forward,
        },
        "inputs": [list(s) for s in profile.input_shapes],
        "totals": {
            "params": profile.total_params,
            "trainable_params": profile.trainable_params,
            "frozen_params": profile.frozen_params,
            "unused_params": profile.unused_params,
            "macs": profile.total_macs,
            "flops": profile.total_flops,
            "activation_bytes": profile.total_activation_bytes,
        },
        "coverage": profile.coverage,
        "uncounted": [{"op": u.op, "occurrences": u.occurrences} for u in profile.uncounted],
        "layers": [record.to_dict() for record in profile.layers],
    }


def to_json(profile: Profile, indent: int | None = 2) -> str:
    """The profile as JSON text."""
    return json.dumps(to_dict(profile), indent=indent)
