"""A damaged results.duckdb: one line naming the file and `langprune store rebuild`, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.store.ingest import ingest
from langprune.workspace import db_path
from tests.store.helpers import write_known


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_database_is_named_with_its_fix(workspace: Path, cli, damage: str) -> None:
    write_known(workspace)
    ingest(workspace)
    db = db_path(workspace)
    data = db.read_bytes()
    db.write_bytes(data[:5000] if damage == "truncated" else b"not a database\n" * 100)
    for args in (["results"], ["compare", "-m", "ppl"], ["store", "sql", "SELECT 1"]):
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        first, fix = r.stderr.splitlines()[:2]
        assert first.startswith("error: ") and str(db) in first and "damaged" in first
        assert fix.startswith("fix: ") and "langprune store rebuild" in fix
    r = cli("status")
    assert r.returncode == 0 and "langprune store rebuild" in r.stderr
    r = cli("store", "rebuild")
    assert r.returncode == 0, r.stderr
    r = cli("results", "--format", "json")
    assert r.returncode == 0 and r.stdout.count('"id"') == 7


def test_an_unreadable_database_is_named_with_its_fix() -> None:
    from tests.store.unprivileged import cli_as_user, give_away, open_dir

    with open_dir() as base:
        ws = base / "ws"
        write_known(ws)
        ingest(ws)
        give_away(ws)
        db = db_path(ws)
        db.chmod(0o000)
        r = cli_as_user(ws, "results")
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        first, fix = r.stderr.splitlines()[:2]
        assert str(db) in first and "cannot be read" in first, r.stderr
        assert "chmod u+rw" in fix and "langprune store rebuild" in fix
