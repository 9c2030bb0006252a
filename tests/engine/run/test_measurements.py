"""One worker, in process, on a tiny random model: what a run records about its measurements."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from langprune.engine.run.pipeline import run_dense_key
from langprune.engine.run.worker import run_worker
from langprune.engine.spec.presets import from_dict
from langprune.store.rundir import create


def experiment(corpus_dir: Path, method: str = "wanda") -> dict:
    corpus = {"source": "files", "options": {"path": str(corpus_dir)}}
    return {
        "name": "meas",
        "models": [{"id": "random:llama-tiny", "dtype": "float32", "device": "cpu"}],
        "pruning": {"methods": [method], "sparsity": [0.5]},
        "calibration": {"languages": ["en"], "nsamples": 4, "seqlen": 32, "corpus": corpus},
        "evaluation": {"languages": ["en"], "max_tokens": 200, "batch_size": 2},
    }


def write_corpus(folder: Path, word: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    docs = [" ".join(f"{word}{d}w{i}" for i in range(30)) for d in range(40)]
    (folder / "en.txt").write_text("\n\n".join(docs), encoding="utf-8")
    return folder


def test_status_and_metrics_carry_sampling_stderr_and_windows(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    exp = from_dict(experiment(write_corpus(tmp_path / "corpus", "a")))
    runs = exp.runs()
    for run in runs:
        create(tmp_path / "runs", run.id, run.model_dump(mode="json"))
    states = run_worker(tmp_path, [r.id for r in runs], "w-test")
    assert set(states.values()) == {"done"}, states
    pruned = next(r for r in runs if not r.is_dense)
    rd_dir = tmp_path / "runs" / pruned.id
    status = json.loads((rd_dir / "status.json").read_text())
    drawn = status["calibration_samples"]
    assert drawn["special_tokens"] is True
    assert drawn["languages"]["en"]["samples"] == 4
    assert drawn["languages"]["en"]["source"] in ("documents", "concatenated")
    rows = [json.loads(line) for line in (rd_dir / "metrics.jsonl").read_text().splitlines()]
    ppl = [r for r in rows if r["kind"] == "perplexity"]
    assert {r["metric"] for r in ppl} == {"ppl", "bpb", "nll"}
    for r in ppl:
        assert r["n"] == r["extra"]["windows"] >= 2
        assert r["stderr"] is not None and 0 < r["stderr"] < r["value"]


def test_dense_key_follows_the_corpus_text(tmp_path: Path) -> None:
    from langprune.engine.run import pipeline

    def key_now() -> str:
        pipeline._DIGESTS.clear()  # a fresh worker process: nothing read yet
        pipeline._CORPORA.clear()
        exp = from_dict(experiment(tmp_path / "corpus"))
        return run_dense_key(next(r for r in exp.runs() if r.is_dense))

    write_corpus(tmp_path / "corpus", "a")
    first = key_now()
    assert key_now() == first
    write_corpus(tmp_path / "corpus", "changed")  # same spec, other text: a new baseline
    assert key_now() != first
    write_corpus(tmp_path / "corpus", "a")
    assert key_now() == first
