"""Apply the CLI's filter expression to live rows read from run directories.

The store owns the filter language (`store.filters.parse_filter` / `to_sql`) and evaluates it in
SQL. To give the runs screen exactly the same semantics without re-implementing them, the live rows
go into a throw-away in-memory DuckDB table and the store's own WHERE clause selects from it.
Called from thread workers only (it imports duckdb).
"""

from __future__ import annotations

from collections.abc import Sequence

from langprune.tui.runstate import RunRow
from langprune.vocab import sparsity_fraction

_COLUMNS = (
    ("id", "VARCHAR"),
    ("experiment", "VARCHAR"),
    ("model", "VARCHAR"),
    ("model_id", "VARCHAR"),
    ("method", "VARCHAR"),
    ("sparsity", "VARCHAR"),
    ("sparsity_fraction", "DOUBLE"),
    ("calibration_language", "VARCHAR"),
    ("corpus", "VARCHAR"),
    ("seed", "BIGINT"),
    ("nsamples", "BIGINT"),
    ("seqlen", "BIGINT"),
    ("state", "VARCHAR"),
    ("host", "VARCHAR"),
    ("device", "VARCHAR"),
    ("achieved_sparsity", "DOUBLE"),
)


def parse(expr: str) -> list:
    """The store's parsed conditions; raises the store's FilterError (shown as the CLI shows it)."""
    from langprune.store.filters import parse_filter

    return parse_filter(expr)


def _none(value: str) -> str | None:
    return None if value in ("-", "") else value


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def apply(rows: Sequence[RunRow], conditions: list) -> list[RunRow]:
    """The rows the conditions keep, in their original order."""
    if not conditions:
        return list(rows)
    import duckdb

    from langprune.store.filters import to_sql

    where, params = to_sql(conditions)
    con = duckdb.connect(":memory:")
    try:
        con.execute(
            "CREATE TABLE runs (" + ", ".join(f"{c} {t}" for c, t in _COLUMNS) + ", pos BIGINT)"
        )
        con.executemany(
            "INSERT INTO runs VALUES (" + ", ".join("?" * (len(_COLUMNS) + 1)) + ")",
            [
                (
                    r.id,
                    _none(r.experiment),
                    r.model,
                    r.model_id,
                    _none(r.method),
                    _none(r.sparsity),
                    sparsity_fraction(r.sparsity),
                    _none(r.calib),
                    _none(r.corpus),
                    _int(r.seed),
                    r.nsamples,
                    r.seqlen,
                    r.state,
                    _none(r.host),
                    _none(r.device),
                    r.achieved,
                    i,
                )
                for i, r in enumerate(rows)
            ],
        )
        keep = con.execute(f"SELECT pos FROM runs WHERE {where} ORDER BY pos", params).fetchall()
    finally:
        con.close()
    return [rows[p] for (p,) in keep]
