"""`store rebuild` recreates the database from the run dirs; schema migrations."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from langprune.store import schema
from langprune.store.db import connect
from langprune.store.errors import StoreError
from langprune.store.ingest import ingest, rebuild
from langprune.store.queries import compare, list_runs
from langprune.workspace import db_path
from tests.store.helpers import write_known


def snapshot(ws: Path) -> list[str]:
    return [
        json.dumps(compare(ws, m, refresh=False).records(), sort_keys=True) for m in ("ppl", "acc")
    ] + [json.dumps(list_runs(ws, refresh=False), sort_keys=True)]


def test_delete_and_rebuild_gives_identical_results(workspace: Path, cli) -> None:
    write_known(workspace)
    ingest(workspace)
    before = snapshot(workspace)
    out_before = cli("compare", "--metric", "ppl", "--format", "json").stdout
    db = db_path(workspace)
    db.unlink()
    r = cli("store", "rebuild")
    assert r.returncode == 0, r.stderr
    assert "7 runs" in r.stdout and "23 metric rows" in r.stdout
    assert snapshot(workspace) == before
    assert cli("compare", "--metric", "ppl", "--format", "json").stdout == out_before
    assert sorted(p.name for p in workspace.iterdir()) == [
        "results.duckdb",
        "results.duckdb.lock",
        "runs",
    ]


def test_rebuild_replaces_a_stale_database(workspace: Path) -> None:
    write_known(workspace)
    ingest(workspace)
    before = snapshot(workspace)
    with connect(db_path(workspace)) as con:
        con.execute("DELETE FROM metrics WHERE metric = 'ppl'")
        con.execute("UPDATE ingest_state SET ingested_at = 0")
    report = rebuild(workspace)
    assert len(report.updated) == 7
    assert snapshot(workspace) == before


def test_migrates_a_first_release_database(workspace: Path) -> None:
    db = db_path(workspace)
    db.parent.mkdir(parents=True)
    con = duckdb.connect(str(db))
    schema.migrate(con, target=1)
    con.execute("INSERT INTO metrics (run_id, metric, value) VALUES ('r1', 'ppl', 3.0)")
    con.execute("INSERT INTO runs (id, method) VALUES ('r1', 'wanda')")
    con.close()
    with connect(db, read_only=True) as con:
        assert schema.current_version(con) == schema.SCHEMA_VERSION
        assert con.execute("SELECT method, value FROM results").fetchall() == [("wanda", 3.0)]


def test_refuses_a_database_from_a_newer_release(workspace: Path) -> None:
    db = db_path(workspace)
    with connect(db) as con:
        con.execute("INSERT INTO schema_version VALUES (999, 0)")
    with pytest.raises(StoreError, match="store rebuild"), connect(db):
        pass
