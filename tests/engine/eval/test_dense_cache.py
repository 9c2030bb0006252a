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


def test_key_covers_protocol_corpus_content_and_langprune_version() -> None:
    from langprune.engine.eval.dense_cache import library_versions
    from langprune.engine.eval.perplexity import PROTOCOL_VERSION

    m = ModelSpec(id="random:llama-tiny")
    base = dense_key(m, EV, versions={}, corpus_digest="a" * 16)
    assert dense_key(m, EV, versions={}, corpus_digest="b" * 16) != base
    assert dense_key(m, EV, versions={}, corpus_digest="a" * 16, protocol="other") != base
    assert dense_key(m, EV, versions={}, corpus_digest="a" * 16, protocol=PROTOCOL_VERSION) == base
    assert "langprune" in library_versions()


def test_run_key_changes_with_the_evaluated_text(tmp_path: Path) -> None:
    from langprune.engine.data.corpora import get_corpus
    from langprune.engine.spec.experiment import CorpusSpec

    def digest(words: str) -> str:
        folder = tmp_path / words
        folder.mkdir()
        docs = [f"{words} document {i} " * 5 for i in range(30)]
        (folder / "de.txt").write_text("\n\n".join(docs), encoding="utf-8")
        spec = CorpusSpec(source="files", options={"path": str(folder)})
        return get_corpus(spec).content_digest(["de"])

    assert digest("alpha") != digest("beta")
    again = tmp_path / "copy"
    again.mkdir()
    (again / "de.txt").write_text((tmp_path / "alpha" / "de.txt").read_text(), encoding="utf-8")
    same = get_corpus(CorpusSpec(source="files", options={"path": str(again)}))
    # the same text in another folder: the same digest (content, not place)
    assert same.content_digest(["de"]) == get_corpus(
        CorpusSpec(source="files", options={"path": str(tmp_path / "alpha")})
    ).content_digest(["de"])
