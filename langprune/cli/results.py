"""`langprune results`, `langprune compare` and `langprune store rebuild|path|sql`.

Every command ingests the run dirs first (cheap when nothing changed). Nothing here imports torch.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from langprune.cli.common import console, fail_with_problems, state

store_app = typer.Typer(
    help="The results database: rebuild it, show where it is, query it with SQL.",
    no_args_is_help=True,
)


class CompareFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"
    md = "md"
    latex = "latex"


class ListFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class DeltaKind(str, Enum):
    abs = "abs"
    rel = "rel"


# ---- results --------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _print_rows(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=1, default=str))
    else:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


TIME_COLUMNS = ("queued_at", "started_at", "finished_at", "updated_at")


def metric_column(row: dict[str, Any], several_corpora: bool) -> str:
    """The wide-table column of one metric row: 'bpb:en' for perplexity ('wiki.bpb:en' when runs
    were measured on several corpora), 'xnli.acc:de' for a task."""
    lang = f":{row['language']}" if row.get("language") else ""
    if row.get("kind") == "perplexity":
        prefix = f"{row['subtask']}." if several_corpora and row.get("subtask") else ""
        return f"{prefix}{row['metric']}{lang}"
    return f"{row['task']}.{row['metric']}{lang}"


def wide_metrics(ws: Path, run_ids: list[str]) -> tuple[list[str], dict[str, dict[str, float]]]:
    """(metric columns in a stable order, run id -> column -> value) for these runs."""
    from langprune.store.db import connect
    from langprune.workspace import db_path

    if not run_ids:
        return [], {}
    with connect(db_path(ws), read_only=True) as con:
        found = con.execute(
            "SELECT run_id, kind, task, subtask, language, metric, value FROM metrics "
            "WHERE run_id IN (SELECT unnest(?)) AND value IS NOT NULL",
            [run_ids],
        ).fetchall()
    names = ("run_id", "kind", "task", "subtask", "language", "metric", "value")
    rows = [dict(zip(names, r, strict=True)) for r in found]
    corpora = {r["subtask"] for r in rows if r["kind"] == "perplexity"}
    values: dict[str, dict[str, float]] = {}
    columns: dict[str, tuple[Any, ...]] = {}
    for r in rows:
        col = metric_column(r, len(corpora) > 1)
        values.setdefault(r["run_id"], {})[col] = float(r["value"])
        columns[col] = (
            r["kind"] != "perplexity",
            str(r["task"]),
            str(r["metric"]),
            str(r["language"]),
        )
    return sorted(columns, key=lambda c: columns[c]), values


def _sort_rows(rows: list[dict[str, Any]], column: str, allowed: list[str]) -> list[dict[str, Any]]:
    """Rows by one column ('-col': descending); empty cells last; an unknown column is an error
    naming the allowed ones."""
    import difflib

    from langprune.errors import LangpruneError

    descending = column.startswith("-")
    name = {"calib": "calibration_language", "achieved": "achieved_sparsity"}.get(
        column.lstrip("-"), column.lstrip("-")
    )
    if name not in allowed:
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise LangpruneError(
            f"--sort {column}: no such column{hint}; allowed: {', '.join(allowed)}",
            "put - before the column to sort descending, e.g. --sort -ppl:en",
        )
    present = [r for r in rows if r.get(name) is not None]
    missing = [r for r in rows if r.get(name) is None]
    present.sort(key=lambda r: (isinstance(r[name], str), r[name]), reverse=descending)
    return present + missing


def results(
    ctx: typer.Context,
    filters: list[str] | None = typer.Argument(
        None,
        help="Filter terms, ANDed: method=wanda sparsity=0.5 state=failed calib=sw "
        "(also model=, seed=, lang=, corpus=, experiment=, id=<prefix>; != and a,b lists).",
        show_default=False,
    ),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help="Output format."),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Show at most this many runs."),
    sort: str | None = typer.Option(
        None,
        "--sort",
        help="Sort by a column (a run column, or a metric column with --metrics such as "
        "bpb:en); -COL for descending. Default: running, then queued, then grid order.",
    ),
    metrics: bool = typer.Option(
        False,
        "--metrics",
        "-m",
        help="A wide table of each run's values: one column per metric and language.",
    ),
) -> None:
    """List runs (and their state) from the results database; times are ISO 8601 (UTC)."""
    from langprune.store.queries import RUN_LIST_COLUMNS, check_limit, list_runs, parse_filter
    from langprune.tui.render import active_first, iso_time, listing_table, workspace_line

    check_limit(limit)
    ws = state(ctx).workspace()
    conditions = parse_filter(filters or [])
    rows = list_runs(ws, conditions)
    if not rows and conditions:
        fail_with_problems([_nothing_matches(ws, conditions)])
    columns = list(RUN_LIST_COLUMNS)
    metric_cols: list[str] = []
    if metrics:
        metric_cols, values = wide_metrics(ws, [r["id"] for r in rows])
        for r in rows:
            r.update({c: values.get(r["id"], {}).get(c) for c in metric_cols})
    if sort:
        rows = _sort_rows(rows, sort, [*columns, *metric_cols])
    else:
        rows = active_first(rows, lambda r: r["state"])
    if limit is not None:
        rows = rows[:limit]
    if fmt != ListFormat.table:
        for r in rows:
            r.update({c: iso_time(r[c]) or None for c in TIME_COLUMNS})
        if metrics:  # the wide table: who the run is, then its values
            keep = ["id", "experiment", "model", "method", "sparsity", "calibration_language",
                    "seed", "state", *metric_cols]  # fmt: skip
            rows = [{c: r[c] for c in keep} for r in rows]
            _print_rows(rows, fmt.value, keep)
        else:
            _print_rows(rows, fmt.value, columns)
        return

    from langprune.store.export import fmt_number
    from langprune.tui.render import state_text

    shown = f"{len(rows)} run{'s' * (len(rows) != 1)}"
    if conditions:
        shown += " matching " + " ".join(str(c) for c in conditions)
    if sort:
        shown += f", sorted by {sort}"
    if metrics:
        heads = ["id", "method", "sparsity", "calib", "seed", "state", *metric_cols]
    else:
        heads = ["id", "model", "method", "sparsity", "calib", "seed", "state", "achieved",
                 "metrics", "updated"]  # fmt: skip
        experiments = sorted({str(r["experiment"]) for r in rows})
        if len(experiments) > 1:
            heads.insert(1, "experiment")
        elif experiments:
            shown += f" of experiment {experiments[0]}"
        if any(r["error"] for r in rows):
            heads.append("error")
    out = console()
    narrow = out.width < 100  # to the minute, so that 80 columns keep every column readable
    table = listing_table(shown)
    headings = {"sparsity": "spars", "achieved": "achvd", "metrics": "n"}
    for name in heads:
        # The id is what other commands take, so it is never cut short: other columns wrap.
        if name in metric_cols:  # numbers never wrap: the heading goes on two lines instead
            table.add_column(name.replace(":", "\n", 1), no_wrap=True, justify="right")
        elif name == "id":
            table.add_column(name, no_wrap=True, min_width=12, style="bold")
        else:
            numeric = name in metric_cols or name in ("achieved", "metrics", "seed")
            short = name in ("method", "sparsity", "calib", "seed", "state", "updated", "achieved")
            table.add_column(
                headings.get(name, name),
                overflow="fold",
                no_wrap=short,  # one word each: shrink the long columns instead
                justify="right" if numeric else "left",
            )
    for r in rows:
        achieved = r["achieved_sparsity"]
        if metrics:
            table.add_row(
                r["id"],
                _text(r["method"]),
                _text(r["sparsity"]),
                _text(r["calibration_language"]),
                _text(r["seed"]),
                state_text(r["state"]),
                *(fmt_number(r[c]) for c in metric_cols),
            )
            continue
        table.add_row(
            r["id"],
            *([_text(r["experiment"])] if "experiment" in heads else []),
            _text(r["model"]),
            _text(r["method"]),
            _text(r["sparsity"]),
            _text(r["calibration_language"]),
            _text(r["seed"]),
            state_text(r["state"]),
            "" if achieved is None else f"{achieved:.3f}",
            _text(r["n_metrics"]),
            iso_time(r["updated_at"], seconds=not narrow),
            *([(r["error"] or "")[:80]] if "error" in heads else []),
        )
    out.print(workspace_line(ws))
    out.print(table)
    _print_owl(ws, [r["id"] for r in rows if str(r["method"] or "").endswith("_owl")])
    _report_damaged(ws, rows)


def _print_owl(ws: Path, run_ids: list[str]) -> None:
    """The per-layer OWL allocation of the listed *_owl runs (sparsity, outlier ratio in %, and
    the sparsities' min, max and mean as the TUI's run card says them)."""
    from langprune.store.queries import owl_allocations
    from langprune.tui.render import owl_stats

    for run_id, owl in owl_allocations(ws, run_ids).items():
        layers = " ".join(f"{v:.3f}" for v in owl.get("layer_sparsity", []))
        outliers = " ".join(f"{v:.2f}" for v in owl.get("outlier_pct", []))
        typer.echo(f"owl {run_id}: layer sparsity {layers}")
        typer.echo(f"owl {run_id}: outlier % {outliers}")
        if owl_stats(owl):
            typer.echo(f"owl {run_id}: {owl_stats(owl)}")


def _report_damaged(ws: Path, rows: list[dict[str, Any]]) -> None:
    """Each damaged run in full: the file, the reason and the fix (the table cuts errors)."""
    from rich.text import Text

    from langprune.store.rundir import RunDir, damage_fix
    from langprune.vocab import DAMAGED
    from langprune.workspace import runs_dir

    for r in rows:
        if r["state"] == DAMAGED:
            why = str(r["error"] or "").removeprefix("damaged: ")
            console().print(Text(f"damaged {r['id']}: {why}", style="bold red"))
            console().print(Text(f"  fix: {damage_fix(RunDir(runs_dir(ws) / r['id']))}"))


def _nothing_matches(ws: Path, conditions: list[Any]) -> str:
    """One line for a filter that matches no run: the terms, and the values each key has."""
    from langprune.store.queries import filter_choices

    choices = filter_choices(ws, refresh=False)
    known = []
    for c in conditions:
        values = choices.get(c.key)
        if values is not None and c.key != "id":
            known.append(f"{c.key}: {', '.join(values) or 'none'}")
    terms = " ".join(str(c) for c in conditions)
    return f"no run matches {terms}" + (
        f" (values that exist: {'; '.join(known)})" if known else ""
    )


# ---- compare --------------------------------------------------------------------------------


def compare(
    ctx: typer.Context,
    metric: str = typer.Option(..., "--metric", "-m", help="Metric, e.g. ppl, bpb, acc."),
    model: str | None = typer.Option(None, "--model", help="Model label or id."),
    method: str | None = typer.Option(
        None, "--method", help="A pruning method: magnitude, wanda, sparsegpt, ria, wanda_owl, ..."
    ),
    sparsity: str | None = typer.Option(None, "--sparsity", help="0.5, 50% or 2:4."),
    task: str | None = typer.Option(
        None, "--task", help="Task family, lm-eval task, or perplexity corpus."
    ),
    corpus: str | None = typer.Option(None, "--corpus", help="Calibration corpus label."),
    nsamples: int | None = typer.Option(
        None, "--nsamples", help="Calibration samples (when runs differ in it)."
    ),
    seqlen: int | None = typer.Option(
        None, "--seqlen", help="Calibration sequence length (when runs differ in it)."
    ),
    evaluation: str | None = typer.Option(
        None, "--evaluation", help="Evaluation settings, as listed when runs differ in them."
    ),
    delta: DeltaKind | None = typer.Option(
        None, "--delta", help="Show the change vs the baseline (--baseline): abs or rel."
    ),
    baseline: str = typer.Option(
        "dense",
        "--baseline",
        help="What deltas are against: dense, calib (English when the grid has it, else the "
        "first calibration language), or a row such as de. Paired per seed.",
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", "-e", help="Only this experiment's runs."
    ),
    fmt: CompareFormat = typer.Option(CompareFormat.table, "--format", "-f", help="Output."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file (format from --format or the suffix)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite --output if it exists."),
) -> None:
    """Compare calibration languages: rows = calibration language, columns = evaluated language."""
    from langprune.store import export as exporter
    from langprune.store.queries import compare as run_compare

    ws = state(ctx).workspace()
    fmt_name = fmt.value
    if output is not None and fmt == CompareFormat.table:
        by_suffix = {exporter.suffix(f): f for f in exporter.FORMATS} | {".markdown": "md"}
        fmt_name = by_suffix.get(output.suffix.lower(), "")
        if not fmt_name:
            fail_with_problems(
                [f"--output {output}: cannot tell the format from its suffix; add --format"]
            )
    if fmt_name == "parquet" and output is None:
        fail_with_problems(["--format parquet needs --output FILE (Parquet is binary)"])
    table = run_compare(
        ws, metric, model=model, method=method, sparsity=sparsity, task=task,
        corpus=corpus, delta=delta.value if delta else None, nsamples=nsamples,
        seqlen=seqlen, evaluation=evaluation, experiment=experiment, baseline=baseline,
    )  # fmt: skip
    if table.is_empty:
        fail_with_problems([f"no done {metric} values match these filters"])
    if output is not None:
        exporter.export(table, fmt_name, output, force=force)
        typer.echo(f"wrote {output}")
    elif fmt_name == "table":
        from langprune.store.findings import diagonal_wins
        from langprune.tui.render import compare_table

        out = console()
        out.print(compare_table(table, out.width))
        console().print(diagonal_wins(table).sentence())
        for note in table.footnotes():
            console().print(f"* {note}", style="dim")
    else:
        sys.stdout.write(exporter.render(table, fmt_name))


# ---- store ----------------------------------------------------------------------------------


@store_app.command("path")
def store_path(ctx: typer.Context) -> None:
    """Print where the results database is."""
    from langprune.workspace import db_path

    typer.echo(str(db_path(state(ctx).workspace(optional=True))))


@store_app.command("rebuild")
def store_rebuild(ctx: typer.Context) -> None:
    """Recreate the results database from the run directories alone."""
    from langprune.store.ingest import rebuild
    from langprune.store.rundir import RunDir, damage_fix
    from langprune.workspace import db_path, runs_dir

    ws = state(ctx).workspace()
    report = rebuild(ws)
    typer.echo(
        f"rebuilt {db_path(ws)}: {len(report.updated)} runs, {report.metric_rows} metric rows "
        f"in {report.seconds:.2f} s"
        + (
            f" ({report.skipped_lines} unusable metric lines skipped)"
            if report.skipped_lines
            else ""
        )
    )
    if report.damaged:
        typer.echo(
            f"skipped the results of {len(report.damaged)} damaged run(s) (listed as damaged):"
        )
        for run_id, why in sorted(report.damaged.items()):
            typer.echo(f"  {run_id}: {why}")
            typer.echo(f"    fix: {damage_fix(RunDir(runs_dir(ws) / run_id))}")


@store_app.command("sql")
def store_sql(
    ctx: typer.Context,
    query: str = typer.Argument(
        ..., help='SQL, e.g. "SELECT method, count(*) FROM runs GROUP BY 1".'
    ),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help="Output format."),
) -> None:
    """Run a read-only SQL query on the results database.

    Tables: runs, metrics, experiments, schema_version; view: results (metrics with run columns).
    """
    import duckdb

    from langprune.store.db import check_query, query_only
    from langprune.store.ingest import ingest
    from langprune.workspace import db_path

    check_query(query)
    ws = state(ctx).workspace()
    ingest(ws)
    with query_only(db_path(ws)) as con:
        try:
            cursor = con.execute(query)
        except duckdb.Error as exc:
            fail_with_problems([str(exc).splitlines()[0]])
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall() if columns else []
    if fmt != ListFormat.table:
        _print_rows([dict(zip(columns, r, strict=True)) for r in rows], fmt.value, columns)
        return
    from rich.table import Table

    table = Table(*columns, title=f"{len(rows)} rows", title_justify="left")
    for r in rows:
        table.add_row(*(_text(v) for v in r))
    console().print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    command: Callable[..., Any] = app.command
    command("results")(results)
    command("compare")(compare)
    app.add_typer(store_app, name="store")
