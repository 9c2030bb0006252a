"""Dense baselines evaluated once per model and evaluation config, then reused (no torch).

The key hashes everything a dense result depends on: the model (minus its display label and
offload, which change no number; dtype included), the resolved evaluation config, the perplexity
protocol version, a digest of the evaluated corpus text (`Corpus.content_digest`), and the versions
of langprune and of the libraries that change numbers (lm-eval, transformers, torch). The
cache is one JSON file per key under a folder (e.g. `<workspace>/dense/`), written atomically, so
concurrent workers at worst evaluate the same baseline twice and never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langprune.engine.spec.experiment import EvaluationSpec, ModelSpec

# Fields of a ModelSpec that do not change the numbers a dense model produces.
_MODEL_IGNORED = ("label", "offload")


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose changes move evaluation numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("langprune", "lm_eval", "transformers", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "none"
    return out


def dense_key(
    model: ModelSpec,
    evaluation: EvaluationSpec,
    *,
    versions: Mapping[str, str] | None = None,
    corpus_digest: str | None = None,
    protocol: str | None = None,
) -> str:
    """16 hex characters identifying a dense baseline: same model + evaluation -> same key.

    `evaluation` should be resolved (`spec.resolved_evaluation`), as in a Run. `versions`
    defaults to `library_versions()`; pass {} to key on the configs alone. `corpus_digest` is
    the evaluated text's digest (None when there is no perplexity corpus); `protocol` defaults
    to the perplexity module's PROTOCOL_VERSION.
    """
    if protocol is None:
        from langprune.engine.eval.perplexity import PROTOCOL_VERSION as protocol
    model_json = model.model_dump(mode="json")
    for field in _MODEL_IGNORED:
        model_json.pop(field, None)
    payload = {
        "model": model_json,
        "evaluation": evaluation.model_dump(mode="json"),
        "versions": dict(library_versions() if versions is None else versions),
        "protocol": protocol,
        "corpus": corpus_digest,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class DenseCache:
    """Metric rows of dense baselines, one JSON file per key under `root`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The cached rows, or None when absent or unreadable."""
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        rows = data.get("rows") if isinstance(data, dict) else None
        return rows if isinstance(rows, list) else None

    def put(self, key: str, rows: list[dict[str, Any]], **info: Any) -> Path:
        """Store rows (and any JSON-able info, e.g. the run id that produced them) atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(key)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"key": key, "rows": rows, **info}, fh)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target
