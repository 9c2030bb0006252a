"""The compare screen's column toggles: `x` hides only all-equal columns, `w` keeps clear winners."""

from __future__ import annotations

from langprune.store.table import Aggregate, CompareTable, build
from langprune.tui.render import build_table, clear_columns, differing_columns


def _agg(row: str, lang: str, values: tuple[float, ...]) -> Aggregate:
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return Aggregate(row, "perplexity", lang, mean, std, len(values), values, (0, 1))


def _table() -> CompareTable:
    table = CompareTable(
        metric="ppl", higher_is_better=False, delta=None, model="m", method="wanda",
        sparsity="0.5", corpus=None, task=None,
    )  # fmt: skip
    return build(
        table,
        [
            # same: every row equal -> hidden by x
            _agg("de", "same", (5.0, 5.0)), _agg("en", "same", (5.0, 5.0)),
            # wide: ranges overlap (a tie) but the rows differ -> kept by x, dropped by w
            _agg("de", "wide", (10.0, 14.0)), _agg("en", "wide", (11.0, 15.0)),
            # clear: de wins by far more than the spread
            _agg("de", "clear", (1.0, 1.1)), _agg("en", "clear", (9.0, 9.1)),
        ],
    )  # fmt: skip


def test_diff_only_hides_only_all_equal_columns() -> None:
    t = _table()
    assert differing_columns(t) == ["clear", "wide"]
    assert clear_columns(t) == ["clear"]
    assert t.ties["wide"] == ["de", "en"] and t.best == {"clear": "de"}
    _, shown = build_table(t, diff_only=True, clear_only=True)
    assert shown == ["clear"]
    _, shown = build_table(t)
    assert shown == ["clear", "same", "wide"]
