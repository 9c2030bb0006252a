"""Apply the CLI's filter expression to live rows read from run directories.

The store owns the filter language (`store.filters.parse_filter` / `to_sql`) and, for live
RunRecords, `filter_records`, which evaluates the store's own WHERE clause over them in a
throw-away in-memory DuckDB table: the runs screen, `results` and `cancel`/`retry` agree.
Called from thread workers only (it imports duckdb).
"""

from __future__ import annotations

from collections.abc import Sequence

from langprune.store.records import RunRecord


def parse(expr: str) -> list:
    """The store's parsed conditions; raises the store's FilterError (shown as the CLI shows it)."""
    from langprune.store.filters import parse_filter

    return parse_filter(expr)


def apply(rows: Sequence[RunRecord], conditions: list) -> list[RunRecord]:
    """The rows the conditions keep, in their original order."""
    from langprune.store.filters import filter_records

    return filter_records(rows, conditions)
