"""Rows for the results screen: the store's run listing plus headline metrics (thread side only).

Runs come from `store.queries.list_runs` (same filter expression as `langprune results`), running
and queued ones first, as `langprune results` lists them. The
headline metrics are each run's mean over evaluation languages of a few well-known metrics, pivoted
in one DuckDB query, so 100,000 runs load in one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

HEADLINE = ("ppl", "bpb", "acc", "acc_norm")
RUN_COLUMNS = (
    "state",
    "model",
    "method",
    "sparsity",
    "calibration_language",
    "seed",
    "achieved_sparsity",
    "seconds_total",
    "experiment",
    "id",
    "cell_id",  # what the pruned model is; runs of one cell differ only in evaluation
)


def load(workspace: Path, filter_expr: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) for the runs matching the filter; FilterError when it is bad."""
    from langprune.store.db import connect
    from langprune.store.queries import list_runs
    from langprune.workspace import db_path

    runs = list_runs(workspace, filter_expr or None)
    names = ", ".join(f"'{m}'" for m in HEADLINE)
    with connect(db_path(workspace), read_only=True) as con:
        found = con.execute(
            f"SELECT run_id, metric, avg(value) FROM metrics WHERE metric IN ({names}) "
            "GROUP BY run_id, metric"
        ).fetchall()
    present = [m for m in HEADLINE if any(f[1] == m for f in found)]
    values: dict[tuple[str, str], float] = {(f[0], f[1]): f[2] for f in found}
    columns = [*RUN_COLUMNS[:6], *present, *RUN_COLUMNS[6:]]
    rows = [
        (
            *(r.get(c) for c in RUN_COLUMNS[:6]),
            *(values.get((r["id"], m)) for m in present),
            *(r.get(c) for c in RUN_COLUMNS[6:]),
        )
        for r in runs
    ]
    from langprune.tui.render import active_first

    return columns, active_first(rows, lambda row: row[0])  # running, queued, then grid order


def search(rows: Sequence[tuple[Any, ...]], text: str) -> list[tuple[Any, ...]]:
    """Rows where every word of `text` appears in some cell (case-insensitive)."""
    words = text.lower().split()
    if not words:
        return list(rows)
    out = []
    for row in rows:
        hay = " ".join("" if v is None else str(v) for v in row).lower()
        if all(w in hay for w in words):
            out.append(row)
    return out


def sort(rows: list[tuple[Any, ...]], index: int, reverse: bool) -> list[tuple[Any, ...]]:
    """Sort by one column; empty cells always last, numbers numerically."""

    def key(row: tuple[Any, ...]) -> tuple[int, Any]:
        v = row[index]
        if v is None:
            return (2, 0)
        if isinstance(v, (int, float)):
            return (0, v)
        return (1, str(v))

    present = [r for r in rows if r[index] is not None]
    missing = [r for r in rows if r[index] is None]
    return sorted(present, key=key, reverse=reverse) + missing
