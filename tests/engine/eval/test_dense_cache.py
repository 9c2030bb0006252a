"""Dense-baseline keys and the file cache."""

from __future__ import annotations

from pathlib import Path

from langprune.engine.eval.dense_cache import DenseCache, dense_key
from langprune.engine.spec.experiment import EvaluationSpec, ModelSpec, TaskSpec

EV = EvaluationSpec(languages=["de", "zh"], seqlen=128, tasks=[TaskSpec(family="tinymc")])


def test_key_depends_on_model_and_evaluation_only() -> None:
    m = ModelSpec(id="random:llama-tiny")
    base = dense_key(m, EV, versions={})
    assert (
        dense_key(ModelSpec(id="random:llama-tiny", label="x", offload=True), EV, versions={})
        == base
    )
    assert dense_key(ModelSpec(id="random:llama-tiny", dtype="bfloat16"), EV, versions={}) != base
    assert dense_key(m, EV.model_copy(update={"max_tokens": 10}), versions={}) != base
    assert dense_key(m, EV, versions={"lm_eval": "0.4.13"}) != base
    assert len(base) == 16 and dense_key(m, EV) == dense_key(m, EV)


def test_cache_roundtrip(tmp_path: Path) -> None:
    cache = DenseCache(tmp_path / "dense")
    key = dense_key(ModelSpec(id="random:llama-tiny"), EV)
    assert cache.get(key) is None
    rows = [{"kind": "perplexity", "metric": "ppl", "value": 3.5, "language": "de"}]
    cache.put(key, rows, run_id="abc")
    assert cache.get(key) == rows
    cache.path(key).write_text("{broken")
    assert cache.get(key) is None
    assert not list((tmp_path / "dense").glob("*.tmp"))
