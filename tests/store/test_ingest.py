"""Ingest: idempotent by run id, incremental, tolerant of half-written lines."""

from __future__ import annotations

import os
from pathlib import Path

from langprune.store.db import connect
from langprune.store.ingest import ingest
from langprune.workspace import db_path
from tests.store.helpers import ppl_row, runs_of, write_known, write_run


def dump(ws: Path) -> dict[str, list[tuple]]:
    """Everything ingest writes except its bookkeeping time stamps."""
    with connect(db_path(ws), read_only=True) as con:
        return {
            "runs": con.execute("SELECT * FROM runs ORDER BY id").fetchall(),
            "metrics": con.execute("SELECT * FROM metrics ORDER BY ALL").fetchall(),
            "experiments": con.execute("SELECT * FROM experiments ORDER BY ALL").fetchall(),
        }


def test_reingest_changes_nothing(workspace: Path) -> None:
    runs = write_known(workspace)
    first = ingest(workspace)
    assert len(first.updated) == len(runs) and first.metric_rows == 23
    before = dump(workspace)
    again = ingest(workspace)
    assert again.updated == [] and again.removed == [] and again.unchanged == len(runs)
    assert dump(workspace) == before
    assert len(before["runs"]) == len(runs)


def test_partial_last_line_is_skipped_then_picked_up(workspace: Path) -> None:
    run = runs_of()[1]
    rd = write_run(workspace, run, [ppl_row("en", 10.0)], state="running")
    line = (
        b'{"kind":"perplexity","task":"perplexity","subtask":"synthetic","language":"de",'
        b'"metric":"ppl","value":20.0}'
    )
    with open(rd.metrics, "ab") as fh:
        fh.write(line[:40])  # a worker caught mid-write
    report = ingest(workspace)
    assert report.metric_rows == 1 and report.skipped_lines == 0
    with open(rd.metrics, "ab") as fh:
        fh.write(line[40:] + b"\n")
    report = ingest(workspace)
    assert report.updated == [run.id] and report.metric_rows == 2
    assert {r[4] for r in dump(workspace)["metrics"]} == {"en", "de"}


def test_updated_status_and_new_runs_are_picked_up(workspace: Path) -> None:
    runs = runs_of()
    rd = write_run(workspace, runs[1], [], state="running")
    ingest(workspace)
    rd.set_status("failed", error="CUDA out of memory")
    write_run(workspace, runs[2], [ppl_row("en", 3.0)])
    report = ingest(workspace)
    assert sorted(report.updated) == sorted([runs[1].id, runs[2].id])
    states = {r[0]: (r[12], r[28]) for r in dump(workspace)["runs"]}
    assert states[runs[1].id] == ("failed", "CUDA out of memory")


def test_removed_run_dir_leaves_the_database(workspace: Path) -> None:
    runs = write_known(workspace)
    ingest(workspace)
    victim = workspace / "runs" / runs[3].id
    for f in victim.iterdir():
        f.unlink()
    victim.rmdir()
    report = ingest(workspace)
    assert report.removed == [runs[3].id]
    assert runs[3].id not in {r[0] for r in dump(workspace)["runs"]}
    assert runs[3].id not in {r[0] for r in dump(workspace)["metrics"]}


def test_rewritten_result_replaces_the_old_one_and_bad_lines_are_skipped(workspace: Path) -> None:
    """A record without a value is skipped (and counted); a line that is not JSON at all makes
    the run damaged instead (tests/store/test_damaged_runs.py)."""
    run = runs_of()[1]
    rd = write_run(workspace, run, [ppl_row("en", 10.0), ppl_row("en", 9.0)])
    with open(rd.metrics, "ab") as fh:
        fh.write(b'{"metric": "ppl"}\n' + b'{"metric": "ppl", "value": "high"}\n')
    report = ingest(workspace)
    assert report.metric_rows == 1 and report.skipped_lines == 2 and not report.damaged
    assert [r[6] for r in dump(workspace)["metrics"]] == [9.0]


def test_ingest_only_reads_run_files(workspace: Path) -> None:
    """The worker's files keep their mode and the lock stays free for it."""
    run = runs_of()[1]
    rd = write_run(workspace, run, [ppl_row("en", 10.0)], state="running")
    mtimes = {p.name: p.stat().st_mtime_ns for p in rd.path.iterdir()}
    with rd.hold_lock():
        ingest(workspace)
        assert rd.is_locked()
    assert {p.name: p.stat().st_mtime_ns for p in rd.path.iterdir() if p.name != "lock"} == {
        k: v for k, v in mtimes.items() if k != "lock"
    }
    assert not any(name.startswith(".") for name in os.listdir(rd.path))


def test_perplexity_stderr_and_windows_reach_the_table(workspace: Path) -> None:
    run = runs_of()[0]
    row = ppl_row("en", 10.0) | {"stderr": 0.25, "n": 4}
    write_run(workspace, run, [row, ppl_row("de", 20.0) | {"stderr": float("nan"), "n": 1}])
    ingest(workspace)
    with connect(db_path(workspace), read_only=True) as con:
        got = con.execute(
            "SELECT language, stderr, n FROM metrics WHERE run_id = ? ORDER BY language", [run.id]
        ).fetchall()
    assert got == [("de", None, 1), ("en", 0.25, 4)]
