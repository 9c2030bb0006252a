"""Export a whole comparison (every cell with its statistics, not the on-screen view).

csv, parquet: the long form, one record per cell (`CompareTable.records()`).
json: the table's metadata, rows, columns, cells, best per column and the means.
md, latex: the grid as a paper table: mean ± std when several seeds, the best value per column
in bold, the diagonal marked with a dagger, row means in a last column and column means in a last
row; with a delta, pruned rows show it and the dense row its absolute values.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from langprune.store.errors import StoreError
from langprune.store.numfmt import cell_text, fmt_number, mean_text
from langprune.store.table import DENSE_ROW, Cell, CompareTable

__all__ = ["cell_text", "export", "fmt_number", "mean_text", "render"]

Format = Literal["csv", "json", "parquet", "md", "latex"]
FORMATS: tuple[str, ...] = ("csv", "json", "parquet", "md", "latex")
_SUFFIX = {"csv": ".csv", "json": ".json", "parquet": ".parquet", "md": ".md", "latex": ".tex"}


def suffix(fmt: str) -> str:
    return _SUFFIX[fmt]


def legend(table: CompareTable) -> str:
    """What bold, ties, † and ± mean, and over how many seeds: the same words everywhere."""
    parts = [
        "bold: the column's clear best (beats the runner-up by more than their combined "
        "uncertainty)",
        "~: tied at the top within uncertainty",
        "†: calibrated in the evaluated language",
        "±: std over seeds, else the evaluation's standard error",
    ]
    seeds = table.seeds_per_cell()
    if seeds:
        parts.append(f"seeds per cell: {seeds}")
    return "; ".join(parts) + "."


def context_line(table: CompareTable) -> str:
    """The table's full context as 'key=value' pairs (exports carry it)."""
    return "  ".join(f"{k}={v}" for k, v in table.context().items() if v not in (None, ""))


def to_json(table: CompareTable) -> dict[str, object]:
    return {
        "metric": table.metric,
        "higher_is_better": table.higher_is_better,
        "delta": table.delta,
        "filters": {
            "model": table.model,
            "method": table.method,
            "sparsity": table.sparsity,
            "corpus": table.corpus,
            "task": table.task,
            "nsamples": table.nsamples,
            "seqlen": table.seqlen,
            "evaluation": table.evaluation,
        },
        "rows": table.rows,
        "columns": [
            {"name": c, "task": table.column_keys[c][0], "language": table.column_keys[c][1]}
            for c in table.columns
        ],
        "cells": [_with_values(table, rec) for rec in table.records()],
        "best": table.best,
        "ties": table.ties,
        "context": table.context(),
        "pending": table.pending,
        "footnotes": table.footnotes(),
        "row_means": table.row_means,
        "column_means": table.column_means,
    }


def _with_values(table: CompareTable, record: dict[str, object]) -> dict[str, object]:
    cell = table.cells[(str(record["calibration"]), str(record["column"]))]
    return {**record, "values": list(cell.values), "seeds": list(cell.seeds)}


def _csv_record(table: CompareTable, record: dict[str, object]) -> dict[str, object]:
    """A CSV line: full-precision numbers (no negative zero) and `shown`, the cell as printed."""
    cell = table.cells[(str(record["calibration"]), str(record["column"]))]
    value, spread = cell_text(table, cell)
    clean = {k: 0.0 if isinstance(v, float) and v == 0 else v for k, v in record.items()}
    return {**clean, "shown": value if spread is None else f"{value} ± {spread}"}


def to_csv(table: CompareTable) -> str:
    records = [_csv_record(table, r) for r in table.records()]
    out = io.StringIO()
    fields = list(records[0]) if records else ["calibration", "column", "mean"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def _write_parquet(table: CompareTable, path: Path) -> None:
    # DuckDB's own Parquet writer: no extra dependency, and the file opens anywhere.
    import duckdb
    import pyarrow as pa

    records = table.records()
    arrow = pa.Table.from_pylist(records) if records else pa.table({"calibration": []})
    con = duckdb.connect()
    try:
        con.register("cells", arrow)
        escaped = str(path).replace("'", "''")
        con.execute(f"COPY cells TO '{escaped}' (FORMAT parquet)")
    finally:
        con.close()


def _grid(
    table: CompareTable,
    show: Callable[[str, str | None, Cell], str],
    missing: str,
    escape: Callable[[str], str] = str,
) -> list[list[str]]:
    """Header, one line per row and the means line of the grid; `show(value, spread, cell)`
    renders a cell in the target format, `escape` every other piece of text."""
    header = [escape(h) for h in ("calibration", *table.columns, "mean")]
    body = []
    for row in table.rows:
        line = [escape(row)]
        for column in table.columns:
            cell = table.cell(row, column)
            if cell is None:
                status = table.status(row, column)
                line.append(missing if status == "—" else escape(status))
            else:
                line.append(show(*cell_text(table, cell), cell))
        line.append(escape(mean_text(table, table.row_means.get(row), row)))
        body.append(line)
    means = [escape(mean_text(table, table.column_means.get(c), column=c)) for c in table.columns]
    return [header, *body, [escape("mean"), *means, ""]]


def _markdown_cell(value: str, spread: str | None, cell: Cell) -> str:
    text = value if spread is None else f"{value} ± {spread}"
    text = f"**{text}**" if cell.best else f"~{text}" if cell.tie else text
    return text + " †" if cell.diagonal else text


def to_markdown(table: CompareTable) -> str:
    grid = _grid(table, _markdown_cell, "–")
    lines = [
        f"**{table.title()}**",
        "",
        "| " + " | ".join(grid[0]) + " |",
        "|" + "|".join([":---", *["---:"] * (len(grid[0]) - 1)]) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in grid[1:]]
    lines += ["", legend(table), "", f"Context: {context_line(table)}"]
    lines += [f"- {note}" for note in table.footnotes()]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_cell(value: str, spread: str | None, cell: Cell) -> str:
    body = latex_escape(value) + ("" if spread is None else f" \\pm {spread}")
    body = f"\\mathbf{{{body}}}" if cell.best else f"{{\\sim}}{body}" if cell.tie else body
    return f"${body}^{{\\dagger}}$" if cell.diagonal else f"${body}$"


def _latex_legend(table: CompareTable) -> str:
    text = latex_escape(legend(table))
    return (
        text.replace("\\textasciitilde{}", "$\\sim$")
        .replace("±", "$\\pm$")
        .replace("†", "$^\\dagger$")
    )


def to_latex(table: CompareTable) -> str:
    _, *rows, means = _grid(table, _latex_cell, "--", latex_escape)
    header = ["Calibration", *(latex_escape(c) for c in table.columns), "Mean"]
    lines = [
        "% requires \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        "\\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        "\\toprule",
        " & ".join(header) + " \\\\",
        "\\midrule",
    ]
    for row, line in zip(table.rows, rows, strict=True):
        lines.append(" & ".join(line) + " \\\\")
        if row == DENSE_ROW:
            lines.append("\\midrule")
    lines += [
        "\\midrule",
        " & ".join(["Mean", *means[1:]]) + " \\\\",
        "\\bottomrule",
        "\\end{tabular}",
        f"\\caption{{{latex_escape(table.title())}. {_latex_legend(table)} "
        f"{latex_escape(context_line(table))}"
        + "".join(f" {latex_escape(note)}." for note in table.footnotes())
        + "}",
        "\\end{table}",
    ]
    return "\n".join(lines) + "\n"


def render(table: CompareTable, fmt: str) -> str:
    """A text format as a string (csv, json, md, latex)."""
    if fmt == "csv":
        return to_csv(table)
    if fmt == "json":
        return json.dumps(to_json(table), indent=1) + "\n"
    if fmt == "md":
        return to_markdown(table)
    if fmt == "latex":
        return to_latex(table)
    raise StoreError(f"{fmt!r} is not a text format (choose csv, json, md or latex)")


def default_name(table: CompareTable, fmt: str) -> str:
    """'compare-<metric>-<method>-<sparsity>[-<experiment>][-vs-<baseline>]<suffix>', so exports
    of different tables never share a name."""
    parts = ["compare", table.metric, table.method or "all", table.sparsity or "all"]
    if table.experiment:
        parts.append(table.experiment)
    if table.delta:
        parts.append(f"{table.delta}-vs-{table.baseline}")
    name = "-".join(parts)
    safe = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in name.replace(":", "of"))
    return safe + suffix(fmt)


_WRITABLE = "give --output a path in a folder you can write to"


def export(table: CompareTable, fmt: str, path: Path | str, *, force: bool = False) -> Path:
    """Write `table` to `path` in `fmt` (csv, json, parquet, md, latex); returns the path.

    An existing file is refused unless `force`; a folder, or a path that cannot be created or
    written, raises StoreError with one line saying so (the caller exits 2 or shows it)."""
    if fmt not in FORMATS:
        raise StoreError(f"unknown export format {fmt!r} (choose {', '.join(FORMATS)})")
    path = Path(path).expanduser()
    try:
        if path.is_dir():
            raise StoreError(
                f"{path} is a folder; give a file name such as {path / default_name(table, fmt)}"
            )
        if path.exists() and not force:
            raise StoreError(
                f"{path} exists; pass --force to overwrite it (or choose another name)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            _write_parquet(table, path)
        else:
            path.write_text(render(table, fmt), encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}", _WRITABLE) from None
    except Exception as exc:  # duckdb's IOException for parquet
        if "duckdb" in type(exc).__module__ or "IO" in type(exc).__name__:
            raise StoreError(
                f"cannot write {path}: {str(exc).splitlines()[0]}", _WRITABLE
            ) from None
        raise
    return path
