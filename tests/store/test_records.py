"""store/records.py: one typed reading of a run dir, shared by ingest, status, the TUI and filters."""

from __future__ import annotations

import time
from pathlib import Path

from langprune.store import records
from langprune.store.rundir import STAGE_SPAN, create

SPEC = {
    "id": "r1",
    "experiment": "exp",
    "model": {"id": "random:tiny-llama"},
    "method": "wanda",
    "sparsity": "2:4",
    "calibration_language": "de",
    "corpus": {"source": "hf", "options": {"dataset": "wikitext"}},
    "nsamples": 8,
    "seqlen": 64,
    "seed": 12,
}


def test_running_record_reads_spec_status_and_last_event(tmp_path: Path) -> None:
    rd = create(tmp_path, "r1", SPEC)
    rd.set_status("running", host="node1", device="cuda:0")
    rd.add_event(stage="calibration", step=1, total=4)
    rd.add_event(stage="prune", step=3, total=4, eta_s=12.5, tokens_per_s=900, language="de")
    rec = records.read(rd)
    lo, hi = STAGE_SPAN["prune"]
    assert (rec.id, rec.state, rec.experiment) == ("r1", "running", "exp")
    assert (rec.model, rec.model_id) == ("tiny-llama", "random:tiny-llama")
    assert (rec.method, rec.sparsity, rec.sparsity_fraction) == ("wanda", "2:4", 0.5)
    assert (rec.calibration_language, rec.corpus) == ("de", "hf:wikitext")
    assert (rec.nsamples, rec.seqlen, rec.seed) == (8, 64, 12)
    assert (rec.stage, rec.step, rec.eta_s, rec.tokens_per_s) == ("prune", "3/4", 12.5, 900.0)
    assert rec.progress == lo + (hi - lo) * 3 / 4
    assert (rec.host, rec.device, rec.error) == ("node1", "cuda:0", None)
    assert rec.stage_text == "prune de 3/4" and rec.language == "de"
    assert rec.label == "tiny-llama wanda 2:4 calib=de seed=12"
    assert rec.active and rec.heartbeat_age is None


def test_missing_and_ill_typed_values_are_none(tmp_path: Path) -> None:
    spec = {
        "model": {"id": "org/m", "label": "M"},
        "method": "dense",
        "seed": "x",
        "nsamples": True,
    }
    rec = records.from_files("d1", spec, {"state": "queued", "queued_at": 5.0, "host": ""})
    assert rec.model == "M"
    assert (rec.experiment, rec.sparsity, rec.sparsity_fraction, rec.corpus) == (None,) * 4
    assert (rec.seed, rec.nsamples, rec.host) == (None, None, None)
    assert (rec.stage, rec.step, rec.progress, rec.event) == ("queued", None, 0.0, None)
    assert rec.updated_at == 5.0
    assert rec.label == "M dense"


def test_finished_runs_keep_progress_but_not_live_fields(tmp_path: Path) -> None:
    event = {"stage": "eval_ppl", "step": 1, "total": 2, "eta_s": 3.0, "tokens_per_s": 10.0}
    lo, hi = STAGE_SPAN["eval_ppl"]
    failed = records.from_files("f", SPEC, {"state": "failed", "error": "boom"}, event)
    assert failed.progress == lo + (hi - lo) / 2  # how far it got
    assert (failed.stage, failed.step, failed.eta_s, failed.tokens_per_s) == (
        "failed",
        None,
        None,
        None,
    )
    assert failed.stage_text == "" and not failed.active and failed.error == "boom"
    done = records.from_files(
        "d", SPEC, {"state": "done", "seconds": {"total": 7}, "achieved_sparsity": 0.5}, event
    )
    assert (done.progress, done.seconds_total, done.achieved) == (1.0, 7.0, 0.5)


def test_ingest_runs_screen_and_status_read_the_same_record(tmp_path: Path) -> None:
    from langprune.engine.run import monitor
    from langprune.store.ingest import RUN_COLUMNS, run_row
    from langprune.tui.runstate import RunPoller

    ws = tmp_path
    rd = create(ws / "runs", "r1", SPEC)
    rd.set_status("done", seconds={"total": 3.0}, achieved_sparsity=0.5, host="h")
    now = time.time()
    (polled,) = RunPoller(ws / "runs").poll()
    (viewed,) = monitor.views(ws)
    fresh = records.read(rd)
    assert polled == viewed == fresh  # no heartbeat file: heartbeat_age is None in all three
    for field in ("state", "model", "sparsity_fraction", "corpus", "seed", "achieved", "host"):
        assert getattr(polled, field) == getattr(viewed, field) == getattr(fresh, field)
    row = dict(zip(RUN_COLUMNS, run_row(records.read(rd), 0), strict=True))
    assert row["corpus"] == fresh.corpus == "hf:wikitext"
    assert row["sparsity_fraction"] == fresh.sparsity_fraction == 0.5
    assert row["seed"] == fresh.seed == 12
    assert row["achieved_sparsity"] == fresh.achieved
    assert row["model"] == fresh.model
    assert abs(fresh.updated_at - now) < 60


def test_runfilter_filters_typed_values_like_the_store(tmp_path: Path) -> None:
    from langprune.tui import runfilter

    a = records.from_files("a", SPEC, {"state": "done"})
    b = records.from_files("b", {**SPEC, "seed": 3, "sparsity": "0.7", "corpus": None}, None)
    rows = [a, b]

    def keep(expr: str) -> list[str]:
        return [r.id for r in runfilter.apply(rows, runfilter.parse(expr))]

    assert keep("seed=12") == ["a"]
    assert keep("sparsity=2:4") == ["a"]
    assert keep("sparsity=0.7") == ["b"]
    assert keep("state=queued") == ["b"]
    assert keep("corpus=hf:wikitext") == ["a"]
