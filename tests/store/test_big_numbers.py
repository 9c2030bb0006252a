"""Every number a spec accepts is one the store holds: bounded in the spec, 64-bit in the store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest

from langprune.engine.spec.errors import SpecError
from langprune.engine.spec.presets import from_dict
from langprune.store import schema
from langprune.store.db import connect
from langprune.store.ingest import ingest
from langprune.workspace import db_path
from tests.store.helpers import BASE, ppl_row, runs_of, write_known, write_run

BIG_SEED = 2**31 + 5


def _big_seed_workspace(ws: Path) -> str:
    write_known(ws)
    data = {**BASE, "calibration": {**BASE["calibration"], "seeds": [BIG_SEED]}}
    run = next(r for r in runs_of(data) if r.seed == BIG_SEED and r.calibration_language == "en")
    write_run(ws, run, [ppl_row("en", 11.0), ppl_row("de", 21.0)])
    return run.id


def test_a_seed_beyond_32_bits_ingests_and_every_query_works(workspace: Path, cli) -> None:
    run_id = _big_seed_workspace(workspace)
    r = cli("results", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in json.loads(r.stdout)}
    assert len(rows) == 8 and rows[run_id]["seed"] == BIG_SEED
    r = cli("results", f"seed={BIG_SEED}", "--format", "json")
    assert r.returncode == 0 and [row["id"] for row in json.loads(r.stdout)] == [run_id]
    r = cli("compare", "-m", "ppl", "--format", "json")
    assert r.returncode == 0, r.stderr
    cell = next(
        c
        for c in json.loads(r.stdout)["cells"]
        if c["calibration"] == "en" and c["language"] == "en"
    )
    assert BIG_SEED in cell["seeds"] and 11.0 in cell["values"]
    r = cli("store", "rebuild")
    assert r.returncode == 0 and "8 runs" in r.stdout, r.stderr
    r = cli("store", "sql", "SELECT seed FROM runs WHERE seed > 2147483647", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == [{"seed": BIG_SEED}]


def _version6_without_5(db: Path) -> None:
    """A database as langprune wrote it before migration 5 existed (versions 1-4 and 6)."""
    db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at DOUBLE)")
    for version in (1, 2, 3, 4, 6):
        for statement in schema.MIGRATIONS[version]:
            con.execute(statement)
        con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, time.time()])
    con.close()


def test_migration_5_reaches_a_database_already_at_version_6(workspace: Path) -> None:
    db = db_path(workspace)
    _version6_without_5(db)
    run_id = _big_seed_workspace(workspace)
    ingest(workspace)
    with connect(db, read_only=True) as con:
        assert schema.applied_versions(con) == set(schema.MIGRATIONS)
        types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                 "WHERE table_name = 'runs'").fetchall())  # fmt: skip
        assert con.execute("SELECT seed FROM runs WHERE id = ?", [run_id]).fetchone() == (BIG_SEED,)
    assert {types[c] for c in ("nsamples", "seqlen", "seed", "pid", "n_metrics")} == {"BIGINT"}


@pytest.mark.parametrize(
    ("table", "field", "value", "words"),
    [
        ("calibration", "seeds", [2**63], "seed 9223372036854775808 is out of range"),
        ("calibration", "seeds", [-1], "seed -1 is negative"),
        ("calibration", "nsamples", 2**31, "calibration.nsamples"),
        ("calibration", "seqlen", 2**40, "calibration.seqlen"),
        ("evaluation", "max_tokens", 2**63, "evaluation.max_tokens"),
        ("evaluation", "seqlen", 2**31, "evaluation.seqlen"),
    ],
)
def test_the_spec_refuses_numbers_the_store_cannot_hold(
    table: str, field: str, value: object, words: str
) -> None:
    data = json.loads(json.dumps(BASE))
    data.setdefault(table, {})[field] = value
    with pytest.raises(SpecError) as info:
        from_dict(data)
    (line,) = [p for p in info.value.problems if words in p]
    assert str(value if not isinstance(value, list) else value[0]) in line
    assert str(2**63 - 1) in line or str(2**31 - 1) in line
