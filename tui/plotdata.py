"""What the compare plot draws, from the same tables the screen shows (pure; no plotting here).

Decisions:

* The plot shows the table's numbers: deltas when the table is in delta mode (relative deltas in
  percent), else the means; the dense row is left out of a delta plot (it is the zero line).
* Across sparsity, x is categorical: one position per sparsity level in `facets.sparsity_key`
  order, labelled with the level, so 0.5, 2:4 and 4:8 are three points, not one.
* The y axis spans the values with a margin (`axis_limits`), so a 1% difference is visible; zero
  is on the axis only when the values come near it. Bars start at the axis' lower limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DENSE_ROW = "dense"


@dataclass
class PlotData:
    """One plot: `kind` is 'sparsity' (lines across levels) or 'bars' (per language)."""

    kind: str
    title: str
    labels: list[str]  # x categories: sparsity levels or evaluation columns
    series: dict[str, list[float | None]] = field(default_factory=dict)  # row -> y per label
    ylabel: str = ""

    def values(self) -> list[float]:
        return [v for ys in self.series.values() for v in ys if v is not None]


def _unit(table: Any, value: float | None) -> float | None:
    if value is None:
        return None
    return value * 100 if table.delta == "rel" else value


def _what(metric: str, delta: str | None, baseline: str) -> str:
    if delta == "abs":
        return f"{metric} - {baseline}"
    if delta == "rel":
        return f"{metric} vs {baseline} (%)"
    return metric


def _rows(table: Any) -> list[str]:
    if table.delta is None:
        return list(table.rows)
    return [r for r in table.rows if r not in (DENSE_ROW, table.baseline)]


def bars(table: Any, limit: int = 8) -> PlotData:
    """Per evaluation column, one bar per calibration row: the values the table shows."""
    series = {
        row: [
            _unit(table, table.shown(table.cells[(row, c)])) if (row, c) in table.cells else None
            for c in table.columns
        ]
        for row in _rows(table)[:limit]
    }
    title = f"{_what(table.metric, table.delta, table.baseline)} per evaluation language"
    return PlotData("bars", title + ", by calibration language", list(table.columns), series)


def across_sparsity(tables: dict[str, Any], metric: str) -> PlotData:
    """Row means (mean over evaluation columns, as the table's mean column) per sparsity level;
    `tables` maps each level (in order) to its table."""
    labels = list(tables)
    rows: list[str] = []
    for t in tables.values():
        rows += [r for r in _rows(t) if r != DENSE_ROW and r not in rows]
    any_table = next(iter(tables.values()), None)
    delta = any_table.delta if any_table is not None else None
    baseline = any_table.baseline if any_table is not None else DENSE_ROW
    series = {row: [_unit(t, t.row_means.get(row)) for t in tables.values()] for row in rows}
    title = f"{_what(metric, delta, baseline)} (mean over eval languages) across sparsity"
    return PlotData("sparsity", title, labels, series)


def axis_limits(values: list[float], margin: float = 0.15) -> tuple[float, float] | None:
    """y limits around `values` with a margin; zero included only when it is within reach."""
    if not values:
        return None
    lo, hi = min(values), max(values)
    span = hi - lo
    if span == 0:
        span = abs(hi) * 0.1 or 1.0
    lo, hi = lo - margin * span, hi + margin * span
    if 0 < lo < 0.25 * span:
        lo = 0.0
    if -0.25 * span < hi < 0:
        hi = 0.0
    return lo, hi
