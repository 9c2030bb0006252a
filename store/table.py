"""The comparison table: calibration language (rows) x evaluation language (columns).

Built from per-cell aggregates (see `queries.compare`), with no SQL here. Decisions:

* Rows are the calibration languages, after the dense baseline (row "dense") when there is one.
  Single languages come first (alphabetical), then mixes such as "en+de".
* Columns are evaluation languages; when the metric comes from more than one task (or perplexity
  corpus), they are "task/language".
* A cell aggregates one value per run over seeds: mean, sample std (None for one value), n.
* Deltas are against the dense cell of the same column: abs = mean - dense, rel = abs / dense.
* "Best" is the best pruned row per column (the dense baseline is the reference, not a
  contender), by the metric's direction; ties are all best.
* The diagonal is a row calibrated in the column's language. A mix counts for each of its
  languages: "en+de" is on the diagonal of both the en and the de column.
* Row and column means average the displayed values (means, or deltas when a delta is chosen;
  the dense row always shows its means) over the cells that exist; column means leave the dense row
  out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from langprune.vocab import is_mix, mix_parts

DENSE_ROW = "dense"
Delta = Literal["abs", "rel"]

# Metrics where a smaller number is better; everything else (accuracies, F1, ...) is higher-better.
LOWER_IS_BETTER = frozenset(
    {"ppl", "bpb", "nll", "perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte",
     "loss", "ter", "wer", "cer"}
)  # fmt: skip


def higher_is_better(metric: str) -> bool:
    return metric.split(",", 1)[0] not in LOWER_IS_BETTER


@dataclass(frozen=True)
class Cell:
    """One (calibration language, evaluation column) cell."""

    row: str
    column: str
    task: str
    language: str
    mean: float
    std: float | None
    n: int
    values: tuple[float, ...]
    seeds: tuple[int | None, ...]
    delta_abs: float | None = None
    delta_rel: float | None = None
    diagonal: bool = False
    best: bool = False
    rank: int | None = None  # 0 = best among the pruned rows of the column; None for dense


@dataclass
class CompareTable:
    """A whole comparison: everything needed to display or export it."""

    metric: str
    higher_is_better: bool
    delta: Delta | None
    model: str | None
    method: str | None
    sparsity: str | None
    corpus: str | None
    task: str | None
    nsamples: int | None = None  # calibration size, when all pruned rows share one
    seqlen: int | None = None
    evaluation: str | None = None  # evaluation settings, when all values share one
    explicit: tuple[str, ...] = ()  # which of the three above were asked for (shown in the title)
    rows: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    column_keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (task, language)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    best: dict[str, str] = field(default_factory=dict)  # column -> best pruned row
    row_means: dict[str, float | None] = field(default_factory=dict)
    column_means: dict[str, float | None] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.cells

    @property
    def has_dense(self) -> bool:
        return DENSE_ROW in self.rows

    @property
    def several_seeds(self) -> bool:
        return any(c.n > 1 for c in self.cells.values())

    def cell(self, row: str, column: str) -> Cell | None:
        return self.cells.get((row, column))

    def shown(self, cell: Cell) -> float | None:
        """The number displayed for a cell: its mean, or its delta when one was asked for."""
        if self.delta is None or cell.row == DENSE_ROW:
            return cell.mean
        return cell.delta_abs if self.delta == "abs" else cell.delta_rel

    def column_size(self, column: str) -> int:
        """How many pruned rows have a value in `column` (for colouring by rank)."""
        return sum(1 for r in self.rows if r != DENSE_ROW and (r, column) in self.cells)

    def title(self) -> str:
        parts = [f"{self.metric} ({'higher' if self.higher_is_better else 'lower'} is better)"]
        for name in ("model", "method", "sparsity", "corpus", "nsamples", "seqlen", "task"):
            value = getattr(self, name)
            if value is not None and (name not in ("nsamples", "seqlen") or name in self.explicit):
                parts.append(f"{name}={value}")
        if self.evaluation is not None and "evaluation" in self.explicit:
            parts.append(f"evaluation={self.evaluation}")
        if self.delta:
            parts.append(f"delta={self.delta} vs dense")
        return "  ".join(parts)

    def records(self) -> list[dict[str, object]]:
        """Every cell as a flat record (the long form used by CSV, JSON and Parquet)."""
        out = []
        for row in self.rows:
            for column in self.columns:
                c = self.cells.get((row, column))
                if c is None:
                    continue
                out.append(
                    {
                        "calibration": row, "column": column, "task": c.task,
                        "language": c.language, "metric": self.metric, "mean": c.mean,
                        "std": c.std, "n": c.n, "delta_abs": c.delta_abs,
                        "delta_rel": c.delta_rel, "best": c.best, "diagonal": c.diagonal,
                        "rank": c.rank, "row_mean": self.row_means.get(row),
                        "column_mean": self.column_means.get(column),
                    }
                )  # fmt: skip
        return out


def _row_order(row: str) -> tuple[int, str]:
    if row == DENSE_ROW:
        return (0, "")
    return (2 if is_mix(row) else 1, row)


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else None


@dataclass(frozen=True)
class Aggregate:
    """One cell's raw aggregate as the query returns it."""

    row: str
    task: str
    language: str
    mean: float
    std: float | None
    n: int
    values: tuple[float, ...]
    seeds: tuple[int | None, ...]


def build(table: CompareTable, aggregates: list[Aggregate]) -> CompareTable:
    """Fill `table` (its metric, direction, delta and filters set) from cell aggregates."""
    tasks = sorted({a.task for a in aggregates})
    several_tasks = len(tasks) > 1

    def label(a: Aggregate) -> str:
        return f"{a.task}/{a.language}" if several_tasks else a.language

    table.rows = sorted({a.row for a in aggregates}, key=_row_order)
    keys = sorted({(a.task, a.language) for a in aggregates})
    table.columns = [f"{t}/{lang}" if several_tasks else lang for t, lang in keys]
    table.column_keys = dict(zip(table.columns, keys, strict=True))
    dense = {label(a): a.mean for a in aggregates if a.row == DENSE_ROW}
    for a in aggregates:
        column = label(a)
        base = dense.get(column)
        delta_abs = None if base is None or a.row == DENSE_ROW else a.mean - base
        delta_rel = None if delta_abs is None or base == 0 else delta_abs / abs(base)
        table.cells[(a.row, column)] = Cell(
            row=a.row, column=column, task=a.task, language=a.language, mean=a.mean,
            std=a.std, n=a.n, values=a.values, seeds=a.seeds, delta_abs=delta_abs,
            delta_rel=delta_rel,
            diagonal=a.row != DENSE_ROW and a.language in mix_parts(a.row),
        )  # fmt: skip
    sign = -1.0 if table.higher_is_better else 1.0
    for column in table.columns:
        pruned = [
            table.cells[(r, column)]
            for r in table.rows
            if r != DENSE_ROW and (r, column) in table.cells
        ]
        ordered = sorted(pruned, key=lambda c: (sign * c.mean, _row_order(c.row)))
        for c in pruned:
            rank = sum(1 for o in ordered if sign * o.mean < sign * c.mean)
            table.cells[(c.row, column)] = _replace(c, rank=rank, best=rank == 0)
        if ordered:
            table.best[column] = ordered[0].row
    for row in table.rows:
        table.row_means[row] = _mean(
            table.shown(table.cells[(row, col)]) for col in table.columns
            if (row, col) in table.cells
        )  # fmt: skip
    for column in table.columns:
        table.column_means[column] = _mean(
            table.shown(table.cells[(row, column)]) for row in table.rows
            if row != DENSE_ROW and (row, column) in table.cells
        )  # fmt: skip
    return table


def _replace(cell: Cell, **changes: object) -> Cell:
    from dataclasses import replace

    return replace(cell, **changes)
