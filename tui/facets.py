"""Small multiples for the compare screen: which facets (method x sparsity) and their grid.

Decisions:

* From FACET_MIN_WIDTH columns on, compare shows one table per method x sparsity (`f` toggles back
  to the single table); narrower terminals keep the single table.
* Facets are every pruning method present (dense is the baseline, never a facet) x every sparsity
  present, narrowed by the method and sparsity filters when set; combinations without runs are
  dropped by the caller (the store says so).
* Sparsities are ordered by fraction, unstructured before N:M at the same fraction, then N:M by M
  (0.5, 2:4, 4:8): each N:M pattern is its own category, never merged with 0.5.
* The grid puts one sparsity per grid column (methods down) when the facets fit side by side,
  else as many columns as fit; panels share the screen equally, and a table gets a blank line
  between rows (`leading`) when its panel is tall enough for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from langprune.vocab import Sparsity

FACET_MIN_WIDTH = 120
PANEL_MIN_WIDTH = 44  # a 3-language table with its mean column, border and padding


def sparsity_key(level: str) -> tuple[float, int, int]:
    """Order sparsities: by fraction, unstructured first, then N:M by M (0.5 < 2:4 < 4:8)."""
    try:
        s = Sparsity.parse(level)
    except ValueError:
        return (math.inf, 0, 0)
    return (s.fraction, int(s.is_nm), s.m)


def ordered_sparsities(levels: Iterable[str]) -> list[str]:
    return sorted({lv for lv in levels if lv}, key=sparsity_key)


def facet_keys(
    methods: Iterable[str],
    sparsities: Iterable[str],
    method: str | None = None,
    sparsity: str | None = None,
) -> list[tuple[str, str]]:
    """(method, sparsity) per facet, methods in their order, sparsities by `sparsity_key`."""
    ms = [m for m in methods if m and m != "dense" and (method is None or m == method)]
    ss = [s for s in ordered_sparsities(sparsities) if sparsity is None or s == sparsity]
    return [(m, s) for m in ms for s in ss]


def grid_columns(keys: list[tuple[str, str]], width: int, table_width: int = 0) -> int:
    """How many panels side by side: one per sparsity when they fit, else as many as fit;
    `table_width` is the widest table's natural width (a panel adds its border and padding)."""
    if not keys:
        return 1
    per_method = len({s for _, s in keys})
    fit = max(1, width // max(PANEL_MIN_WIDTH, table_width + 5))
    if per_method <= fit:
        return per_method
    return min(fit, len(keys))


def grid_rows(n: int, columns: int) -> int:
    return max(1, math.ceil(n / max(1, columns)))


def leading(panel_height: int, table_rows: int) -> int:
    """Blank lines between a table's rows (0 to 2) so that it fills its panel: `table_rows`
    rows plus the header and the mean line, inside a border of two lines."""
    lines = table_rows + 2
    return max(0, min(2, (panel_height - 2) // lines - 1))
