"""How every number of a comparison is printed (TUI, CLI `compare`, md/latex exports): one owner.

Decisions:

* Fixed decimals per column: every number in one column (its cells, their ± part and the column's
  mean) has the same number of decimals, chosen once per column by `places`:
  - with known uncertainties (std over seeds or standard errors; not for relative deltas), the
    median uncertainty gets two significant digits (0.021 -> 3 decimals, 3.1 -> 1);
  - else by the magnitude of the largest contrasted value (the deltas when in delta mode, else the
    means): 0 decimals from 1000, 1 from 100, 2 from 1, 3 below;
  - never more than MAX_PLACES.
* Relative deltas are percentages ("+8.3%"), and the rule sees them as such.
* A number that rounds to zero prints as an unsigned zero ("0.000", "0.0%"): never "-0.000" or
  "+0.000".
* Deltas are signed; 0 decimals get thousands separators.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import median
from typing import Any

MAX_PLACES = 4
DENSE_ROW = "dense"  # same as store.table.DENSE_ROW (kept import-free: this module is pure)


def magnitude_places(value: float) -> int:
    """Decimals for a number of this size: 0 from 1000, 1 from 100, 2 from 1, 3 below."""
    magnitude = abs(value)
    return 0 if magnitude >= 1000 else 1 if magnitude >= 100 else 2 if magnitude >= 1 else 3


def _finite(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def places(values: Iterable[float | None], spreads: Iterable[float | None] = ()) -> int:
    """The decimals of one column, from its contrasted values (display units) and uncertainties."""
    known = [s for s in _finite(spreads) if s > 0]
    if known:
        u = median(known)
        return max(0, min(MAX_PLACES, 1 - math.floor(math.log10(u))))
    kept = [abs(v) for v in _finite(values)]
    if not kept:
        return 3
    return min(MAX_PLACES, magnitude_places(max(kept)))


def fmt_number(
    value: float | None, *, delta: str | None = None, decimals: int | None = None
) -> str:
    """A number for a table: deltas signed, relative deltas as percentages, zero unsigned."""
    if value is None or math.isnan(value):
        return ""
    if math.isinf(value):
        return str(value)
    if delta == "rel":
        p = 1 if decimals is None else decimals
        pct = value * 100
        if round(pct, p) == 0:
            return f"{0:.{p}f}%"
        return f"{pct:+.{p}f}%"
    p = magnitude_places(value) if decimals is None else decimals
    if round(value, p) == 0:
        return f"{0:.{p}f}"
    sign = "+" if delta == "abs" else ""
    return f"{value:{sign},.{p}f}" if p == 0 else f"{value:{sign}.{p}f}"


# ---- a CompareTable's columns (typed Any: this module imports nothing of the store) ----


def _delta_of(table: Any, row: str) -> str | None:
    """The delta mode a row's numbers are shown in: None for the dense row and the baseline."""
    return None if row in (DENSE_ROW, table.baseline) else table.delta


def _display(value: float | None, delta: str | None) -> float | None:
    """A number in the units it is printed in (relative deltas in percent)."""
    if value is None:
        return None
    return value * 100 if delta == "rel" else value


def column_places(table: Any, column: str) -> int:
    """The decimals of every number in `column` of a CompareTable (see the module doc)."""
    cells = [table.cells[(r, column)] for r in table.rows if (r, column) in table.cells]
    contrasted = [c for c in cells if _delta_of(table, c.row) is not None] or cells
    values = [_display(table.shown(c), _delta_of(table, c.row)) for c in contrasted]
    mean = table.column_means.get(column)
    if table.delta is None or contrasted is not cells:
        values.append(_display(mean, table.delta))
    spreads = [] if table.delta == "rel" else [c.spread for c in cells]
    return places(values, spreads)


def mean_places(table: Any) -> int:
    """The decimals of the row-mean column."""
    rows = [r for r in table.rows if table.row_means.get(r) is not None]
    contrasted = [r for r in rows if _delta_of(table, r) is not None] or rows
    return places(_display(table.row_means[r], _delta_of(table, r)) for r in contrasted)


def cell_text(table: Any, cell: Any, decimals: int | None = None) -> tuple[str, str | None]:
    """The displayed value of a cell and its ± part (the std over seeds when several, else the
    evaluation's standard error; None when neither is known or for a relative delta), both with
    the column's decimals."""
    delta = _delta_of(table, cell.row)
    p = column_places(table, cell.column) if decimals is None else decimals
    text = fmt_number(table.shown(cell), delta=delta, decimals=p)
    spread = None
    if cell.spread is not None and not math.isnan(cell.spread) and delta != "rel":
        spread = fmt_number(cell.spread, decimals=p)
    return text, spread


def mean_text(
    table: Any, value: float | None, row: str | None = None, *, column: str | None = None
) -> str:
    """A mean: of a column (`column` given: its decimals) or of a row (the mean column's)."""
    if column is not None:
        return fmt_number(value, delta=table.delta, decimals=column_places(table, column))
    delta = table.delta if row is None else _delta_of(table, row)
    return fmt_number(value, delta=delta, decimals=mean_places(table))
