"""Evaluations added to cells already pruned: earlier identical measurements are taken, the rest is
measured; the truth is a separate workspace that measures everything from scratch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langprune.engine.run import pipeline
from langprune.engine.run.worker import run_worker
from langprune.engine.spec.presets import from_dict
from langprune.store.rundir import RunDir, create


def write_corpus(folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    for lang, word in (("en", "the"), ("de", "der")):
        docs = [" ".join(f"{word}{d}x{i}" for i in range(30)) for d in range(40)]
        (folder / f"{lang}.txt").write_text("\n\n".join(docs), encoding="utf-8")
    return {"source": "files", "options": {"path": str(folder)}}


def experiment(corpus: dict[str, Any], languages: list[str], **extra: Any) -> Any:
    model: dict[str, Any] = {"id": "random:llama-tiny", "dtype": "float32", "device": "cpu"}
    return from_dict(
        {
            **extra,
            "name": "reuse",
            "dense_baseline": False,
            "models": [model],
            "pruning": {"methods": ["wanda"], "sparsity": [0.5]},
            "calibration": {"languages": ["en"], "nsamples": 4, "seqlen": 32, "corpus": corpus},
            "evaluation": {"languages": languages, "max_tokens": 200, "batch_size": 2},
        }
    )


def launch(workspace: Path, exp: Any) -> RunDir:
    (run,) = exp.runs()
    create(workspace / "runs", run.id, run.model_dump(mode="json"))
    assert run_worker(workspace, [run.id], "w-test") == {run.id: "done"}
    return RunDir(workspace / "runs" / run.id)


def ppl(rd: RunDir) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["language"], r["metric"]): r for r in rd.read_metrics() if r["kind"] == "perplexity"}


def stages_seen(rd: RunDir) -> set[str]:
    lines = (rd.path / "events.jsonl").read_text().splitlines()
    return {json.loads(line)["stage"] for line in lines}


def test_added_language_reuses_measured_rows_and_measures_only_the_new_one(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    ws = tmp_path / "ws"
    first = launch(ws, experiment(corpus, ["en"]))
    wider = launch(ws, experiment(corpus, ["en", "de"]))
    assert first.id != wider.id
    assert (
        json.loads(first.spec.read_text())["model"] == json.loads(wider.spec.read_text())["model"]
    )

    truth = ppl(launch(tmp_path / "fresh", experiment(corpus, ["en", "de"])))
    got, before = ppl(wider), ppl(first)
    assert set(got) == set(truth)
    for key, row in got.items():
        assert row["value"] == truth[key]["value"]  # pruned again, bit for bit the same cell
    for metric in ("ppl", "bpb", "nll"):
        assert got[("en", metric)]["extra"]["reused_from"] == first.id
        assert got[("en", metric)]["value"] == before[("en", metric)]["value"]
        assert "reused_from" not in got[("de", metric)]["extra"]
    assert "prune" in stages_seen(wider)  # de needed the pruned weights


def test_everything_measured_already_skips_calibration_and_pruning(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    ws = tmp_path / "ws"
    weights_only = {"analysis": {"neurons": False, "drift": False}}  # masks: no text read
    first = launch(ws, experiment(corpus, ["en", "de"], **weights_only))
    narrower = launch(ws, experiment(corpus, ["de"], **weights_only))
    assert narrower.id != first.id
    rows = narrower.read_metrics()
    assert rows and all(r["extra"]["reused_from"] == first.id for r in rows)
    assert [r["value"] for r in rows] == [
        r["value"] for r in first.read_metrics() if r["language"] == "de"
    ]
    status = narrower.status()
    assert status["achieved_sparsity"] == first.status()["achieved_sparsity"]
    assert "calibration" not in (status.get("seconds") or {})
    assert "prune" not in (status.get("seconds") or {})
    assert narrower.read_analysis() == first.read_analysis()
    assert (narrower.path / "masks.npz").read_bytes() == (first.path / "masks.npz").read_bytes()


def test_rows_of_other_text_are_measured_again(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    ws = tmp_path / "ws"
    first = launch(ws, experiment(corpus, ["en"]))
    (tmp_path / "corpus" / "en.txt").write_text(
        "\n\n".join(" ".join(f"new{d}y{i}" for i in range(30)) for d in range(40)),
        encoding="utf-8",
    )
    pipeline._CORPORA.clear()  # a fresh worker process: nothing read yet
    pipeline._DIGESTS.clear()
    again = launch(ws, experiment(corpus, ["en", "de"]))
    assert all("reused_from" not in r["extra"] for r in again.read_metrics())
    assert ppl(again)[("en", "ppl")]["value"] != ppl(first)[("en", "ppl")]["value"]
