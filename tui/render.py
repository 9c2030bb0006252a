"""Draw a store CompareTable as a rich Table for the compare screen.

Every number comes from the table (`CompareTable.shown`, the store's `cell_text`/`mean_text`
formatting), so the screen shows exactly what `langprune compare` prints; this module only decides
colours and layout: a colour per column from best to worst (by the store's rank), the clear best in
bold, a tie at the top underlined, missing cells as their runs' state,
the diagonal on a highlighted background, the dense baseline dimmed, row and column means.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.table import Table
from rich.text import Text

# best -> worst; these are all in the xterm 256-colour palette, so nothing is lost at 256 colours
SCALE = ("#5fd75f", "#87d75f", "#afd75f", "#d7d75f", "#d7af5f", "#d7875f", "#d75f5f")
DIAGONAL_BG = "#303a5f"
DENSE_STYLE = Style(dim=True, italic=True)

# One colour per run state, wherever a state is shown (CLI status and results, TUI screens).
STATE_STYLE = {
    "running": "bold cyan",
    "stalled": "bold yellow reverse",
    "queued": "yellow",
    "failed": "bold red",
    "cancelled": "magenta",
    "done": "green",
    "damaged": "bold white on red",
}


def state_text(state: str) -> Text:
    """A run state in its colour."""
    return Text(state, style=STATE_STYLE.get(state, ""))


def action_question(verb: str, rows: Any, consequence: str = "") -> str:
    """The question before an action on runs, naming what it does: 'Cancel 3 running runs of
    experiment smoke?' (CLI and TUI ask the same). `rows` are RunRecords."""
    by_state: dict[str, int] = {}
    experiments: list[str] = []
    for r in rows:
        by_state[r.state] = by_state.get(r.state, 0) + 1
        if r.experiment and r.experiment not in experiments:
            experiments.append(r.experiment)
    n = sum(by_state.values())
    noun = "run" if n == 1 else "runs"
    if len(by_state) == 1:
        text = f"{verb} {n} {next(iter(by_state))} {noun}"
    else:
        parts = ", ".join(f"{k} {s}" for s, k in by_state.items())
        text = f"{verb} {n} {noun} ({parts})"
    if len(experiments) == 1:
        text += f" of experiment {experiments[0]}"
    elif experiments:
        text += f" of {len(experiments)} experiments ({', '.join(experiments[:3])}"
        text += ", ...)" if len(experiments) > 3 else ")"
    return f"{text}?{' ' + consequence if consequence else ''}"


def dash(value: Any) -> str:
    """A value for a table cell: '-' for None or empty."""
    return "-" if value is None or value == "" else str(value)


def scale_colour(rank: int | None, size: int) -> str | None:
    if rank is None or size <= 0:
        return None
    if size == 1:
        return SCALE[0]
    position = rank / (size - 1)
    return SCALE[min(round(position * (len(SCALE) - 1)), len(SCALE) - 1)]


def cell_style(table: Any, cell: Any, column: str) -> Style:
    """The one styling of a grid cell: scale colour by rank, best bold, diagonal background."""
    if cell.row == "dense":
        style = DENSE_STYLE
    else:
        colour = scale_colour(cell.rank, table.column_size(column))
        style = Style(color=colour) if colour else Style()
        if cell.best:
            style += Style(bold=True)
    if cell.diagonal:
        style += Style(bgcolor=DIAGONAL_BG)
    return style


def uniform_n(table: Any) -> int | None:
    """The seed count when every cell has the same one (then it is said once, in the title)."""
    ns = {c.n for c in table.cells.values() if c.row != "dense"}
    return ns.pop() if len(ns) == 1 else None


def differing_columns(table: Any) -> list[str]:
    """Columns where not every row shows the same value (`x`: hide only all-equal columns).

    Every row counts, dense and missing ones included: a column is hidden only when all its
    displayed cells (value and ± part) are equal."""
    from langprune.store.export import cell_text

    keep = []
    for column in table.columns:
        shown = {
            cell_text(table, table.cells[(r, column)]) if (r, column) in table.cells else None
            for r in table.rows
        }
        if len(shown) > 1:
            keep.append(column)
    return keep


def clear_columns(table: Any) -> list[str]:
    """Columns whose best beats the runner-up by more than their combined uncertainty."""
    return [c for c in table.columns if c in table.best]


def cell_label(table: Any, cell: Any, show_n: bool) -> str:
    from langprune.store.export import cell_text

    text, spread = cell_text(table, cell)
    if spread:
        text = f"{text}±{spread}"
    if show_n:
        text += f" ({cell.n})"
    return text


def build_table(
    table: Any,
    *,
    diff_only: bool = False,
    clear_only: bool = False,
    expand: bool = False,
    leading: int = 0,
) -> tuple[Table, list[str]]:
    """The rich Table and the columns it shows (`diff_only`: not all-equal; `clear_only`: with a
    clear winner; `expand` fills the width, `leading` blank lines between rows)."""
    from langprune.store.export import mean_text

    columns = differing_columns(table) if diff_only else list(table.columns)
    if clear_only:
        clear = set(clear_columns(table))
        columns = [c for c in columns if c in clear]
    n_all = uniform_n(table)
    grid = Table(
        box=None,
        show_edge=False,
        pad_edge=False,
        padding=(leading, 1, 0, 1),
        header_style="bold",
        expand=expand,
    )
    grid.add_column("calib \\ eval", style="bold", no_wrap=True)
    for column in columns:
        grid.add_column(column, justify="right", no_wrap=True)
    grid.add_column("mean", justify="right", style="italic", no_wrap=True)
    for row in table.rows:
        dense = row == "dense"
        cells_out: list[Text | str] = [Text(row, style="dim" if dense else "bold")]
        for column in columns:
            cell = table.cells.get((row, column))
            if cell is None:
                status = table.status(row, column)
                cells_out.append(Text(status, style="red" if status == "failed" else "dim"))
                continue
            style = Style()
            if dense:
                style += Style(dim=True, italic=True)
            else:
                colour = scale_colour(cell.rank, table.column_size(column))
                if colour:
                    style += Style(color=colour)
                if cell.best:
                    style += Style(bold=True)
                elif cell.tie:
                    style += Style(underline=True)
            if cell.diagonal:
                style += Style(bgcolor=DIAGONAL_BG)
            cells_out.append(
                Text(cell_label(table, cell, n_all is None and not dense), style=style)
            )
        cells_out.append(mean_text(table, table.row_means.get(row), row))
        grid.add_row(*cells_out, end_section=dense)
    if any(r != "dense" for r in table.rows):
        means: list[Text | str] = [Text("mean", style="italic")]
        means += [
            Text(mean_text(table, table.column_means.get(c), column=c), style="italic")
            for c in columns
        ]
        means.append("")
        grid.add_section()
        grid.add_row(*means)
    return grid, columns


def compare_table(table: Any, width: int | None = None) -> Table:
    """The grid as the CLI prints it (`compare`, the demo): title, the legend as caption, † on
    diagonal cells, ~ on ties at the top, a missing cell's reason, means in the footer.

    Cells are one line (`+0.23 ±0.11`) when the whole grid fits `width`, else each cell puts
    its ± part on a second line, so that no number is ever cut or wrapped inside."""
    from rich import box

    from langprune.store.export import cell_text, legend, mean_text

    parts: dict[tuple[str, str], tuple[Text, Text | None]] = {}
    for row in table.rows:
        for column in table.columns:
            cell = table.cell(row, column)
            if cell is None:
                status = table.status(row, column)
                parts[(row, column)] = (
                    Text(status, style="bold red" if status == "failed" else "dim"),
                    None,
                )
                continue
            value, spread = cell_text(table, cell)
            text = Text(value)
            if cell.n > 1:
                text.append(f" ({cell.n})", style="dim")
            if cell.diagonal:
                text = Text("†", style="bold magenta") + text
            if cell.tie and not cell.best:
                text = Text("~") + text
            style = cell_style(table, cell, column)
            text.stylize(style)
            extra = None if spread is None else Text(f"±{spread}", style="dim")
            parts[(row, column)] = (text, extra)
    column_means = {c: mean_text(table, table.column_means.get(c), column=c) for c in table.columns}
    row_means = {r: mean_text(table, table.row_means.get(r), r) for r in table.rows}

    def one_line(column: str) -> int:
        sizes = [len(column), len(column_means[column])]
        for row in table.rows:
            text, extra = parts[(row, column)]
            sizes.append(text.cell_len + (extra.cell_len + 1 if extra is not None else 0))
        return max(sizes)

    needed = max(len(r) for r in [*table.rows, "calib"]) + max(
        [len("mean"), *(len(m) for m in row_means.values())]
    )
    needed += sum(one_line(c) + 1 for c in table.columns) + 2
    stacked = width is not None and needed > width

    out = Table(
        title=table.title(),
        title_justify="left",
        caption="colour: best (green) -> worst (red) per column among pruned rows; "
        + legend(table),
        caption_justify="left",
        show_footer=True,
        header_style="bold",
        # rules under the header and above the means, no cell borders: 80 columns hold six
        # languages with their markers and ± parts
        box=box.SIMPLE,
        padding=(0, 0),
        pad_edge=False,
    )
    out.add_column("calib", footer="mean", style="bold", no_wrap=True)
    for column in table.columns:
        out.add_column(column, justify="right", footer=column_means[column], no_wrap=True)
    out.add_column("mean", justify="right", footer="", no_wrap=True)
    for row in table.rows:
        dense = row == "dense"
        cells: list[Text] = [Text(row, style=DENSE_STYLE if dense else "bold")]
        for column in table.columns:
            text, extra = parts[(row, column)]
            if extra is not None:
                text = text + Text("\n" if stacked else " ") + extra
            cells.append(text)
        cells.append(Text(row_means[row]))
        out.add_row(*cells, end_section=dense)
    return out


# ---- times ----


def iso_time(ts: float | None, seconds: bool = True) -> str:
    """A timestamp as ISO 8601 in UTC, to the second ('2025-10-09T08:53:20Z', or to the minute
    without `seconds`: '2025-10-09T08:53Z'); '' for None."""
    if ts is None:
        return ""
    from datetime import datetime, timezone

    form = "%Y-%m-%dT%H:%M:%SZ" if seconds else "%Y-%m-%dT%H:%MZ"
    return datetime.fromtimestamp(float(ts), tz=timezone.utc).strftime(form)


# ---- the run card ----

STAGE_SECONDS = ("load", "calibration", "prune", "eval", "analysis", "total")


def _kv(rows: list[tuple[str, Any]], title: str) -> Table:
    table = Table(
        box=None, show_header=False, title=title, title_justify="left", title_style="bold"
    )
    table.add_column("key", style="dim", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in rows:
        if value not in (None, "", {}, []):
            table.add_row(key, value if isinstance(value, Text) else str(value))
    return table


def metric_rows(metrics: list[dict[str, Any]]) -> Table:
    """Per-language metrics of one run: value, its standard error and n, one line each."""
    from langprune.store.export import fmt_number

    table = Table(title="metrics", title_justify="left", title_style="bold", box=None)
    for name, justify in (("task", "left"), ("metric", "left"), ("lang", "left")):
        table.add_column(name, no_wrap=True, justify=justify)  # type: ignore[arg-type]  # rich's JustifyMethod literals
    for name in ("value", "± stderr", "n"):
        table.add_column(name, justify="right", no_wrap=True)
    for m in sorted(
        metrics,
        key=lambda r: (str(r.get("task")), str(r.get("metric")), str(r.get("language"))),
    ):
        task = str(m.get("task") or "?")
        if m.get("subtask"):
            task += f":{m['subtask']}"
        value, stderr = m.get("value"), m.get("stderr")
        table.add_row(
            task,
            str(m.get("metric") or "?"),
            str(m.get("language") or "-"),
            fmt_number(value) if isinstance(value, (int, float)) else "-",
            fmt_number(stderr) if isinstance(stderr, (int, float)) else "-",
            "-" if m.get("n") is None else f"{m['n']:,}",
        )
    return table


SPARK = "▁▂▃▄▅▆▇█"
OWL_LABEL = 11  # the width of the labels of the OWL section


def sparkline(values: list[float]) -> str:
    """One block character per value, from the lowest (▁) to the highest (█); all ▄ when equal."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK[3] * len(values)
    top = len(SPARK) - 1
    return "".join(SPARK[round((v - low) / (high - low) * top)] for v in values)


def _floats(values: Any) -> list[float]:
    if not isinstance(values, list):
        return []
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def owl_summary(owl: Any) -> tuple[float, int, float, int, float] | None:
    """(min, its layer, max, its layer, mean) of an OWL allocation's layer sparsities."""
    layers = _floats((owl or {}).get("layer_sparsity") if isinstance(owl, dict) else None)
    if not layers:
        return None
    low, high = min(layers), max(layers)
    return low, layers.index(low), high, layers.index(high), sum(layers) / len(layers)


def owl_stats(owl: Any) -> str:
    """'min 0.409 (layer 3) · max 0.569 (layer 0) · mean 0.5000' of an OWL allocation's layer
    sparsities ('' without any): the card and `langprune results` say it in the same words."""
    summary = owl_summary(owl)
    if summary is None:
        return ""
    low, low_at, high, high_at, mean = summary
    return f"min {low:.3f} (layer {low_at}) · max {high:.3f} (layer {high_at}) · mean {mean:.4f}"


class OwlLayers:
    """The per-layer table of an OWL allocation, in as many blocks of layers as the width needs:
    a row of layer numbers, the layers' sparsity (3 decimals) and their outlier ratio (percent)."""

    CELL = 6

    def __init__(self, sparsity: list[float], outlier_pct: list[float]) -> None:
        self.sparsity, self.outlier_pct = sparsity, outlier_pct

    def __rich_console__(self, console: Any, options: Any) -> Any:
        label = OWL_LABEL
        per_block = max(1, (options.max_width - label) // (self.CELL + 1))
        for start in range(0, len(self.sparsity), per_block):
            block = range(start, min(start + per_block, len(self.sparsity)))
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=label - 1, style="dim", no_wrap=True, justify="right")
            for _ in block:
                grid.add_column(width=self.CELL, justify="right", no_wrap=True)
            grid.add_row("layer", *[Text(str(i), style="bold") for i in block])
            grid.add_row("sparsity", *[f"{self.sparsity[i]:.3f}" for i in block])
            if len(self.outlier_pct) == len(self.sparsity):
                grid.add_row("outlier %", *[f"{self.outlier_pct[i]:.2f}" for i in block])
            yield grid


def owl_section(record: Any) -> Any:
    """An OWL run's allocation: its hyperparameters (from the spec), the per-layer sparsities as
    a sparkline and as numbers with their min, max and mean, and the sparsity achieved overall
    (checked from the weights). None for a run of another method."""
    from rich.console import Group

    from langprune.vocab import OWL_METHODS

    if record.method not in OWL_METHODS:
        return None
    recorded = record.status.get("owl")
    owl: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    options = record.spec.get("options") or {}
    m = options.get("owl_m", owl.get("m"))
    lam = options.get("owl_lambda", owl.get("lam"))
    summary = owl_summary(owl)
    layers = _floats(owl.get("layer_sparsity"))
    title = Text("OWL allocation", style="bold")
    title.append(f"  m = {dash(m)}  lambda = {dash(lam)}")
    if layers:
        title.append(f"  {len(layers)} decoder layers", style="dim")
    parts: list[Any] = [title]
    if summary is None:
        parts.append(
            Text("per-layer ratios: not recorded yet (written when pruning ends)", style="dim")
        )
        return Group(*parts)
    line = Text(f"{'profile':>{OWL_LABEL - 1}} ", style="dim")
    line.append(sparkline(layers), style="cyan")
    line.append(f"  {owl_stats(owl)}")
    overall = Text(f"{'overall':>{OWL_LABEL - 1}} ", style="dim")
    overall.append(f"requested {dash(record.sparsity)}")
    if record.achieved is not None:
        overall.append(" · achieved ")
        overall.append(f"{record.achieved:.4f}", style="bold")
        overall.append(" (from the weights)", style="dim")
    parts += [line, overall, OwlLayers(layers, _floats(owl.get("outlier_pct")))]
    return Group(*parts)


class SideBySide:
    """Two renderables next to each other when there is room (100 columns), else one above the
    other, so neither is squeezed into a column of broken words at 80 columns."""

    def __init__(self, left: Any, right: Any, min_width: int = 100) -> None:
        self.left, self.right, self.min_width = left, right, min_width

    def __rich_console__(self, console: Any, options: Any) -> Any:
        if options.max_width >= self.min_width:
            grid = Table.grid(padding=(0, 4))
            grid.add_column()
            grid.add_column()
            grid.add_row(self.left, self.right)
            yield grid
        else:
            yield self.left
            yield Text("")
            yield self.right


def run_card(
    record: Any, metrics: list[dict[str, Any]], log_tail: list[str], log_path: str = ""
) -> Any:
    """Everything about one run on one page: its per-language results with their error (first:
    what one opens a card for), an OWL run's per-layer allocation, what it is (spec), when and how long each stage took, the
    library versions, and its log's tail.
    `record` is a store.records.RunRecord."""
    from rich.console import Group

    from langprune.tui.runstate import format_duration

    spec = record.spec or {}
    model = spec.get("model") or {}
    ev = spec.get("evaluation") or {}
    status = record.status or {}
    corpus = spec.get("corpus") or {}
    options = " ".join(f"{k}={v}" for k, v in (corpus.get("options") or {}).items())
    head = Text()
    head.append(record.id, style="bold")
    head.append("  ")
    head.append_text(state_text(record.state))
    head.append(f"  {record.label}")
    if record.experiment:
        head.append(f"  (experiment {record.experiment})", style="dim")
    tasks = ", ".join(str(t.get("family")) for t in ev.get("tasks") or [] if isinstance(t, dict))
    what = _kv(
        [
            ("model", model.get("id")),
            ("dtype/device", f"{model.get('dtype', 'auto')} / {model.get('device', 'auto')}"),
            ("method", record.method),
            ("sparsity", record.sparsity),
            ("calibration", record.calibration_language),
            ("corpus", f"{record.corpus or ''} {options}".strip()),
            ("nsamples/seqlen", f"{record.nsamples} x {record.seqlen}" if record.nsamples else ""),
            ("seed", record.seed),
            ("options", " ".join(f"{k}={v}" for k, v in (spec.get("options") or {}).items())),
            ("eval languages", " ".join(ev.get("languages") or [])),
            (
                "eval budget",
                f"{ev.get('max_tokens', '?')} tokens/language, seqlen {ev.get('seqlen', '?')}, "
                f"batch {ev.get('batch_size', '?')}",
            ),
            ("tasks", tasks),
        ],
        "spec",
    )
    seconds = status.get("seconds") or {}
    timing_rows: list[tuple[str, Any]] = [
        (name, iso_time(status.get(key)))
        for name, key in (
            ("queued", "queued_at"),
            ("started", "running_at"),
            ("done", "done_at"),
            ("failed", "failed_at"),
            ("cancelled", "cancelled_at"),
        )
    ]
    timing_rows += [
        (f"{stage} time", format_duration(seconds[stage]))
        for stage in STAGE_SECONDS
        if isinstance(seconds.get(stage), (int, float))
    ]
    timing_rows += [
        (
            "achieved sparsity",
            f"{record.achieved:.4f}" if record.achieved is not None else None,
        ),
        ("attempts", status.get("attempts")),
        ("host/device", " / ".join(str(x) for x in (record.host, record.device) if x)),
    ]
    timings = _kv(timing_rows, "timings")
    versions = status.get("versions") or {}
    parts: list[Any] = [head, Text("")]
    if record.error:
        parts += [Text(f"error: {record.error}", style="bold red"), Text("")]
    parts.append(metric_rows(metrics) if metrics else Text("metrics: none yet", style="dim"))
    owl = owl_section(record)
    if owl is not None:
        parts += [Text(""), owl]
    parts += [Text(""), SideBySide(what, timings)]
    if versions:
        parts += [
            Text(""),
            _kv([(k, v or "not installed") for k, v in sorted(versions.items())], "versions"),
        ]
    parts += [Text(""), Text(f"log tail ({log_path or 'log.txt'})", style="bold")]
    parts += [Text(line, style="dim") for line in log_tail] or [Text("(empty)", style="dim")]
    return Group(*parts)


# ---- CLI listings ----

# Runs that are working or about to, first: running, then queued; the rest keep their order.
ACTIVE_ORDER = {"running": 0, "queued": 1}


def active_first(rows: list[Any], state_of: Any) -> list[Any]:
    """Rows with running ones first, then queued ones, then the rest, each group in its order."""
    return sorted(rows, key=lambda r: ACTIVE_ORDER.get(str(state_of(r)), 2))


def workspace_line(workspace: Any) -> Text:
    """The first line of a listing: which workspace it read."""
    line = Text("workspace: ", style="dim")
    line.append(str(workspace), style="bold")
    return line


def listing_table(title: str) -> Table:
    """A CLI listing: a rule under the header and no cell borders, so 80 columns hold a full run
    id and the other columns wrap at their edges."""
    from rich import box

    return Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 0),  # the box's blank vertical line is the gap between columns
    )
