"""Queries the CLI and the TUI share: run listings, the comparison table, choices for pickers.

Every function takes the workspace, brings the database up to date with the run dirs first
(`refresh=True`, cheap when nothing changed; pass False when you just did), and holds the database
only for the query itself. None of this imports torch.

Several models, methods, sparsities, calibration corpora, calibration sizes (nsamples, seqlen) or
evaluation settings left after filtering are never averaged together: `compare` raises
`AmbiguousComparison` (its `field` and `choices` say which filter to set). The dense baseline has
no method, sparsity or calibration; it is matched by model and by evaluation settings: per column
group (task, or perplexity corpus), only dense runs evaluated as the pruned runs were count.
"""

from __future__ import annotations

import difflib
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langprune.cellid import CALIBRATION_FREE
from langprune.store.db import connect
from langprune.store.errors import AmbiguousComparison, FilterError, StoreError
from langprune.store.filters import Condition, parse_filter, to_sql
from langprune.store.ingest import ingest
from langprune.store.table import (
    DENSE_ROW,
    NO_CALIBRATION,
    Aggregate,
    CompareTable,
    Delta,
    build,
    higher_is_better,
)
from langprune.workspace import db_path as default_db_path

__all__ = [
    "AmbiguousComparison",
    "CompareTable",
    "FilterError",
    "StoreError",
    "compare",
    "filter_choices",
    "list_runs",
    "metric_choices",
    "parse_filter",
]

RUN_LIST_COLUMNS = (
    "id", "experiment", "model", "method", "sparsity", "calibration_language", "corpus", "seed",
    "nsamples", "seqlen", "state", "achieved_sparsity", "n_metrics", "host", "device",
    "queued_at", "started_at", "finished_at", "updated_at", "seconds_total", "error", "cell_id",
)  # fmt: skip

# The grid order: per experiment and model, the dense baseline first, then the pruned cells.
_GRID_ORDER = (
    "experiment, model, method <> 'dense', method, sparsity_fraction, sparsity, "
    "calibration_language, seed, id"
)
# The settings a metric's value depends on besides model and pruning (see ingest.evaluation_keys).
_EVAL_KEY = (
    "coalesce(CASE WHEN m.kind = 'perplexity' THEN r.eval_ppl "
    "ELSE json_extract_string(r.eval_tasks, '$.\"' || replace(m.task, '\"', '') || '\"') END, '?')"
)
# A comparison row: the dense baseline, one row for calibration-free methods, else the language.
_ROW_LABEL = (
    f"CASE WHEN r.method = 'dense' THEN '{DENSE_ROW}' "
    f"WHEN r.method IN ({', '.join(repr(m) for m in sorted(CALIBRATION_FREE))}) "
    f"THEN '{NO_CALIBRATION}' ELSE coalesce(r.calibration_language, '?') END"
)
# A metric's column group: the task, or for perplexity the corpus it was measured on.
_TASK_LABEL = (
    "CASE WHEN m.kind = 'perplexity' AND m.subtask IS NOT NULL "
    "THEN m.task || ':' || m.subtask ELSE coalesce(m.task, '?') END"
)


def _db(workspace: Path, db_path: Path | None, refresh: bool) -> Path:
    db = db_path or default_db_path(workspace)
    if refresh:
        ingest(workspace, db_path=db)
    return db


def _conditions(filters: str | Sequence[str] | Sequence[Condition] | None) -> list[Condition]:
    if filters is None or isinstance(filters, str):
        return parse_filter(filters)
    items = list(filters)
    if all(isinstance(f, Condition) for f in items):
        return items  # type: ignore[return-value]  # all() above narrowed every item to Condition
    return parse_filter([str(f) for f in items])


def list_runs(
    workspace: Path,
    filters: str | Sequence[str] | Sequence[Condition] | None = None,
    *,
    refresh: bool = True,
    limit: int | None = None,
    db_path: Path | None = None,
) -> list[dict[str, Any]]:
    """Runs matching a filter expression (see `filters`), in grid order, as plain dicts."""
    where, params = to_sql(_conditions(filters))
    sql = f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM runs WHERE {where} ORDER BY {_GRID_ORDER}"
    if limit is not None:
        check_limit(limit)
        sql += f" LIMIT {limit}"
    with connect(_db(workspace, db_path, refresh), read_only=True) as con:
        rows = con.execute(sql, params).fetchall()
    return [dict(zip(RUN_LIST_COLUMNS, r, strict=True)) for r in rows]


def owl_allocations(
    workspace: Path, run_ids: Sequence[str], *, db_path: Path | None = None
) -> dict[str, dict[str, list[float]]]:
    """The OWL allocation of each of `run_ids` that has one: {run id: {"layer_sparsity": [...],
    "outlier_pct": [...]}} by decoder layer (read from the database as ingested; no refresh)."""
    if not run_ids:
        return {}
    with connect(_db(workspace, db_path, False), read_only=True) as con:
        rows = con.execute(
            """SELECT run_id, metric, layer, value FROM analysis
            WHERE analysis = 'owl' AND list_contains(?, run_id) ORDER BY run_id, metric, layer""",
            [list(run_ids)],
        ).fetchall()
    out: dict[str, dict[str, list[float]]] = {}
    for run_id, metric, _layer, value in rows:
        out.setdefault(run_id, {}).setdefault(metric, []).append(value)
    return out


def check_limit(limit: int | None) -> None:
    """A run listing's --limit is a whole number, 0 or more (StoreError otherwise)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise StoreError(
            f"--limit {limit!r}: expected a whole number of runs, 0 or more", "e.g. --limit 20"
        )


def _sparsity(value: str | float | None) -> str | None:
    if value is None:
        return None
    conditions = parse_filter([f"sparsity={value}"])
    return conditions[0].values[0]


def compare(
    workspace: Path,
    metric: str,
    *,
    model: str | None = None,
    method: str | None = None,
    sparsity: str | float | None = None,
    task: str | None = None,
    corpus: str | None = None,
    delta: Delta | None = None,
    refresh: bool = True,
    db_path: Path | None = None,
    nsamples: int | str | None = None,
    seqlen: int | str | None = None,
    evaluation: str | None = None,
    experiment: str | None = None,
    baseline: str | None = None,
) -> CompareTable:
    """The calibration-language x evaluation-language table of `metric` (see `store.table`).

    `task` selects a task family, an lm-eval task, or a perplexity corpus; `model` matches a
    model's label or id; `nsamples` and `seqlen` the calibration size; `evaluation` the evaluation
    settings as `AmbiguousComparison` lists them (e.g. 'corpus=synthetic seqlen=256
    max_tokens=131072'; it applies to the dense baseline too). Raises AmbiguousComparison when a
    filter is needed, StoreError for an unknown metric, a bad filter value or filters that match
    no run (naming the values that exist).

    Only done runs give values; each pruned cell (`runs.cell_id`) counts once per column, its most
    recently finished run's value winning, so `n` is the number of distinct seeds. `experiment`
    restricts the pruned runs to one experiment (the dense baseline is matched by model and
    evaluation settings, since a stored one is reused across experiments). `baseline` is what deltas are
    against: 'dense' (default), 'calib' (English when the table has an 'en' row, else its first
    single calibration language: the paper's comparison) or a calibration row such as 'de'.
    """
    if delta not in (None, "abs", "rel"):
        raise StoreError(f"delta must be 'abs' or 'rel', not {delta!r}")
    sparsity = _sparsity(sparsity)
    nsamples, seqlen = _positive(nsamples, "nsamples"), _positive(seqlen, "seqlen")
    _check_values(
        workspace, db_path, refresh,
        {"experiment": experiment, "model": model, "method": method, "sparsity": sparsity,
         "corpus": corpus},
    )  # fmt: skip
    refresh = False
    params: list[Any] = [metric]
    experiment_sql = "TRUE"
    if experiment is not None:
        # the dense baseline is shared: a stored one is reused by later experiments (its run dir
        # names the first), so it is matched by model and evaluation settings, as always
        experiment_sql = "(r.method = 'dense' OR r.experiment = ?)"
        params.append(experiment)
    pending_params: list[Any] = list(params[1:])
    task_sql = "TRUE"
    if task is not None:
        task_sql = f"(m.task = ? OR m.subtask = ? OR {_TASK_LABEL} = ?)"
        params += [task, task, task]
    model_sql = "TRUE"
    if model is not None:
        model_sql = "(r.model = ? OR r.model_id = ?)"
        params += [model, model]
        pending_params += [model, model]
    pruned = ["r.method <> 'dense'"]
    if method == "dense":
        pruned = ["FALSE"]  # the baseline alone
    else:
        for column, value in (
            ("method", method), ("sparsity", sparsity), ("corpus", corpus),
            ("nsamples", nsamples), ("seqlen", seqlen),
        ):  # fmt: skip
            if value is not None:
                pruned.append(f"r.{column} = ?")
                params.append(value)
                pending_params.append(value)
    eval_sql = "TRUE"
    if evaluation is not None:
        eval_sql = f"{_EVAL_KEY} = ?"
        params.append(evaluation)
    where = f"""m.metric = ? AND m.value IS NOT NULL AND {experiment_sql} AND {task_sql}
          AND {model_sql} AND (r.method = 'dense' OR ({" AND ".join(pruned)})) AND {eval_sql}"""
    sql = f"""
        WITH v AS (
            SELECT r.model, r.method, r.sparsity, r.corpus, r.nsamples, r.seqlen,
                   {_EVAL_KEY} AS evaluation, {_ROW_LABEL} AS row_label,
                   {_TASK_LABEL} AS task_label, coalesce(m.language, '?') AS language,
                   m.value, m.stderr, r.seed, r.id, coalesce(r.cell_id, r.id) AS cell,
                   row_number() OVER (
                       PARTITION BY coalesce(r.cell_id, r.id), {_TASK_LABEL}, m.language,
                                    {_EVAL_KEY}
                       ORDER BY r.finished_at DESC NULLS LAST, r.id) AS pick
            FROM metrics m JOIN runs r ON r.id = m.run_id
            WHERE r.state = 'done' AND {where}
        )
        SELECT model, method, sparsity, corpus, nsamples, seqlen, evaluation, row_label,
               task_label, language,
               avg(value), stddev_samp(value), count(DISTINCT coalesce(seed, -1)),
               list(value ORDER BY seed, id), list(seed ORDER BY seed, id),
               list(stderr ORDER BY seed, id), list(cell ORDER BY seed, id)
        FROM v WHERE pick = 1
        GROUP BY ALL
    """
    pending_sql = f"""
        SELECT {_ROW_LABEL}, r.state, r.id FROM runs r
        WHERE r.state <> 'done' AND r.method <> 'dense' AND {experiment_sql} AND {model_sql}
          AND ({" AND ".join(pruned)})
    """
    with connect(_db(workspace, db_path, refresh), read_only=True) as con:
        found = con.execute(sql, params).fetchall()
        pending_rows = con.execute(pending_sql, pending_params).fetchall()
        if (
            not found
            and not con.execute(
                "SELECT 1 FROM metrics WHERE metric = ? LIMIT 1", [metric]
            ).fetchone()
        ):
            known = [
                r[0]
                for r in con.execute("SELECT DISTINCT metric FROM metrics ORDER BY 1").fetchall()
            ]
            close = difflib.get_close_matches(metric, known, n=1)
            raise StoreError(
                f"no results for metric {metric!r} yet"
                + (f"; did you mean {close[0]!r}?" if close else "")
                + (f" (known metrics: {', '.join(known)})" if known else "")
            )
    found = _one_combination(found, model is None)
    table = CompareTable(
        metric=metric, higher_is_better=higher_is_better(metric), delta=delta,
        model=model, method=method, sparsity=sparsity, corpus=corpus, task=task,
        nsamples=nsamples, seqlen=seqlen, evaluation=evaluation,
        explicit=tuple(
            name for name, value in
            (("nsamples", nsamples), ("seqlen", seqlen), ("evaluation", evaluation))
            if value is not None
        ),
    )  # fmt: skip
    pruned_rows = [f for f in found if f[_METHOD] != "dense"]
    for name, index in _FIELDS:
        values = {f[index] for f in (found if name in ("model", "evaluation") else pruned_rows)}
        if len(values) == 1 and getattr(table, name) is None:
            setattr(table, name, values.pop())
    table.experiment = experiment
    table.baseline = _resolve_baseline(baseline, {f[7] for f in found})
    done_rows = {f[7] for f in found}
    for row, run_state, run_id in pending_rows:
        if row in done_rows and run_state in ("queued", "running"):
            continue  # a row with finished numbers: more seeds on the way change nothing shown
        table.pending.setdefault(row, {}).setdefault(run_state, []).append(run_id)
    if table.baseline != DENSE_ROW and table.baseline not in done_rows:
        raise StoreError(
            f"baseline {table.baseline!r} has no done values here (rows: "
            f"{', '.join(sorted(done_rows)) or 'none'})"
        )
    aggregates = [
        Aggregate(row=f[7], task=f[8], language=f[9], mean=statistics.fmean(f[13]),
                  std=statistics.stdev(f[13]) if len(f[13]) > 1 else None, n=int(f[12]),
                  values=tuple(f[13]), seeds=tuple(f[14]), stderrs=tuple(f[15]),
                  cell_ids=tuple(dict.fromkeys(f[16])))
        for f in found
    ]  # fmt: skip
    # mean and std in Python, over the values in seed order: the same bits on every query
    # (DuckDB's parallel sums may differ in the last digit between two identical queries)
    return build(table, aggregates)


def _resolve_baseline(baseline: str | None, rows: set[str]) -> str:
    """'calib' -> 'en' when present, else the first single-language row; anything else as is."""
    if baseline != "calib":
        return baseline or DENSE_ROW
    singles = sorted(r for r in rows if r not in (DENSE_ROW, NO_CALIBRATION) and "+" not in r)
    if not singles:
        raise StoreError("--baseline calib: no calibration-language row has done values here")
    return "en" if "en" in singles else singles[0]


def _check_values(
    workspace: Path, db_path: Path | None, refresh: bool, wanted: dict[str, str | None]
) -> None:
    """A filter value no run has is refused, naming the values that exist (with a close match)."""
    with connect(_db(workspace, db_path, refresh), read_only=True) as con:
        for name, value in wanted.items():
            if value is None:
                continue
            where = f"{name} = ?" if name != "model" else "(model = ? OR model_id = ?)"
            args = [value] if name != "model" else [value, value]
            if con.execute(f"SELECT 1 FROM runs WHERE {where} LIMIT 1", args).fetchone():
                continue
            known = [
                str(r[0])
                for r in con.execute(
                    f"SELECT DISTINCT {name} FROM runs WHERE {name} IS NOT NULL ORDER BY 1"
                ).fetchall()
            ]
            close = difflib.get_close_matches(str(value), known, n=1)
            raise StoreError(
                f"--{name} {value!r} matches no run"
                + (f"; did you mean {close[0]!r}?" if close else "")
                + f" (values that exist: {', '.join(known) or 'none'})"
            )


def _positive(value: int | str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number <= 0:
        raise StoreError(f"{name} must be a positive integer, not {value!r}")
    return number


# Positions in a row of the comparison query (the cell's aggregate follows, from 7 on).
_METHOD, _TASK, _EVAL = 1, 8, 6
_FIELDS = (
    ("model", 0), ("method", 1), ("sparsity", 2), ("corpus", 3), ("nsamples", 4), ("seqlen", 5),
    ("evaluation", 6),
)  # fmt: skip


def _one_combination(found: list[tuple], model_open: bool) -> list[tuple]:
    """Refuse to mix models, methods, sparsities, corpora, calibration sizes or evaluation
    settings; keep the dense rows of the model evaluated as the pruned rows were.

    Evaluation settings are compared per column group (task or perplexity corpus): two task
    families may well use different few-shot counts in one table, but within a group every value,
    dense baseline included, comes from one setting.
    """
    pruned = [f for f in found if f[_METHOD] != "dense"]
    models = sorted({f[0] for f in (pruned or found)})
    if len(models) > 1:
        raise AmbiguousComparison("model", models)
    if model_open and models:
        found = [f for f in found if f[0] == models[0]]
    for name, index in _FIELDS[1:-1]:
        values = sorted({f[index] for f in pruned}, key=_sort_key)
        if len(values) > 1:
            raise AmbiguousComparison(name, [str(v) for v in values])
    settings: dict[str, str] = {}  # column group -> the evaluation settings of its values
    for group in sorted({f[_TASK] for f in found}):
        rows = [f for f in found if f[_TASK] == group]
        values = sorted({f[_EVAL] for f in rows if f[_METHOD] != "dense"})
        if not values:  # no pruned values here: the dense ones alone must agree
            values = sorted({f[_EVAL] for f in rows})
        if len(values) > 1:
            raise AmbiguousComparison("evaluation", values)
        settings[group] = values[0]
    return [f for f in found if f[_EVAL] == settings[f[_TASK]]]


def _sort_key(value: object) -> tuple[int, float, str]:
    """Numbers in numeric order (64 before 128), then the rest as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def metric_choices(
    workspace: Path, *, refresh: bool = True, db_path: Path | None = None
) -> list[str]:
    """Metric names that have at least one value, sorted."""
    with connect(_db(workspace, db_path, refresh), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT metric FROM metrics ORDER BY 1").fetchall()
        return [r[0] for r in rows]


def filter_choices(
    workspace: Path, *, refresh: bool = True, db_path: Path | None = None
) -> dict[str, list[str]]:
    """The values present for each filter key (for pickers and completion), sorted."""
    run_columns = {
        "experiment": "experiment", "model": "model", "method": "method",
        "sparsity": "sparsity", "calib": "calibration_language", "corpus": "corpus",
        "seed": "seed", "state": "state", "host": "host", "device": "device",
    }  # fmt: skip
    out: dict[str, list[str]] = {}
    with connect(_db(workspace, db_path, refresh), read_only=True) as con:
        for key, column in run_columns.items():
            rows = con.execute(
                f"SELECT DISTINCT {column} FROM runs WHERE {column} IS NOT NULL ORDER BY 1"
            ).fetchall()
            out[key] = [str(r[0]) for r in rows]
        out["task"] = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT {_TASK_LABEL} FROM metrics m ORDER BY 1"
            ).fetchall()
        ]
        out["language"] = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT language FROM metrics WHERE language IS NOT NULL ORDER BY 1"
            ).fetchall()
        ]
        out["metric"] = [
            r[0] for r in con.execute("SELECT DISTINCT metric FROM metrics ORDER BY 1").fetchall()
        ]
    return out
