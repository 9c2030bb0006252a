"""Exports carry the whole result: CSV, JSON and Parquet parse back; Markdown and LaTeX have the
expected structure."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import duckdb
import pytest

from langprune.store.errors import StoreError
from langprune.store.export import export, fmt_number
from langprune.store.queries import compare
from langprune.store.table import CompareTable
from tests.store.helpers import write_known


@pytest.fixture
def table(workspace: Path) -> CompareTable:
    write_known(workspace)
    return compare(workspace, "ppl", delta="abs")


def same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-12)  # type: ignore[arg-type]  # both sides are numbers here
    return a == b


def test_csv_parses_back(table: CompareTable, tmp_path: Path) -> None:
    path = export(table, "csv", tmp_path / "t.csv")
    rows = list(csv.DictReader(path.open()))
    records = table.records()
    assert len(rows) == len(records) == 7
    for row, rec in zip(rows, records, strict=True):
        assert row["calibration"] == rec["calibration"] and row["column"] == rec["column"]
        assert same(float(row["mean"]), rec["mean"]) and int(row["n"]) == rec["n"]
        assert row["best"] == str(rec["best"]) and row["diagonal"] == str(rec["diagonal"])


def test_json_parses_back(table: CompareTable, tmp_path: Path) -> None:
    data = json.loads(export(table, "json", tmp_path / "t.json").read_text())
    assert data["metric"] == "ppl" and data["higher_is_better"] is False and data["delta"] == "abs"
    assert data["filters"]["method"] == "wanda"
    # the calibration size and evaluation settings every cell shares travel with the table
    assert data["filters"]["nsamples"] == table.nsamples is not None
    assert data["filters"]["evaluation"] == table.evaluation is not None
    assert data["rows"] == ["dense", "de", "en", "sw"]
    assert [c["name"] for c in data["columns"]] == ["de", "en"]
    cell = next(c for c in data["cells"] if (c["calibration"], c["column"]) == ("en", "en"))
    assert cell["values"] == [10.0, 12.0] and cell["seeds"] == [0, 1]
    assert cell["delta_rel"] == pytest.approx(0.375) and cell["diagonal"] and cell["best"]
    assert data["best"] == {"de": "de", "en": "en"}
    assert data["row_means"]["sw"] == pytest.approx(6.0)


def test_parquet_parses_back(table: CompareTable, tmp_path: Path) -> None:
    path = export(table, "parquet", tmp_path / "t.parquet")
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
    rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    assert len(rows) == 7
    for row, rec in zip(rows, table.records(), strict=True):
        for key, value in rec.items():
            assert (value is None and row[key] is None) or same(row[key], value), key


def test_markdown_structure(table: CompareTable, tmp_path: Path) -> None:
    text = export(table, "md", tmp_path / "t.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert lines[0] == "| calibration | de | en | mean |"
    assert lines[1] == "|:---|---:|---:|---:|"
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["dense", "de", "en", "sw", "mean"]
    # one number of decimals per column: from its uncertainties (two digits of the median ±)
    assert "| en | +10.0 ± 2.8 | **+3.0 ± 1.4** † | +6.50 |" in lines
    assert "| sw | – | +6.0 ± 1.4 | +6.00 |" in lines
    assert "| dense | 12.0 | 8.0 | 10.00 |" in lines
    assert text.count("**") == 2 * (len(table.best) + 1)  # best cells, plus the bold title
    assert text.count("†") == 2 + 1  # the diagonal cells, plus the legend


def test_latex_structure(workspace: Path, tmp_path: Path) -> None:
    write_known(workspace)
    text = export(compare(workspace, "acc"), "latex", tmp_path / "t.tex").read_text()
    for needle in ("\\begin{tabular}{lrrr}", "\\toprule", "\\midrule", "\\bottomrule"):
        assert needle in text
    body = text[text.index("\\midrule") : text.index("\\bottomrule")]
    assert "$\\mathbf{0.650 \\pm 0.071}^{\\dagger}$" in body  # best, diagonal, two seeds
    assert "$0.550 \\pm 0.010$" in body  # sw: one seed, so ± is its evaluation stderr
    assert body.count("\\mathbf") == 2 and body.count("\\dagger") == 2
    assert (
        "$\\pm$: std over seeds, else the evaluation" in text and "seeds\\_per\\_cell=1-2" in text
    )


def test_bad_format(table: CompareTable, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown export format"):
        export(table, "xlsx", tmp_path / "t.xlsx")


def test_number_format() -> None:
    assert fmt_number(1234.5) == "1,234" and fmt_number(0.12345) == "0.123"
    assert fmt_number(3.0, delta="abs") == "+3.00" and fmt_number(-0.25, delta="rel") == "-25.0%"
    assert fmt_number(None) == "" and fmt_number(float("inf")) == "inf"
