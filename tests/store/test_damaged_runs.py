"""Corruption is never guessed away, and one bad run directory never blocks the others.

A truncated or garbled status.json, spec.json or metrics.jsonl (or, for a finished run, a cut-off
last metrics line) makes that run `damaged`: never scheduled or re-run, and reported with the file
and the fix by `status`, `results`, `store rebuild` and the TUI's run list. Real run directories,
real DuckDB files, the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langprune.engine.run.scheduler import pending_runs
from langprune.store import records
from langprune.store.ingest import ingest
from langprune.store.queries import compare, list_runs
from langprune.store.rundir import RunDir
from langprune.tui.runstate import RunPoller
from tests.store.helpers import write_known
from tests.store.unprivileged import cli_as_user, give_away, open_dir


def _en_seed0(ws: Path) -> RunDir:
    runs = write_known(ws)
    run = next(r for r in runs if r.calibration_language == "en" and r.seed == 0)
    return RunDir(ws / "runs" / run.id)


def _cells(ws: Path) -> dict[tuple[str, str], tuple[int, float]]:
    """(calibration, language) -> (seeds, mean) of the ppl comparison."""
    table = compare(ws, "ppl")
    return {(c["calibration"], c["language"]): (c["n"], c["mean"]) for c in table.records()}


def test_a_truncated_status_of_a_done_run_is_damaged_and_never_rerun(workspace: Path, cli) -> None:
    rd = _en_seed0(workspace)
    ingest(workspace)
    assert _cells(workspace)[("en", "en")] == (2, 11.0)
    data = rd.status_file.read_bytes()
    rd.status_file.write_bytes(data[: len(data) // 2])  # a crash or a full disk mid-copy
    truncated = rd.status_file.read_bytes()

    assert rd.status()["state"] == "damaged" and rd.state() == "damaged"
    assert rd.id not in [rid for rid, _ in pending_runs(workspace)]  # never scheduled
    record = records.read(rd)
    assert record.state == "damaged" and str(rd.status_file) in (record.error or "")
    assert record.fix and f"langprune retry {rd.id}" in record.fix

    r = cli("status")
    assert r.returncode == 0, r.stderr
    assert "no scheduler" not in r.stderr  # nothing was started to re-run it
    assert f"damaged {rd.id}" in r.stdout and "status.json" in r.stdout
    assert f"langprune retry {rd.id}" in r.stdout.replace("\n", " ")
    assert rd.status_file.read_bytes() == truncated  # the evidence is left as it was

    r = cli("results", "state=damaged", "--format", "json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["id"] == rd.id and "status.json" in row["error"]
    r = cli("results")
    assert r.returncode == 0 and f"damaged {rd.id}" in r.stdout and "fix:" in r.stdout
    assert _cells(workspace)[("en", "en")] == (1, 12.0)  # its values are never compared

    r = cli("store", "rebuild")
    assert r.returncode == 0, r.stderr
    assert "1 damaged run" in r.stdout and rd.id in r.stdout and "status.json" in r.stdout

    r = cli("retry", rd.id)
    assert r.returncode == 0 and rd.id in r.stdout, r.stderr
    assert rd.read_status()["state"] in ("queued", "running", "failed", "done")


@pytest.mark.parametrize(
    ("tail", "state", "damaged"),
    [
        (b'{"kind": "perplexity", "metric": "pp', "done", True),  # a cut-off last line
        (b'{"kind": "perplexity", "metric": "pp', "running", False),  # still being written
        (b"garbage\n", "running", True),
        (b'\xff\xfe\x00 not text\n{"metric": "ppl", "value": 1.0}\n', "done", True),
    ],
)
def test_a_damaged_metrics_file_is_reported_not_dropped(
    workspace: Path, tail: bytes, state: str, damaged: bool
) -> None:
    runs = write_known(workspace)
    extra = next(r for r in runs if r.calibration_language == "sw" and r.seed == 0)
    rd = RunDir(workspace / "runs" / extra.id)
    with open(rd.metrics, "ab") as fh:
        fh.write(tail)
    rd.set_status(state)
    assert (records.read(rd).state == "damaged") is damaged
    report = ingest(workspace)
    assert (rd.id in report.damaged) is damaged
    if damaged:
        assert str(rd.metrics) in report.damaged[rd.id]
    rows = {r["id"]: r for r in list_runs(workspace, refresh=False)}
    assert len(rows) == 7  # every other run is there
    assert rows[rd.id]["state"] == ("damaged" if damaged else state)
    others = [r for rid, r in rows.items() if rid != rd.id]
    assert all(r["state"] == "done" and r["n_metrics"] for r in others)


def test_the_tui_run_list_shows_damaged_runs_and_the_rest(workspace: Path) -> None:
    runs = write_known(workspace)
    truncated, folder, spec = (RunDir(workspace / "runs" / r.id) for r in runs[1:4])
    truncated.status_file.write_text('{"state": "do')
    folder.status_file.unlink()
    folder.status_file.mkdir()  # cannot be read as a file
    spec.spec.write_text("{")
    rows = {r.id: r for r in RunPoller(workspace / "runs").poll()}
    assert len(rows) == 7
    for rd in (truncated, folder, spec):
        row = rows[rd.id]
        assert row.state == "damaged" and str(rd.path) in (row.error or ""), row
        assert row.fix and rd.id in row.fix
    assert sum(r.state == "done" for r in rows.values()) == 4
    assert all(rid not in {rd.id for rd in (truncated, folder, spec)} for rid, _ in
               pending_runs(workspace))  # fmt: skip


def test_one_unreadable_run_dir_never_blocks_the_others() -> None:
    """As a user the permissions apply to (root reads everything): status, results, compare,
    store rebuild and retry go on with the other runs and name the unreadable one."""
    with open_dir() as base:
        ws = base / "ws"
        runs = write_known(ws)
        ingest(ws)
        bad = RunDir(ws / "runs" / runs[2].id)
        give_away(ws)
        bad.path.chmod(0o000)
        try:
            out = {
                name: cli_as_user(ws, *args)
                for name, args in {
                    "status": ["status"],
                    "results": ["results", "--format", "json"],
                    "compare": ["compare", "-m", "ppl", "--format", "json"],
                    "rebuild": ["store", "rebuild"],
                    "retry": ["retry"],  # nothing failed: it looks at every run, starts nothing
                }.items()
            }
        finally:
            bad.path.chmod(0o700)
        for name, r in out.items():
            assert r.returncode == 0, (name, r.stderr)
            assert "Traceback" not in r.stderr, (name, r.stderr)
        assert f"damaged {bad.id}" in out["status"].stdout
        assert str(bad.path) in out["status"].stdout
        listed = {row["id"]: row for row in json.loads(out["results"].stdout)}
        assert len(listed) == 7 and listed[bad.id]["state"] == "damaged"
        assert str(bad.path) in listed[bad.id]["error"]
        assert "1 damaged run" in out["rebuild"].stdout and bad.id in out["rebuild"].stdout
        assert "queued again:" in out["retry"].stdout
