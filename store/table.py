"""The comparison table: calibration language (rows) x evaluation language (columns).

Built from per-cell aggregates (see `queries.compare`), with no SQL here. Decisions:

* Rows are the calibration languages, after the dense baseline (row "dense") when there is one.
  Single languages come first (alphabetical), then mixes such as "en+de".
* Columns are evaluation languages; when the metric comes from more than one task (or perplexity
  corpus), they are "task/language".
* A cell aggregates one value per pruned cell (`langprune.cellid`: runs of one cell evaluated
  from several presets count once) over seeds: mean, sample std (None for one value), n = the
  number of distinct seeds. Only done runs give values; rows whose runs are failed, cancelled,
  queued or running are kept in `pending` (row -> state -> run ids) and shown as such.
* Calibration-free methods (magnitude) are one row, NO_CALIBRATION.
* Uncertainty (`Cell.spread`): the std over seeds when there are several, else the evaluation's
  standard error (metrics.stderr), else None (counted as 0).
* Deltas are against `baseline`: the dense cell of the same column ("dense"), or a pinned row
  (e.g. "en"). Against a pinned row with seeds in common the delta is paired: the mean over common
  seeds of (value - baseline value of that seed); otherwise mean - baseline mean.
  rel = abs / |baseline mean|.
* "Best" (rank 0) is the best pruned row per column by the metric's direction (the dense
  baseline is the reference, not a contender). It is *clear* (`Cell.best`, `table.best`) only when
  it beats the runner-up by more than their combined uncertainty sqrt(u1^2 + u2^2); otherwise the
  rows within that margin of the top are a tie (`Cell.tie`, `table.ties`), and nothing is bold.
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
NO_CALIBRATION = "(no calibration)"
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
    best: bool = False  # the column's clear best (beats the runner-up beyond uncertainty)
    rank: int | None = None  # 0 = best among the pruned rows of the column; None for dense
    stderrs: tuple[float | None, ...] = ()
    cell_ids: tuple[str, ...] = ()
    tie: bool = False  # at the top of its column, but not clear of the others

    @property
    def spread(self) -> float | None:
        """Std over seeds when several, else the single evaluation's standard error."""
        if self.n > 1:
            return self.std
        known = [s for s in self.stderrs if s is not None and not math.isnan(s)]
        return known[0] if known else None


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
    best: dict[str, str] = field(default_factory=dict)  # column -> clear best pruned row
    ties: dict[str, list[str]] = field(default_factory=dict)  # column -> rows tied at the top
    baseline: str = DENSE_ROW  # what deltas are against: the dense row or a pinned row
    experiment: str | None = None
    pending: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # row -> state -> ids
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
        if self.delta is None or cell.row in (DENSE_ROW, self.baseline):
            return cell.mean
        return cell.delta_abs if self.delta == "abs" else cell.delta_rel

    def column_size(self, column: str) -> int:
        """How many pruned rows have a value in `column` (for colouring by rank)."""
        return sum(1 for r in self.rows if r != DENSE_ROW and (r, column) in self.cells)

    def title(self) -> str:
        parts = [f"{self.metric} ({'higher' if self.higher_is_better else 'lower'} is better)"]
        for name in (
            "experiment",
            "model",
            "method",
            "sparsity",
            "corpus",
            "nsamples",
            "seqlen",
            "task",
        ):
            value = getattr(self, name)
            if value is not None and (name not in ("nsamples", "seqlen") or name in self.explicit):
                parts.append(f"{name}={value}")
        if self.evaluation is not None and "evaluation" in self.explicit:
            parts.append(f"evaluation={self.evaluation}")
        if self.delta:
            parts.append(f"delta={self.delta} vs {self.baseline}")
        return "  ".join(parts)

    def status(self, row: str, column: str) -> str:
        """What an empty cell shows: 'failed', 'running', 'cancelled', 'queued' or '—'."""
        states = self.pending.get(row, {})
        for state in ("running", "queued", "failed", "cancelled"):
            if states.get(state):
                return state
        return "—"

    def footnotes(self) -> list[str]:
        """One line per row with runs not done: their state and run ids."""
        out = []
        for row in self.rows:
            for state, ids in sorted(self.pending.get(row, {}).items()):
                out.append(f"{row}: {len(ids)} {state} run(s): {', '.join(sorted(ids))}")
        return out

    def seeds_per_cell(self) -> str:
        """'3', or '1-3' when cells differ (exports and titles say it)."""
        ns = sorted({c.n for c in self.cells.values() if c.row != DENSE_ROW})
        if not ns:
            return ""
        return str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"

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
                        "spread": c.spread, "tie": c.tie, "seeds": len(c.seeds),
                        "cell_ids": " ".join(c.cell_ids), **self.context(),
                    }
                )  # fmt: skip
        return out

    def context(self) -> dict[str, object]:
        """What an exported record needs to stand alone."""
        return {
            "experiment": self.experiment, "model": self.model, "method": self.method,
            "sparsity": self.sparsity, "corpus": self.corpus, "nsamples": self.nsamples,
            "seqlen": self.seqlen, "evaluation": self.evaluation, "baseline": self.baseline,
            "delta_mode": self.delta, "seeds_per_cell": self.seeds_per_cell(),
        }  # fmt: skip


def _row_order(row: str) -> tuple[int, str]:
    if row == DENSE_ROW:
        return (0, "")
    if row == NO_CALIBRATION:
        return (3, row)
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
    stderrs: tuple[float | None, ...] = ()
    cell_ids: tuple[str, ...] = ()


def _delta(a: Aggregate, base: Aggregate | None) -> float | None:
    """a - base, paired by seed when they share seeds (see the module doc)."""
    if base is None:
        return None
    by_seed = dict(zip(base.seeds, base.values, strict=False))
    pairs = [v - by_seed[s] for s, v in zip(a.seeds, a.values, strict=False) if s in by_seed]
    if pairs and base.row != DENSE_ROW:
        return sum(pairs) / len(pairs)
    return a.mean - base.mean


def _uncertainty(cell: Cell) -> float:
    spread = cell.spread
    return 0.0 if spread is None or math.isnan(spread) else spread


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
    for row in table.pending:
        if row not in table.rows:
            table.rows.append(row)
    table.rows.sort(key=_row_order)
    bases = {label(a): a for a in aggregates if a.row == table.baseline}
    for a in aggregates:
        column = label(a)
        base = bases.get(column)
        reference = a.row in (DENSE_ROW, table.baseline)
        delta_abs = None if reference else _delta(a, base)
        delta_rel = (
            None if delta_abs is None or base is None or base.mean == 0
            else delta_abs / abs(base.mean)
        )  # fmt: skip
        table.cells[(a.row, column)] = Cell(
            row=a.row, column=column, task=a.task, language=a.language, mean=a.mean,
            std=a.std, n=a.n, values=a.values, seeds=a.seeds, delta_abs=delta_abs,
            delta_rel=delta_rel, stderrs=a.stderrs, cell_ids=a.cell_ids,
            diagonal=a.row not in (DENSE_ROW, NO_CALIBRATION) and a.language in mix_parts(a.row),
        )  # fmt: skip
    sign = -1.0 if table.higher_is_better else 1.0
    for column in table.columns:
        pruned = [
            table.cells[(r, column)]
            for r in table.rows
            if r != DENSE_ROW and (r, column) in table.cells
        ]
        ordered = sorted(pruned, key=lambda c: (sign * c.mean, _row_order(c.row)))
        if not ordered:
            continue
        top = ordered[0]
        tied = [
            c for c in ordered
            if c is top or sign * (c.mean - top.mean)
            <= math.hypot(_uncertainty(top), _uncertainty(c))
        ]  # fmt: skip
        clear = len(tied) == 1
        for c in pruned:
            rank = sum(1 for o in ordered if sign * o.mean < sign * c.mean)
            table.cells[(c.row, column)] = _replace(
                c, rank=rank, best=clear and c is top, tie=not clear and c in tied
            )
        if clear:
            table.best[column] = top.row
        else:
            table.ties[column] = [c.row for c in tied]
    for row in table.rows:
        table.row_means[row] = _mean(
            table.shown(table.cells[(row, col)]) for col in table.columns
            if (row, col) in table.cells
        )  # fmt: skip
    for column in table.columns:
        table.column_means[column] = _mean(
            table.shown(table.cells[(row, column)]) for row in table.rows
            if row not in (DENSE_ROW, table.baseline if table.delta else DENSE_ROW)
            and (row, column) in table.cells
        )  # fmt: skip
    return table


def _replace(cell: Cell, **changes: object) -> Cell:
    from dataclasses import replace

    return replace(cell, **changes)
