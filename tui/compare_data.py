"""The compare screen's queries, run in its thread worker: the table, its facets and its plot.

Everything goes through `store.queries.compare`. When several values of a filter remain, the store
refuses to average them (AmbiguousComparison): `narrow` then picks one itself (a calibrated method
first) and returns what it chose, so the screen can say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langprune.tui import facets, plotdata

FILTERS = ("experiment", "model", "method", "sparsity", "task")


@dataclass
class Narrowed:
    """A comparison with the filters it used and the ones chosen for the user ('k=v (of ...)')."""

    table: Any
    filters: dict[str, str | None]
    auto: list[str] = field(default_factory=list)


def first_choice(field_name: str, choices: list[str]) -> str:
    """What the screen picks when the store asks for a choice: a calibrated method first
    (magnitude reads no calibration text, so it answers nothing about calibration languages)."""
    if field_name == "method":
        from langprune.cellid import uses_calibration

        calibrated = [c for c in choices if uses_calibration(c)]
        if calibrated:
            return calibrated[0]
    return choices[0]


def _kwargs(filters: dict[str, str | None]) -> dict[str, Any]:
    return {k: v for k, v in filters.items() if k in FILTERS or v is not None}


def narrow(
    workspace: Path,
    metric: str,
    filters: dict[str, str | None],
    delta: str | None,
    refresh: bool = True,
) -> Narrowed:
    """The comparison for `filters`, choosing a value for each filter the store asks for.
    Raises ValueError (StoreError) as `compare` does."""
    from langprune.store.queries import AmbiguousComparison, compare

    filters = dict(filters)
    auto: list[str] = []
    for _ in range(len(FILTERS) + 6):
        try:
            table = compare(
                workspace,
                metric,
                delta=delta,  # type: ignore[arg-type]  # the screen only holds None, "abs" or "rel"
                refresh=refresh and not auto,
                **_kwargs(filters),
            )
            return Narrowed(table, filters, auto)
        except AmbiguousComparison as exc:
            if not exc.choices:
                raise
            pick = first_choice(exc.field, exc.choices)
            filters[exc.field] = pick
            auto.append(f"{exc.field}={pick} (of {', '.join(exc.choices)})")
    raise ValueError("could not narrow the comparison down")


def facet_tables(
    workspace: Path,
    metric: str,
    filters: dict[str, str | None],
    delta: str | None,
    choices: dict[str, list[str]],
    asked: dict[str, str | None],
) -> list[tuple[str, str, Any]]:
    """(method, sparsity, table) per facet that has runs; `filters` are the single table's
    (other choices kept), `asked` the method and sparsity the user chose (None: every one)."""
    keys = facets.facet_keys(
        choices.get("method", []),
        choices.get("sparsity", []),
        asked.get("method"),
        asked.get("sparsity"),
    )
    out = []
    for method, sparsity in keys:
        try:
            found = narrow(
                workspace,
                metric,
                {**filters, "method": method, "sparsity": sparsity},
                delta,
                refresh=False,
            )
        except ValueError:  # no runs for this combination
            continue
        if found.table.rows and not found.table.is_empty:
            out.append((method, sparsity, found.table))
    return out


def plot_data(
    workspace: Path,
    table: Any,
    metric: str,
    filters: dict[str, str | None],
    delta: str | None,
    kind: str,
    levels: list[str],
) -> plotdata.PlotData:
    """What the plot panel draws: the table's own values (bars), or its row means per sparsity
    level, in the table's delta mode."""
    if kind == "bars":
        return plotdata.bars(table)
    tables: dict[str, Any] = {}
    for level in facets.ordered_sparsities(levels):
        try:
            found = narrow(workspace, metric, {**filters, "sparsity": level}, delta, refresh=False)
        except ValueError:
            continue
        tables[level] = found.table
    return plotdata.across_sparsity(tables, metric)
