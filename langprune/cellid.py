"""The identity of a pruned cell: what the pruned model *is*, apart from what it is evaluated on.

A run id hashes a run's whole resolved config (evaluation included) and stays as it was. A cell id
hashes only what shapes the pruned weights: model (without its label), method, sparsity,
calibration language or mix, corpus, nsamples, seqlen, seed and pruning options. Two runs of one
cell launched from presets that differ only in evaluation share a cell id, so a comparison counts
the cell once. Methods that read no calibration text (`CALIBRATION_FREE`) drop the calibration
fields and the seed: magnitude is one cell per model and sparsity. The dense model is one cell per
model. Pure stdlib: the store, the engine and the TUI all use it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

CALIBRATION_FREE = frozenset({"magnitude"})
DENSE = "dense"
# The keys of a run config that say what the pruned model is (everything but the evaluation).
CELL_KEYS = (
    "model", "method", "sparsity", "calibration_language", "corpus", "nsamples", "seqlen",
    "seed", "options",
)  # fmt: skip
_CALIBRATION_KEYS = ("calibration_language", "corpus", "nsamples", "seqlen", "seed")


def uses_calibration(method: str | None) -> bool:
    """Whether a method's result depends on calibration text (dense and magnitude do not)."""
    return method not in CALIBRATION_FREE and method != DENSE


def cell_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a run config (spec.json or `Run.config()`) a cell id hashes."""
    out = {k: config.get(k) for k in CELL_KEYS if config.get(k) is not None}
    model = dict(out.get("model") or {})
    model.pop("label", None)
    out["model"] = model
    if not uses_calibration(config.get("method")):
        for key in _CALIBRATION_KEYS:
            out.pop(key, None)
    return out


def cell_id(config: dict[str, Any]) -> str:
    """12 hex characters of SHA-256 over the canonical JSON of `cell_fields(config)`."""
    canonical = json.dumps(cell_fields(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
