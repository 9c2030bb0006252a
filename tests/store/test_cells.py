"""Comparison semantics: one cell counted once, only done runs, (no calibration), baselines,
uncertainty-aware winners, stand-alone exports. Truth is recomputed here from the fixture."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

import duckdb
import pytest

from langprune.store.errors import StoreError
from langprune.store.export import default_name, export, render
from langprune.store.findings import diagonal_wins
from langprune.store.queries import compare
from tests.store.helpers import BASE, ppl_row, runs_of, write_run

WIDE = {**BASE, "name": "wide", "evaluation": {"languages": ["en", "de", "sw"]}}
# (calibration, seed) -> evaluated language -> ppl; both presets prune the same cells.
VALUES = {
    ("en", 0): {"en": 10.0, "de": 20.0, "sw": 30.0},
    ("en", 1): {"en": 12.0, "de": 21.0, "sw": 31.0},
    ("de", 0): {"en": 11.0, "de": 15.0, "sw": 29.0},
    ("de", 1): {"en": 13.0, "de": 17.0, "sw": 29.0},
    (None, None): {"en": 8.0, "de": 12.0, "sw": 25.0},
}


def _write(ws: Path) -> dict[str, list[str]]:
    """known (eval en, de) and wide (eval en, de, sw) over the same cells. All sw-calibrated
    runs of known fail after writing a (too good) partial value; wide's de seed 1 is killed
    mid-evaluation. Returns the failed run ids per row."""
    failed: dict[str, list[str]] = {"sw": [], "de": []}
    for data in (BASE, WIDE):
        langs = data["evaluation"]["languages"]
        for run in runs_of(data):
            key = (run.calibration_language, run.seed)
            if run.calibration_language == "sw":
                if data is BASE:
                    write_run(ws, run, [ppl_row("en", 1.0)], state="failed", error="boom")
                    failed["sw"].append(run.id)
                continue
            if data is WIDE and key == ("de", 1):
                write_run(ws, run, [ppl_row("sw", 1.0)], state="failed", error="killed")
                failed["de"].append(run.id)
                continue
            write_run(ws, run, [ppl_row(lang, VALUES[key][lang]) for lang in langs])
    return failed


def test_one_cell_counted_once_and_only_done_runs(workspace: Path) -> None:
    failed = _write(workspace)
    t = compare(workspace, "ppl")
    assert t.rows == ["dense", "de", "en", "sw"] and t.columns == ["de", "en", "sw"]
    en = t.cell("en", "en")
    # four runs (two presets x two seeds), two seeds: n = 2, the std of two values
    assert en.n == 2 and en.mean == 11.0
    assert en.std == pytest.approx(statistics.stdev([10.0, 12.0]))
    assert t.cell("dense", "en").n == 1 and t.cell("dense", "en").mean == 8.0
    # the killed run's partial sw value is not there; de/sw has its one done seed
    assert t.cell("de", "sw").values == (29.0,) and t.cell("de", "sw").n == 1
    # a calibration language whose runs all failed stays, shown as failed, named in a footnote
    assert all(t.cell("sw", c) is None and t.status("sw", c) == "failed" for c in t.columns)
    notes = "\n".join(t.footnotes())
    assert all(rid in notes for rid in failed["sw"] + failed["de"])
    # one experiment only: no pruned value in wide's sw column (the shared dense baseline stays)
    known = compare(workspace, "ppl", experiment="known")
    assert known.cell("en", "sw") is None and known.cell("de", "sw") is None
    assert known.cell("en", "de").n == 2 and known.cell("dense", "en").mean == 8.0
    with pytest.raises(StoreError, match="did you mean 'known'"):
        compare(workspace, "ppl", experiment="knwon")


def test_honest_winners_and_wins_count(workspace: Path) -> None:
    _write(workspace)
    t = compare(workspace, "ppl")
    # en column: en 11 ± 1.41 vs de 12 ± 1.41: a difference of 1 < sqrt(2) * 1.41 = 2: a tie
    assert "en" not in t.best and sorted(t.ties["en"]) == ["de", "en"]
    assert t.cell("en", "en").tie and not t.cell("en", "en").best
    # de column: de 16 ± 1.41 vs en 20.5 ± 0.71: 4.5 > 1.58, clear
    assert t.best["de"] == "de" and t.cell("de", "de").best
    wins = diagonal_wins(t)
    assert wins.sentence() == "diagonal wins: 2 of 3 (1 clear)"
    md = render(t, "md")
    # decimals per column from the uncertainty: two significant digits of the median ± (1.41)
    assert "**16.0 ± 1.4** †" in md and "~11.0 ± 1.4 †" in md and "failed" in md


def test_paired_delta_against_pinned_english(workspace: Path) -> None:
    _write(workspace)
    t = compare(workspace, "ppl", delta="abs", baseline="calib")
    assert t.baseline == "en" and "delta=abs vs en" in t.title()
    # de vs en in the de column, per seed: (15 - 20) and (17 - 21) -> -4.5
    assert t.cell("de", "de").delta_abs == pytest.approx(-4.5)
    # sw column: de has seed 0 only; paired: 29 - 30 = -1 (not 29 - mean(30, 31) = -1.5)
    assert t.cell("de", "sw").delta_abs == pytest.approx(-1.0)
    assert t.cell("en", "sw").delta_abs is None and t.shown(t.cell("en", "sw")) == 30.5
    with pytest.raises(StoreError, match="baseline 'zz' has no done values"):
        compare(workspace, "ppl", delta="abs", baseline="zz")


def test_magnitude_once_as_no_calibration(workspace: Path) -> None:
    data = {**BASE, "pruning": {"methods": ["magnitude"], "sparsity": [0.5]}}
    runs = runs_of(data)
    assert [r.method for r in runs] == ["dense", "magnitude"]
    write_run(workspace, runs[0], [ppl_row("en", 8.0)])
    write_run(workspace, runs[1], [ppl_row("en", 30.0)])
    t = compare(workspace, "ppl")
    assert t.rows == ["dense", "(no calibration)"] and diagonal_wins(t).wins == 0


def test_exports_stand_alone_and_never_overwrite(workspace: Path, tmp_path: Path) -> None:
    _write(workspace)
    t = compare(workspace, "ppl", delta="abs", baseline="en")
    name = default_name(t, "csv")
    assert name == "compare-ppl-wanda-0.5-abs-vs-en.csv"
    out = export(t, "csv", tmp_path / name)
    records = list(csv.DictReader(io.StringIO(out.read_text())))
    for rec in records:
        assert (rec["model"], rec["method"], rec["sparsity"]) == ("llama-tiny", "wanda", "0.5")
        assert (rec["baseline"], rec["delta_mode"], rec["corpus"]) == ("en", "abs", "synthetic")
        assert rec["nsamples"] == "128" and rec["seqlen"] == "2048"
    en = next(r for r in records if (r["calibration"], r["column"]) == ("en", "en"))
    assert en["seeds"] == "2" and float(en["mean"]) == 11.0
    with pytest.raises(StoreError, match="exists; pass --force"):
        export(t, "csv", out)
    export(t, "csv", out, force=True)
    pq = export(t, "parquet", tmp_path / "t.parquet")
    row = (
        duckdb.connect()
        .execute(f"SELECT DISTINCT model, method, sparsity, baseline FROM '{pq}'")
        .fetchall()
    )
    assert row == [("llama-tiny", "wanda", "0.5", "en")]
    with pytest.raises(StoreError, match="is a folder"):
        export(t, "csv", tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot write"):
        export(t, "md", tmp_path / "file" / "under" / "t.md")


def test_cli_exit_codes(workspace: Path, cli, tmp_path: Path) -> None:
    _write(workspace)
    r = cli("compare", "-m", "ppl", "-f", "csv", "-o", str(tmp_path))
    assert r.returncode == 2 and "is a folder" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("compare", "-m", "ppl", "--experiment", "nope")
    assert r.returncode == 2 and "known, wide" in r.stderr
    r = cli("results", "calib=zz")
    assert r.returncode == 2 and "no run matches calib=zz" in r.stderr and "de, en, sw" in r.stderr
    r = cli("compare", "-m", "ppl")
    assert r.returncode == 0 and "diagonal wins: 2 of 3 (1 clear)" in r.stdout
