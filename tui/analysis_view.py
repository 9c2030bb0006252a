"""Rich renderables of the analysis views, for the TUI's analysis screen (no Textual, no torch).

A matrix is drawn as a table whose cells are shaded by value on one colour scale per matrix (its
own min..max, so a small difference between calibration languages is still visible; the numbers
stay written in every cell). A per-layer profile is drawn as one row of block characters per
series, heights scaled to the matrix's value range, with the values listed below it.
"""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

from langprune.store.analysis_queries import Cell, Matrix

BLOCKS = " ▁▂▃▄▅▆▇█"


def _range(m: Matrix) -> tuple[float, float]:
    vals = [c.mean for c in m.cells.values() if c.n and not math.isnan(c.mean)]
    return (min(vals), max(vals)) if vals else (0.0, 1.0)


def shade(value: float, lo: float, hi: float) -> str:
    """A background colour from dark blue (lo) to bright yellow (hi)."""
    t = 0.5 if hi <= lo else (value - lo) / (hi - lo)
    t = min(1.0, max(0.0, t))
    r, g, b = int(30 + 200 * t), int(40 + 180 * t), int(120 - 90 * t)
    return f"on rgb({r},{g},{b})"


def _text(cell: Cell | None, lo: float, hi: float) -> Text:
    if cell is None or cell.n == 0 or math.isnan(cell.mean):
        return Text("-", style="dim")
    label = f"{cell.mean:.3f}" + (f"±{cell.spread:.3f}" if cell.spread else "")
    fg = "black" if (cell.mean - lo) / ((hi - lo) or 1) > 0.5 else "white"
    return Text(label, style=f"{fg} {shade(cell.mean, lo, hi)}")


def heat_table(m: Matrix) -> Table:
    """The matrix with heat-shaded cells; the diagonal is bold when rows and columns agree."""
    lo, hi = _range(m)
    group = " ".join(f"{k}={v}" for k, v in m.group.items())
    table = Table(title=f"{m.title}\n{group}", title_justify="left")
    table.add_column(f"{m.row_label} \\ {m.col_label}", style="bold")
    for col in m.cols:
        table.add_column(col, justify="right")
    for row in m.rows:
        cells = [_text(m.cells.get((row, col)), lo, hi) for col in m.cols]
        if m.rows == m.cols:
            cells[m.cols.index(row)].stylize("bold underline")
        table.add_row(row, *cells)
    return table


def profile_plot(m: Matrix) -> Group:
    """One line of bars per row of the matrix, columns in order (e.g. layers)."""
    lo, hi = _range(m)
    width = max((len(r) for r in m.rows), default=0)
    lines = [Text(f"{m.title} (bars from {lo:.3f} to {hi:.3f})", style="bold")]
    for row in m.rows:
        bars = ""
        for col in m.cols:
            c = m.cells.get((row, col))
            if c is None or c.n == 0 or math.isnan(c.mean):
                bars += " "
                continue
            t = 1.0 if hi <= lo else (c.mean - lo) / (hi - lo)
            bars += BLOCKS[1 + round(t * (len(BLOCKS) - 2))]
        lines.append(Text(f"{row.ljust(width)}  {bars}"))
    lines.append(Text(f"{'':{width}}  {m.col_label}s {', '.join(m.cols)}", style="dim"))
    return Group(*lines)


def render_view(matrices: list[Matrix]) -> Group:
    """Every matrix of a view: profiles (columns are layers) as plots, and every one as a table."""
    parts: list[Table | Group | Text] = []
    for m in matrices:
        if m.col_label == "layer":
            parts.append(profile_plot(m))
        parts.append(heat_table(m))
        parts.append(Text(""))
    return Group(*parts) if parts else Group(Text("no analysis rows match these filters"))
