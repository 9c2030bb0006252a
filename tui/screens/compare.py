"""Compare screen: calibration language (rows) x evaluation language (columns) for one metric.

All numbers come from `store.queries.compare`, queried in a thread worker (`tui.compare_data`).
From 120 columns on, the screen shows small multiples: one such table per method x sparsity, in a
grid that fills the screen (`tui.facets`); `f` switches to the single table, which narrower
terminals always show. When several methods, sparsities, corpora or models remain for the single
table, the screen picks the first value itself and says so, so a newcomer sees a table at once
and can change the choice in the filter row.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.widgets import Footer, Select, Static

from langprune.errors import LangpruneError
from langprune.tui import facets
from langprune.tui.compare_data import FILTERS
from langprune.tui.messages import ActionDone, ChoicesLoaded, CompareLoaded
from langprune.tui.screens.base import LangpruneScreen
from langprune.tui.screens.compare_export import ExportScreen
from langprune.tui.screens.confirm import ConfirmScreen

ANY = "(any)"
DELTAS = (None, "abs", "rel")


def summary_title(table: Any) -> str:
    """The table's title for the one-line summary bar: the delta and its baseline first, so a
    narrow terminal never hides what the numbers are relative to."""
    if not table.delta:
        return str(table.title())
    return f"delta={table.delta} vs {table.baseline} · " + replace(table, delta=None).title()


def next_baseline(current: str | None, calib_row: str | None, rows: list[str]) -> str | None:
    """`b`: dense (None) -> English calibration ("calib", which the store resolved to
    `calib_row`) -> each other row of the table -> dense."""
    if current is None:
        return "calib"
    after = [r for r in rows if r != calib_row]
    if current == "calib":
        return after[0] if after else None
    later = after[after.index(current) + 1 :] if current in after else []
    return later[0] if later else None


# bits per byte first: unlike token perplexity it compares across tokenizers and scripts
PREFERRED_METRICS = ("bpb", "ppl", "acc", "acc_norm")
LEGEND = " · ".join(
    [
        "[b]bold[/b] clear best",
        "[u]underlined[/u] tied within ±",
        "[on #303a5f] diagonal [/] calibrated in that language",
        "colour best→worst per column",
    ]
)


class CompareScreen(LangpruneScreen[None]):
    HELP_TITLE = "compare"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "focus_filters", "Metric/filters", tooltip="metric chooser, then the "
                "experiment, model, method, sparsity and task filters (Tab moves on)"),
        Binding("f", "facets", "Facets", tooltip="one table per method x sparsity (from 120 "
                "columns) ↔ the single table of the chosen method and sparsity"),
        Binding("d", "delta", "Delta", tooltip="delta vs the baseline: off → absolute → relative (%)"),
        Binding("b", "baseline", "Baseline", tooltip="what deltas are against: dense → English "
                "calibration (else the first language; paired per seed) → each row → dense"),
        Binding("x", "diff_only", "Diff-only", tooltip="hide columns where every row is the same"),
        Binding("w", "clear_only", "Clear winners",
                tooltip="show only columns with a clear best (beyond the uncertainty)"),
        Binding("t", "next_task", "Task", tooltip="next task: show the metric of the next "
                "lm-eval task or perplexity corpus present, then of all of them"),
        Binding("e", "export", "Export", tooltip="export the whole table (CSV, Markdown, LaTeX)"),
        Binding("p", "plot", "Plot", tooltip="plot panel on/off: what the table shows (deltas "
                "in delta mode)"),
        Binding("v", "plot_kind", "Plot kind", show=False,
                tooltip="plot: across sparsity (N:M as their own points) ↔ per-language bars"),
        Binding("g", "reload", "Reload", show=False, tooltip="reload from the store"),
        Binding("escape", "focus_table", "Table", show=False,
                tooltip="back to the table from the filter row"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.metric: str | None = None
        self.filters: dict[str, str | None] = dict.fromkeys(FILTERS)
        self.auto_fields: set[str] = set()  # filters the screen chose, not the user
        self.delta: str | None = None
        self.baseline: str | None = None  # None: the dense model; "calib": English calibration
        self.calib_row: str | None = None  # the row "calib" resolved to, last time it was shown
        self.diff_only = False
        self.clear_only = False
        self.faceted = True  # the preference; shown only from FACET_MIN_WIDTH columns
        self.plot_kind = "sparsity"  # sparsity | bars
        self.table: Any | None = None
        self.facets: list[tuple[str, str, Any]] = []
        self.plot: Any | None = None  # the PlotData last drawn
        self.choices: dict[str, list[str]] = {}
        self.metrics: list[str] = []
        self._syncing = False
        self._expect: dict[str, object] = {}  # each Select's value as the screen last set it
        self._shown_faceted: bool | None = None
        self.auto_note = ""

    def compose(self) -> ComposeResult:
        yield Static("compare · loading…", id="compare-summary", classes="bar")
        with Horizontal(id="compare-filters"):
            yield Select([], prompt="metric", allow_blank=True, id="sel-metric", compact=True)
            for f in FILTERS:
                yield Select(
                    [(f"any {f}", ANY)], value=ANY, allow_blank=False, id=f"sel-{f}", compact=True
                )
        with Vertical(id="compare-body"):
            with ScrollableContainer(id="compare-scroll", can_focus=True):
                yield Static("", id="compare-table")
            yield ScrollableContainer(id="compare-facets", can_focus=True)
            yield Static("", id="compare-note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#compare-scroll").focus()

    def on_screen_resume(self) -> None:
        # also the first showing; after the frame so the query never delays the first paint
        self.call_after_refresh(self.load_choices)

    def facets_shown(self) -> bool:
        """Small multiples: wanted and the terminal is wide enough."""
        return self.faceted and self.app.size.width >= facets.FACET_MIN_WIDTH

    def on_resize(self, event: events.Resize) -> None:
        if self._shown_faceted is not None and self._shown_faceted != self.facets_shown():
            self.reload()

    # ---- workers ----
    @work(thread=True, exclusive=True, group="compare-choices", name="compare choices")
    def load_choices(self) -> None:
        from langprune.store.queries import filter_choices

        try:
            choices = filter_choices(self.app.workspace)
        except LangpruneError as exc:  # a damaged database: say so where the table would be
            self.post_message(CompareLoaded(None, None, exc.report()))
            return
        self.post_message(ChoicesLoaded(choices.get("metric", []), choices))

    def on_choices_loaded(self, message: ChoicesLoaded) -> None:
        self.metrics = message.metrics
        self.choices = message.filters
        if self.metric not in self.metrics:
            preferred = [m for m in PREFERRED_METRICS if m in self.metrics]
            self.metric = preferred[0] if preferred else (self.metrics[0] if self.metrics else None)
        self._sync_selects()
        self.reload()

    def reload(self) -> None:
        if self.metric is None:
            self.query_one("#compare-summary", Static).update(
                "compare · no results yet: launch a grid (1) and wait for runs to finish (2)"
            )
            self.query_one("#compare-table", Static).update("")
            return
        asked = {k: v for k, v in self.filters.items() if k not in self.auto_fields}
        self._compare(
            self.metric,
            # compare()'s keyword arguments: the filters, and the baseline when not the dense model
            {**self.filters, **({"baseline": self.baseline} if self.baseline else {})},
            asked,
            self.delta,
            self.plot_shown(),
            self.plot_kind,
            self.facets_shown(),
        )

    @work(thread=True, exclusive=True, group="compare-query", name="compare")
    def _compare(
        self,
        metric: str,
        filters: dict[str, str | None],
        asked: dict[str, str | None],
        delta: str | None,
        plot: bool,
        kind: str,
        faceted: bool,
    ) -> None:
        from langprune.tui import compare_data

        ws = self.app.workspace
        try:
            found = compare_data.narrow(ws, metric, filters, delta)
            tables = (
                compare_data.facet_tables(ws, metric, found.filters, delta, self.choices, asked)
                if faceted
                else []
            )
            series = (
                compare_data.plot_data(
                    ws,
                    found.table,
                    metric,
                    found.filters,
                    delta,
                    kind,
                    self.choices.get("sparsity", []),
                )
                if plot
                else None
            )
        except ValueError as exc:  # StoreError (a damaged database too): the CLI's words
            text = exc.report() if isinstance(exc, LangpruneError) else str(exc)
            self.post_message(CompareLoaded(None, None, text))
            return
        self.post_message(
            CompareLoaded(
                found.table,
                series,
                None,
                auto=found.auto,
                filters=found.filters,
                facets=tables,
                faceted=faceted,
            )
        )

    def on_compare_loaded(self, message: CompareLoaded) -> None:
        summary = self.query_one("#compare-summary", Static)
        body = self.query_one("#compare-table", Static)
        if message.error or message.table is None:
            summary.update(Text.assemble("compare · ", (str(message.error), "red")))
            body.update("")
            self.table = None
            return
        self.table = message.table
        if self.baseline == "calib":
            self.calib_row = message.table.baseline
        if message.filters:
            self.filters.update({k: v for k, v in message.filters.items() if k in FILTERS})
            self._sync_selects()
        if message.auto:
            self.auto_fields |= {a.split("=", 1)[0] for a in message.auto}
            self.auto_note = "chosen for you (change with m): " + "; ".join(message.auto)
        if message.faceted is not None:
            self.facets = message.facets if message.faceted else []
            self._shown_faceted = message.faceted
        self._draw()
        if message.plot is not None:
            self._draw_plot(message.plot)

    def _draw(self) -> None:
        """Draw the single table or the facets from the tables last loaded."""
        from langprune.store.findings import diagonal_wins
        from langprune.tui.render import build_table, uniform_n

        table = self.table
        if table is None:
            return
        faceted = bool(self._shown_faceted and self.facets)
        self.query_one("#compare-scroll").display = not faceted
        self.query_one("#compare-facets").display = faceted
        extras = []
        n = uniform_n(table)
        if n:
            extras.append(f"n={n} seed{'s' * (n > 1)} per cell")
        if faceted:
            self._draw_facets()
            shown_tables = [t for _, _, t in self.facets]
            title = summary_title(replace(table, method=None, sparsity=None))
            head = f"{title}  · {len(shown_tables)} tables: method x sparsity (f: one)"
            self.query_one("#compare-summary", Static).update(Text(head))
        else:
            grid, shown = build_table(table, diff_only=self.diff_only, clear_only=self.clear_only)
            self.query_one("#compare-table", Static).update(
                grid if table.rows else "no values for these filters"
            )
            if self.diff_only or self.clear_only:
                what = " + ".join(
                    w
                    for w, on_ in (
                        ("diff-only", self.diff_only),
                        ("clear winners", self.clear_only),
                    )
                    if on_
                )
                extras.append(f"{what}: {len(shown)}/{len(table.columns)} columns")
            extras.append(diagonal_wins(table).sentence())
            self.query_one("#compare-summary", Static).update(Text(summary_title(table)))
        notes = "".join(f"\n* {line}" for line in table.footnotes())
        self.query_one("#compare-note", Static).update(
            Text(" · ".join([*extras, ""]))
            + Text.from_markup(LEGEND)
            + Text((f"\n{self.auto_note}" if self.auto_note and not faceted else "") + notes)
        )

    def _draw_facets(self) -> None:
        from langprune.store.findings import diagonal_wins
        from langprune.tui.render import build_table

        box = self.query_one("#compare-facets", ScrollableContainer)
        keys = [(m, s) for m, s, _ in self.facets]
        cols = facets.grid_columns(keys, self.app.size.width, self._natural_width())
        rows = facets.grid_rows(len(keys), cols)
        # what the body leaves: summary, filter row, the note's lines and the footer
        available = max(8, self.app.size.height - 6)
        height = available // rows
        box.styles.grid_size_columns = cols
        box.styles.grid_size_rows = rows
        box.styles.grid_rows = "1fr" if height >= 9 else "9"
        box.remove_children()
        panels = []
        for method, sparsity, t in self.facets:
            grid, _ = build_table(
                t,
                diff_only=self.diff_only,
                clear_only=self.clear_only,
                expand=True,
                leading=facets.leading(height, len(t.rows)),
            )
            panel = Static(grid, classes="facet")
            panel.border_title = f"{method} · {sparsity}"
            panel.border_subtitle = diagonal_wins(t).sentence()
            panels.append(panel)
        box.mount_all(panels)

    def _natural_width(self) -> int:
        """The widest facet table's width, unexpanded (what a panel needs to show it whole)."""
        from rich.measure import Measurement

        from langprune.tui.render import build_table

        console = self.app.console
        widths = [
            Measurement.get(console, console.options, build_table(t)[0]).maximum
            for _, _, t in self.facets
        ]
        return max(widths, default=0)

    # ---- filter row ----
    def _sync_selects(self) -> None:
        self._syncing = True
        try:
            metric = self.query_one("#sel-metric", Select)
            metric.set_options([(m, m) for m in self.metrics])
            if self.metric in self.metrics:
                metric.value = self.metric
            for f in FILTERS:
                sel = self.query_one(f"#sel-{f}", Select)
                values = self.choices.get(f, [])
                if f == "method":
                    values = [v for v in values if v != "dense"]
                sel.set_options([(f"any {f}", ANY), *[(Text(v), v) for v in values]])
                current = self.filters.get(f)
                sel.value = current if current in values else ANY
            self._expect = {s.id or "": s.value for s in self.query(Select)}
        finally:
            self.call_after_refresh(self._end_sync)

    def _end_sync(self) -> None:
        self._syncing = False

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        sid = event.select.id or ""
        # the echo of `_sync_selects` (Textual posts Changed later, possibly for a value between)
        if self._syncing or self._expect.get(sid, Select.BLANK) == event.select.value:
            return
        self._expect[sid] = event.select.value
        if sid == "sel-metric":
            if event.value is Select.BLANK or event.value == self.metric:
                return
            self.metric = str(event.value)
        else:
            key = sid.removeprefix("sel-")
            value = None if event.value in (ANY, Select.BLANK) else str(event.value)
            if self.filters.get(key) == value:
                return
            self.filters[key] = value
            self.auto_fields.discard(key)
        self.auto_note = ""
        self.reload()

    # ---- keys ----
    def action_focus_filters(self) -> None:
        self.query_one("#sel-metric", Select).focus()

    def action_focus_table(self) -> None:
        target = "#compare-facets" if self._shown_faceted else "#compare-scroll"
        self.query_one(target).focus()

    def action_facets(self) -> None:
        width = self.app.size.width
        if width < facets.FACET_MIN_WIDTH:
            self.faceted = True
            self.notify(
                f"one table per method x sparsity needs {facets.FACET_MIN_WIDTH} columns "
                f"(this terminal has {width})",
                timeout=3,
            )
            return
        self.faceted = not self.faceted  # the summary line says which view this is
        self.reload()

    def action_delta(self) -> None:
        self.delta = DELTAS[(DELTAS.index(self.delta) + 1) % len(DELTAS)]
        against = "dense" if self.table is None else self.table.baseline
        self.notify(f"delta vs {against}: {self.delta or 'off'}", timeout=2)
        self.reload()

    def action_baseline(self) -> None:
        table = self.table
        # rows with done values only: a row of failed or queued runs cannot be a baseline
        rows = [] if table is None else [
            r for r in table.rows if r != "dense" and any(k[0] == r for k in table.cells)
        ]  # fmt: skip
        self.baseline = next_baseline(self.baseline, self.calib_row, rows)
        if self.delta is None:
            self.delta = "abs"  # a baseline means nothing without deltas
        self.notify(f"delta ({self.delta}) vs {self.baseline or 'dense'}", timeout=2)
        self.reload()

    def action_diff_only(self) -> None:
        self.diff_only = not self.diff_only
        self._draw()

    def action_clear_only(self) -> None:
        self.clear_only = not self.clear_only
        self._draw()

    def action_next_task(self) -> None:
        """Show the metric of the next task present (lm-eval task or perplexity corpus), then of
        all tasks."""
        tasks = [None, *self.choices.get("task", [])]
        current = self.filters.get("task")
        nxt = tasks[(tasks.index(current) + 1) % len(tasks)] if current in tasks else None
        self.filters["task"] = nxt
        self.auto_fields.discard("task")
        self.notify(f"task: {nxt or 'all tasks'}", timeout=2)
        self._sync_selects()
        self.reload()

    def action_reload(self) -> None:
        self.load_choices()

    # ---- plot panel ----
    def plot_shown(self) -> bool:
        return bool(self.query("#compare-plot"))

    def action_plot(self) -> None:
        existing = self.query("#compare-plot")
        if existing:
            existing.remove()
            return
        from textual_plotext import PlotextPlot

        self.query_one("#compare-body").mount(
            PlotextPlot(id="compare-plot", classes="-shown"), before="#compare-note"
        )
        self.reload()

    def action_plot_kind(self) -> None:
        self.plot_kind = "bars" if self.plot_kind == "sparsity" else "sparsity"
        if not self.plot_shown():
            self.action_plot()
        else:
            self.reload()

    def _draw_plot(self, data: Any) -> None:
        from langprune.tui.plotdata import axis_limits

        found = self.query("#compare-plot")
        if not found:
            return
        self.plot = data
        widget: Any = found.first()  # a textual_plotext PlotextPlot, imported only to plot
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        limits = axis_limits(data.values())
        xs = list(range(1, len(data.labels) + 1))
        if data.kind == "bars":
            if data.labels and data.series:
                ys = [[0.0 if v is None else v for v in vs] for vs in data.series.values()]
                plt.multiple_bar(
                    data.labels, ys, labels=list(data.series), minimum=limits[0] if limits else 0
                )
        else:
            for row, ys in data.series.items():
                pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
                if pts:
                    plt.plot([p[0] for p in pts], [p[1] for p in pts], label=row, marker="braille")
            plt.xticks(xs, data.labels)
            if xs:
                plt.xlim(0.5, len(xs) + 0.5)
            plt.xlabel("sparsity")
        if limits:
            plt.ylim(*limits)
        plt.title(data.title)
        widget.refresh()

    # ---- export ----
    def action_export(self) -> None:
        if self.table is None:
            self.notify("nothing to export yet", severity="warning")
            return
        from langprune.store.export import default_name

        name = default_name(self.table, "csv").removesuffix(".csv")
        default = self.app.workspace / "exports" / name
        self.app.push_screen(ExportScreen(default), self._export_chosen)

    def _export_chosen(self, choice: tuple[str, str] | None) -> None:
        if not choice or self.table is None:
            return
        fmt, path = choice
        target = Path(path).expanduser()
        if target.is_file():
            table = self.table

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.export(table, fmt, path, True)

            self.app.push_screen(ConfirmScreen(f"{target} exists. Overwrite it?"), confirmed)
            return
        self.export(self.table, fmt, path, False)

    @work(thread=True, group="compare-export", name="export")
    def export(self, table: Any, fmt: str, path: str, force: bool = False) -> None:
        from langprune.store.errors import StoreError
        from langprune.store.export import export

        try:
            written = export(table, fmt, Path(path).expanduser(), force=force)
        except StoreError as exc:  # a folder, an unwritable path: say so, stay up
            self.app.call_from_thread(self.notify, f"export failed: {exc}", severity="error")
            return
        self.post_message(ActionDone(f"exported {fmt} → {written}"))
