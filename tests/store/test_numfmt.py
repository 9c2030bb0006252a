"""Fixed decimals per column and no signed zero, in every place a comparison is printed.

The check is recomputed from the printed text: every number of one column (cells, ± parts, the
column's mean) has the same count of digits after the point, and no zero carries a sign.
"""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from langprune.store.export import render
from langprune.store.numfmt import fmt_number, places
from langprune.store.table import Aggregate, CompareTable, build
from langprune.tui.render import build_table, compare_table

NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
SIGNED_ZERO = re.compile(r"[-+]0(?:\.0+)?(?![\d.])")


def _agg(row: str, lang: str, values: tuple[float, ...]) -> Aggregate:
    mean = sum(values) / len(values)
    std = None
    if len(values) > 1:
        std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return Aggregate(
        row=row, task="perplexity", language=lang, mean=mean, std=std, n=len(values),
        values=values, seeds=tuple(range(len(values))),
    )  # fmt: skip


def _table(delta: str | None, seeds: bool) -> CompareTable:
    """Near-zero deltas (+0.00004, -0.00005), magnitudes from 0.1 to 1500 in one table."""
    data = {
        ("dense", "en"): (20.0,), ("dense", "de"): (30.0,), ("dense", "ja"): (1500.0,),
        ("en", "en"): (20.00004,), ("en", "de"): (36.5,), ("en", "ja"): (1500.2,),
        ("de", "en"): (25.3,), ("de", "de"): (29.99995,), ("de", "ja"): (1712.0,),
    }  # fmt: skip
    if seeds:
        data = {k: (v[0], v[0] + 0.05) if k[0] != "dense" else v for k, v in data.items()}
    t = CompareTable(
        metric="ppl", higher_is_better=False, delta=delta, model=None, method="wanda",  # type: ignore[arg-type]  # the test walks every delta mode
        sparsity="0.5", corpus=None, task=None,
    )  # fmt: skip
    return build(t, [_agg(r, lang, v) for (r, lang), v in data.items()])


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _columns_of_markdown(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")][1:]
    cells = [[c.strip() for c in line.strip("|").split("|")][1:] for line in lines]
    return [list(col) for col in zip(*cells, strict=True)]


@pytest.mark.parametrize("delta", [None, "abs", "rel"])
@pytest.mark.parametrize("seeds", [False, True])
def test_one_decimal_count_per_column_and_no_signed_zero(delta: str | None, seeds: bool) -> None:
    table = _table(delta, seeds)
    md = render(table, "md")
    for column in _columns_of_markdown(md):
        numbers = [n for cell in column for n in NUMBER.findall(cell.replace("**", ""))]
        numbers = [n for n in numbers if not re.fullmatch(r"\(\d+\)", n)]
        assert numbers, column
        assert len({_decimals(n) for n in numbers}) == 1, column
    assert not SIGNED_ZERO.search(md), md
    latex = render(table, "latex")
    assert not SIGNED_ZERO.search(latex)
    console = Console(width=250, record=True, color_system=None)
    console.print(compare_table(table))
    console.print(build_table(table)[0])
    printed = console.export_text()
    assert not SIGNED_ZERO.search(printed), printed


def test_near_zero_deltas_print_as_unsigned_zero() -> None:
    table = _table("abs", False)
    md = render(table, "md")
    # en/en is +0.00004 and de/de -0.00005 against dense: both zero at the column's decimals
    assert "| de | **0.00** † | +5.30 |" in md and "| en | +6.50 | **0.00** † |" in md
    assert fmt_number(-0.0004, delta="abs", decimals=3) == "0.000"
    assert fmt_number(-0.0004, decimals=3) == "0.000"
    assert fmt_number(-0.00004, delta="rel") == "0.0%"
    assert fmt_number(-0.0006, delta="abs", decimals=3) == "-0.001"


def test_the_rule() -> None:
    # by magnitude of the largest value, without uncertainty
    assert places([0.5, 0.01]) == 3 and places([1.2, 30.0]) == 2 and places([150.0]) == 1
    assert places([1500.0, 2.0]) == 0 and places([]) == 3
    # two significant digits of the median uncertainty
    assert places([25.0], [0.021, 0.03, 0.9]) == 3 and places([25.0], [3.1]) == 1
    assert places([25.0], [40.0]) == 0 and places([1.0], [1e-9]) == 4
