"""Compare screen: calibration language (rows) x evaluation language (columns) for one metric.

All numbers come from `store.queries.compare`, queried in a thread worker. When several methods,
sparsities, corpora or models remain, the store refuses to average them (AmbiguousComparison); the
screen then picks the first value of that filter itself and says so, so a newcomer sees a table at
once and can change the choice in the filter row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from langprune.errors import LangpruneError
from langprune.tui.messages import ActionDone, ChoicesLoaded, CompareLoaded
from langprune.tui.screens.base import LangpruneScreen
from langprune.vocab import Sparsity

ANY = "(any)"
FILTERS = ("experiment", "model", "method", "sparsity", "task")


def _extra(filters: dict[str, str | None]) -> dict[str, Any]:
    """The filters beyond FILTERS (chosen automatically), as keyword arguments of compare."""
    return {k: v for k, v in filters.items() if k not in FILTERS}


DELTAS = (None, "abs", "rel")
# bits per byte first: unlike token perplexity it compares across tokenizers and scripts
PREFERRED_METRICS = ("bpb", "ppl", "acc", "acc_norm")


class CompareScreen(LangpruneScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "focus_filters", "Metric/filters"),
        Binding("d", "delta", "Delta"),
        Binding("x", "diff_only", "Diff-only"),
        Binding("w", "clear_only", "Clear winners"),
        Binding("t", "next_task", "Task"),
        Binding("e", "export", "Export"),
        Binding("p", "plot", "Plot"),
        Binding("v", "plot_kind", "Plot kind", show=False),
        Binding("g", "reload", "Reload", show=False),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.metric: str | None = None
        self.filters: dict[str, str | None] = dict.fromkeys(FILTERS)
        self.delta: str | None = None
        self.diff_only = False
        self.clear_only = False
        self.plot_kind = "sparsity"  # sparsity | bars
        self.table: Any | None = None
        self.choices: dict[str, list[str]] = {}
        self.metrics: list[str] = []
        self._syncing = False
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
            yield Static("", id="compare-note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#compare-scroll").focus()

    def on_screen_resume(self) -> None:
        # also the first showing; after the frame so the query never delays the first paint
        self.call_after_refresh(self.load_choices)

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
        self._compare(
            self.metric, dict(self.filters), self.delta, self.plot_shown(), self.plot_kind
        )

    @work(thread=True, exclusive=True, group="compare-query", name="compare")
    def _compare(
        self, metric: str, filters: dict[str, str | None], delta: str | None, plot: bool, kind: str
    ) -> None:
        from langprune.store.queries import AmbiguousComparison, compare

        auto: list[str] = []
        for _ in range(len(FILTERS) + 6):
            try:
                table = compare(
                    self.app.workspace,
                    metric,
                    experiment=filters["experiment"],
                    model=filters["model"],
                    method=filters["method"],
                    sparsity=filters["sparsity"],
                    task=filters["task"],
                    delta=delta,  # type: ignore[arg-type]  # self.delta only ever holds None, "abs" or "rel"
                    refresh=not auto,
                    **_extra(filters),  # auto-chosen
                )
                break
            except AmbiguousComparison as exc:
                if not exc.choices:
                    raise
                pick = _first_choice(exc.field, exc.choices)
                filters[exc.field] = pick
                auto.append(f"{exc.field}={pick} (of {', '.join(exc.choices)})")
            except ValueError as exc:  # StoreError (a damaged database too): the CLI's words
                text = exc.report() if isinstance(exc, LangpruneError) else str(exc)
                self.post_message(CompareLoaded(None, None, text))
                return
        else:
            self.post_message(CompareLoaded(None, None, "could not narrow the comparison down"))
            return
        series = self._plot_series(table, metric, filters, kind) if plot else None
        self.post_message(CompareLoaded(table, series, None, auto=auto, filters=filters))

    def _plot_series(
        self, table: Any, metric: str, filters: dict[str, str | None], kind: str
    ) -> Any:
        """Data for the plot panel, from the same comparison query (one per sparsity level)."""
        from langprune.store.queries import compare
        from langprune.store.table import DENSE_ROW

        if kind == "bars":
            rows = [r for r in table.rows][:8]
            return {
                "kind": "bars",
                "columns": list(table.columns),
                "series": {
                    r: [
                        table.shown(table.cells[(r, c)]) if (r, c) in table.cells else 0.0
                        for c in table.columns
                    ]
                    for r in rows
                },
            }
        levels = [s for s in self.choices.get("sparsity", []) if s]
        points: dict[str, list[tuple[float, float]]] = {}
        for level in sorted(levels, key=lambda s: Sparsity.parse(s).fraction):
            try:
                t = compare(
                    self.app.workspace,
                    metric,
                    experiment=filters["experiment"],
                    model=filters["model"],
                    method=filters["method"],
                    sparsity=level,
                    task=filters["task"],
                    refresh=False,
                    **_extra(filters),
                )
            except ValueError:
                continue
            for row in t.rows:
                if row == DENSE_ROW:
                    continue
                mean = t.row_means.get(row)
                if mean is not None:
                    points.setdefault(row, []).append((Sparsity.parse(level).fraction, mean))
        return {"kind": "sparsity", "series": points, "levels": levels}

    def on_compare_loaded(self, message: CompareLoaded) -> None:
        summary = self.query_one("#compare-summary", Static)
        body = self.query_one("#compare-table", Static)
        note = self.query_one("#compare-note", Static)
        if message.error or message.table is None:
            summary.update(Text.assemble("compare · ", (str(message.error), "red")))
            body.update("")
            self.table = None
            return
        from langprune.tui.render import build_table, uniform_n

        table = message.table
        self.table = table
        chosen = message.filters
        if chosen:
            self.filters.update({k: v for k, v in chosen.items() if k in FILTERS})
            self._sync_selects()
        from langprune.store.findings import diagonal_wins

        grid, shown = build_table(table, diff_only=self.diff_only, clear_only=self.clear_only)
        body.update(grid if table.rows else "no values for these filters")
        n = uniform_n(table)
        extras = []
        if n:
            extras.append(f"n={n} seed{'s' * (n > 1)} per cell")
        if self.diff_only or self.clear_only:
            what = " + ".join(
                w
                for w, on_ in (("diff-only", self.diff_only), ("clear winners", self.clear_only))
                if on_
            )
            extras.append(f"{what}: {len(shown)}/{len(table.columns)} columns")
        extras.append(diagonal_wins(table).sentence())
        summary.update(Text(table.title()))  # user strings are text, never markup
        auto = message.auto
        if auto is not None and auto:
            self.auto_note = "chosen for you (change with m): " + "; ".join(auto)
        legend = " · ".join(
            [
                "[b]bold[/b] clear best",
                "[u]underlined[/u] tied within ±",
                "[on #303a5f] diagonal [/] calibrated in that language",
                "colour best→worst per column",
            ]
        )
        notes = "".join(f"\n* {line}" for line in table.footnotes())
        note.update(
            Text(" · ".join([*extras, ""]))
            + Text.from_markup(legend)
            + Text((f"\n{self.auto_note}" if self.auto_note else "") + notes)
        )
        if message.plot is not None:
            self._draw_plot(message.plot)

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
        finally:
            self.call_after_refresh(self._end_sync)

    def _end_sync(self) -> None:
        self._syncing = False

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if self._syncing:
            return
        sid = event.select.id or ""
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
        self.auto_note = ""
        self.reload()

    # ---- keys ----
    def action_focus_filters(self) -> None:
        self.query_one("#sel-metric", Select).focus()

    def action_focus_table(self) -> None:
        self.query_one("#compare-scroll").focus()

    def action_delta(self) -> None:
        self.delta = DELTAS[(DELTAS.index(self.delta) + 1) % len(DELTAS)]
        self.notify(f"delta vs dense: {self.delta or 'off'}", timeout=2)
        self.reload()

    def action_diff_only(self) -> None:
        self.diff_only = not self.diff_only
        if self.table is not None:
            self.on_compare_loaded(CompareLoaded(self.table, None, None))

    def action_clear_only(self) -> None:
        self.clear_only = not self.clear_only
        if self.table is not None:
            self.on_compare_loaded(CompareLoaded(self.table, None, None))

    def action_next_task(self) -> None:
        tasks = [None, *self.choices.get("task", [])]
        current = self.filters.get("task")
        self.filters["task"] = (
            tasks[(tasks.index(current) + 1) % len(tasks)] if current in tasks else None
        )
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

        self.query_one("#compare-body").mount(PlotextPlot(id="compare-plot", classes="-shown"))
        self.reload()

    def action_plot_kind(self) -> None:
        self.plot_kind = "bars" if self.plot_kind == "sparsity" else "sparsity"
        if not self.plot_shown():
            self.action_plot()
        else:
            self.reload()

    def _draw_plot(self, data: dict[str, Any]) -> None:
        found = self.query("#compare-plot")
        if not found:
            return
        widget: Any = found.first()  # a textual_plotext PlotextPlot, imported only to plot
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        metric = self.metric or ""
        if data["kind"] == "bars":
            columns = data["columns"]
            series = data["series"]
            if columns and series:
                plt.multiple_bar(columns, list(series.values()), labels=list(series))
            plt.title(f"{metric} per evaluation language, by calibration language")
        else:
            for row, pts in data["series"].items():
                if pts:
                    plt.plot([p[0] for p in pts], [p[1] for p in pts], label=row, marker="braille")
            plt.title(f"{metric} (mean over eval languages) across sparsity")
            plt.xlabel("sparsity")
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

            self.app.push_screen(OverwriteScreen(target), confirmed)
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


def _first_choice(field: str, choices: list[str]) -> str:
    """What the screen picks when the store asks for a choice: a calibrated method first
    (magnitude reads no calibration text, so it answers nothing about calibration languages)."""
    if field == "method":
        from langprune.cellid import uses_calibration

        calibrated = [c for c in choices if uses_calibration(c)]
        if calibrated:
            return calibrated[0]
    return choices[0]


class OverwriteScreen(ModalScreen[bool]):
    """Confirm overwriting an existing export file: y/Enter overwrites, n/Esc keeps it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "yes", "Overwrite"),
        Binding("n,escape", "no", "Keep"),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Label(f"{self.path} exists. Overwrite it?")
            with Horizontal(id="preview-buttons"):
                yield Button("Overwrite (y)", id="overwrite-yes", variant="error")
                yield Button("Keep (n)", id="overwrite-no")

    @on(Button.Pressed, "#overwrite-yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#overwrite-no")
    def action_no(self) -> None:
        self.dismiss(False)


EXPORT_FORMATS = (("CSV", "csv"), ("Markdown", "md"), ("LaTeX", "latex"))
SUFFIX = {"csv": ".csv", "md": ".md", "latex": ".tex"}


class ExportScreen(ModalScreen[tuple[str, str] | None]):
    """Pick a format and a path; Enter writes, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, stem: Path) -> None:
        super().__init__()
        self.stem = stem

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Label("export the whole comparison (not just the visible part)")
            yield Select(EXPORT_FORMATS, value="csv", allow_blank=False, id="export-format")
            yield Input(str(self.stem) + ".csv", id="export-path")
            with Horizontal(id="preview-buttons"):
                yield Button("Write (Enter)", id="export-ok", variant="primary")
                yield Button("Cancel (Esc)", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(Select.Changed, "#export-format")
    def _format(self, event: Select.Changed) -> None:
        box = self.query_one("#export-path", Input)
        path = Path(box.value)
        box.value = str(path.with_suffix(SUFFIX[str(event.value)]))

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def _ok(self) -> None:
        fmt = str(self.query_one("#export-format", Select).value)
        self.dismiss((fmt, self.query_one("#export-path", Input).value))

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
