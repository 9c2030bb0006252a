"""`store sql` can read the database and nothing else; store-side bad input is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from langprune.store.db import connect, query_only
from langprune.store.errors import StoreError
from langprune.store.ingest import ingest
from langprune.workspace import db_path
from tests.store.helpers import write_known
from tests.store.unprivileged import cli_as_user, give_away, open_dir


def _counts(db: Path) -> tuple[int, int]:
    with connect(db, read_only=True) as con:
        runs = con.execute("SELECT count(*) FROM runs").fetchone()
        metrics = con.execute("SELECT count(*) FROM metrics").fetchone()
    assert runs and metrics
    return int(runs[0]), int(metrics[0])


def test_the_query_connection_refuses_every_escape(workspace: Path, tmp_path: Path) -> None:
    write_known(workspace)
    ingest(workspace)
    db = db_path(workspace)
    before = _counts(db)
    out = tmp_path / "out"
    escapes = [
        f"COPY runs TO '{out}.csv'",
        f"COPY (SELECT * FROM metrics) TO '{out}.parquet' (FORMAT parquet)",
        f"ATTACH '{out}.duckdb' AS fresh",
        f"EXPORT DATABASE '{out}'",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_json_auto('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM 'https://example.invalid/x.parquet'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET autoinstall_known_extensions = true",
        "CREATE TABLE t (a INTEGER)",
        "DELETE FROM runs",
        "UPDATE runs SET state = 'failed'",
        "DROP TABLE metrics",
    ]
    with query_only(db) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (before[0],)
        for sql in escapes:
            with pytest.raises(duckdb.Error):
                con.execute(sql).fetchall()
        # DETACH then ATTACH writable: the database cannot be detached, nor any file attached
        with pytest.raises(duckdb.Error):
            con.execute("USE memory")
            con.execute(f"DETACH {con.execute('SELECT current_database()').fetchone()}")
        with pytest.raises(duckdb.Error):
            con.execute(f"ATTACH '{db}' AS rw (READ_WRITE)")
    assert _counts(db) == before
    assert not list(tmp_path.glob("out*"))


def test_store_sql_on_the_command_line(workspace: Path, cli, tmp_path: Path) -> None:
    write_known(workspace)
    for sql in (
        "",
        "   ",
        f"COPY runs TO '{tmp_path / 'x.csv'}'",
        f"ATTACH '{tmp_path / 'x.duckdb'}' AS x",
        "DETACH results",
        "SELECT * FROM read_text('/etc/passwd')",
        "INSTALL httpfs",
        "CREATE TABLE t (a INTEGER)",
        "DELETE FROM runs",
        "SELECT 1; DELETE FROM runs",
    ):
        r = cli("store", "sql", sql)
        assert r.returncode == 2, (sql, r.stdout, r.stderr)
        assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr, (sql, r.stderr)
        assert "passwd" not in r.stdout and "root:" not in r.stdout
    assert not list(tmp_path.glob("x.*"))
    r = cli("store", "sql", "SELECT count(*) AS n FROM runs", "--format", "json")
    assert r.returncode == 0 and '"n": 7' in r.stdout


def test_store_bad_input_is_one_line(workspace: Path, cli, tmp_path: Path) -> None:
    write_known(workspace)
    for args, words in (
        (["results", "model='llama"], "No closing quotation"),
        (["results", 'method="wanda'], "No closing quotation"),
        (["results", "--limit", "-1"], "--limit -1"),
    ):
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    r = cli("compare", "-m", "ppl", "-o", str(a_file / "out.csv"))
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_an_unwritable_export_path_is_one_line() -> None:
    """A folder the user cannot enter: checking whether the file exists already fails."""
    with open_dir() as base:
        ws = base / "ws"
        write_known(ws)
        ingest(ws)
        closed = base / "closed"
        closed.mkdir()
        give_away(ws)
        closed.chmod(0o000)
        try:
            r = cli_as_user(ws, "compare", "-m", "ppl", "-o", str(closed / "sub" / "x.csv"))
        finally:
            closed.chmod(0o700)
        assert r.returncode == 2, r.stderr
        assert "cannot write" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) <= 2


def test_query_only_reports_a_damaged_database(workspace: Path) -> None:
    write_known(workspace)
    ingest(workspace)
    db = db_path(workspace)
    db.write_bytes(db.read_bytes()[:5000])
    with pytest.raises(StoreError) as info, query_only(db):
        pass
    assert str(db) in info.value.message and "damaged" in info.value.message
    assert "langprune store rebuild" in info.value.fix
