"""The comparison never averages runs of different calibration sizes or evaluation settings."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from langprune.store.errors import AmbiguousComparison
from langprune.store.ingest import ingest
from langprune.store.queries import compare
from langprune.workspace import db_path
from tests.store.helpers import BASE, acc_row, ppl_row, runs_of, write_known, write_run

PPL_EVAL = "corpus=synthetic seqlen=2048 max_tokens=131072"


@pytest.fixture
def known(workspace: Path) -> Path:
    write_known(workspace)
    return workspace


def _variant(name: str, calibration: dict | None = None, evaluation: dict | None = None) -> dict:
    return {
        **BASE,
        "name": name,
        "calibration": {**BASE["calibration"], **(calibration or {})},
        "evaluation": {**BASE["evaluation"], **(evaluation or {})},
    }


def test_nsamples_refused_then_chosen(known: Path) -> None:
    for run in runs_of(_variant("small", {"nsamples": 64}))[1:]:  # same dense baseline
        write_run(known, run, [ppl_row("en", 50.0)])
    with pytest.raises(AmbiguousComparison) as err:
        compare(known, "ppl")
    assert err.value.field == "nsamples" and err.value.choices == ["64", "128"]
    assert "choose one with --nsamples" in str(err.value)

    t = compare(known, "ppl", nsamples=64)
    assert t.nsamples == 64 and t.seqlen == 2048 and t.cell("en", "en").mean == 50.0
    assert t.cell("en", "en").n == 2 and t.cell("dense", "en").mean == 8.0
    assert "nsamples=64" in t.title() and "seqlen" not in t.title()
    t = compare(known, "ppl", nsamples="128")
    assert t.cell("en", "en").mean == pytest.approx(11.0)  # the hand-computed value
    assert t.nsamples == 128 and t.evaluation == PPL_EVAL
    # Without a choice to make, the default title stays as it was.
    assert "nsamples" not in compare(known, "acc", method="dense").title()


def test_seqlen_refused_and_dense_matched_on_evaluation(known: Path) -> None:
    # A calibration seqlen of 512 also evaluates at 512 (the default), unlike the dense baseline.
    for run in runs_of(_variant("short", {"seqlen": 512})):
        write_run(known, run, [ppl_row("en", 40.0 if run.method != "dense" else 30.0)])
    with pytest.raises(AmbiguousComparison) as err:
        compare(known, "ppl")
    assert err.value.field == "seqlen" and err.value.choices == ["512", "2048"]
    t = compare(known, "ppl", seqlen=512, delta="abs")
    assert t.cell("dense", "en").mean == 30.0 and t.cell("dense", "en").n == 1
    assert t.cell("en", "en").delta_abs == pytest.approx(10.0)
    assert t.evaluation == "corpus=synthetic seqlen=512 max_tokens=131072"
    t = compare(known, "ppl", seqlen=2048)
    assert t.cell("dense", "en").mean == 8.0 and t.cell("dense", "en").n == 1


def test_dense_with_other_max_tokens_not_averaged(known: Path) -> None:
    dense = runs_of(_variant("quick", evaluation={"max_tokens": 4096}))[0]
    assert dense.is_dense
    write_run(known, dense, [ppl_row("en", 100.0), ppl_row("de", 100.0)])
    t = compare(known, "ppl", delta="abs")
    assert t.cell("dense", "en").mean == 8.0 and t.cell("dense", "en").n == 1
    assert t.cell("en", "en").delta_abs == pytest.approx(3.0)
    # The baseline alone: two evaluation settings, so a choice is needed.
    with pytest.raises(AmbiguousComparison) as err:
        compare(known, "ppl", method="dense")
    quick = "corpus=synthetic seqlen=2048 max_tokens=4096"
    assert err.value.field == "evaluation" and err.value.choices == [PPL_EVAL, quick]
    assert "choose one with --evaluation" in str(err.value)
    t = compare(known, "ppl", method="dense", evaluation=quick)
    assert t.cell("dense", "en").mean == 100.0 and f"evaluation={quick}" in t.title()
    # Pruned runs under that setting make the pruned rows ambiguous as well.
    for run in runs_of(_variant("quick", evaluation={"max_tokens": 4096}))[1:3]:
        write_run(known, run, [ppl_row("en", 70.0)])
    with pytest.raises(AmbiguousComparison) as err:
        compare(known, "ppl")
    assert err.value.field == "evaluation"
    t = compare(known, "ppl", evaluation=quick, delta="abs")
    assert t.cell("en", "en").mean == 70.0 and t.cell("en", "en").delta_abs == -30.0


def test_task_settings_per_family_and_ppl_unaffected(workspace: Path) -> None:
    five = _variant("fewshot", evaluation={"tasks": [{"family": "xnli", "num_fewshot": 5}]})
    zero = _variant("zeroshot", evaluation={"tasks": [{"family": "xnli", "num_fewshot": 0}]})
    for run in runs_of(zero)[:2]:
        write_run(workspace, run, [ppl_row("en", 10.0), acc_row("en", 0.5)])
    dense5 = runs_of(five)[0]
    write_run(workspace, dense5, [ppl_row("en", 20.0), acc_row("en", 0.9)])
    t = compare(workspace, "acc")  # the 5-shot baseline is not the 0-shot one's
    assert t.rows == ["dense", "en"] and t.cell("dense", "en").mean == 0.5
    t = compare(workspace, "ppl")  # perplexity was measured the same way by both baselines
    # One dense model, one evaluation setting: one cell, counted once (the later run's value).
    assert t.cell("dense", "en").n == 1 and t.cell("dense", "en").mean in (10.0, 20.0)


def test_existing_database_is_migrated_and_filled(known: Path) -> None:
    ingest(known)
    db = db_path(known)
    with duckdb.connect(str(db)) as con:  # back to what version 2 wrote
        con.execute("DELETE FROM schema_version WHERE version >= 3")
        con.execute("ALTER TABLE runs DROP COLUMN cell_id")
        for table in ("analysis", "masks", "mask_overlap"):  # version 6
            con.execute(f"DROP TABLE {table}")
        con.execute("ALTER TABLE runs DROP COLUMN eval_ppl")
        con.execute("ALTER TABLE runs DROP COLUMN eval_tasks")
    from langprune.store import db as store_db

    store_db._CURRENT.clear()
    t = compare(known, "ppl", delta="abs")
    assert t.evaluation == PPL_EVAL and t.cell("en", "en").delta_abs == pytest.approx(3.0)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs WHERE eval_ppl IS NULL").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM runs WHERE cell_id IS NULL").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] > 0


def test_cli_nsamples(known: Path, cli) -> None:
    for run in runs_of(_variant("small", {"nsamples": 64}))[1:2]:
        write_run(known, run, [ppl_row("en", 50.0)])
    r = cli("compare", "-m", "ppl")
    assert r.returncode == 2 and "several nsamples values remain" in r.stderr
    assert "choose one with --nsamples" in r.stderr and "Traceback" not in r.stderr
    r = cli("compare", "-m", "ppl", "--nsamples", "64", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert "50.0" in r.stdout
