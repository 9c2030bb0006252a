"""Results screen: every run with its headline metrics; sort, filter (CLI expression), search.

Enter opens the run's card (screens/runcard.py). `o` asks for the column to sort by (its name or
its heading, `-` first for descending, Tab completes); `s` steps to the next column and names it.

Loading, searching and sorting run in thread workers; the virtualized table formats only the rows
on screen, so 100,000 runs scroll as smoothly as 100.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Static

from langprune.errors import LangpruneError, disk_error
from langprune.tui.messages import ResultsLoaded
from langprune.tui.screens.base import LangpruneScreen
from langprune.tui.widgets.lazytable import Column, LazyTable

WIDTHS = {
    "state": 9, "model": 14, "method": 9, "sparsity": 5, "calibration_language": 6, "seed": 4,
    "achieved_sparsity": 6, "seconds_total": 7, "experiment": 14, "id": 12,
    "cell_id": 12,
}  # fmt: skip
TITLES = {
    "calibration_language": "calib", "sparsity": "spars", "achieved_sparsity": "achvd",
    "seconds_total": "time", "acc_norm": "acc_n", "cell_id": "cell",
}  # fmt: skip
NUMERIC = {"seed", "achieved_sparsity", "seconds_total", "ppl", "bpb", "acc", "acc_norm"}


def fmt(value: Any, column: str) -> str | Text:
    if value is None:
        return "-"
    if column == "seconds_total":
        from langprune.tui.runstate import format_duration

        return format_duration(value)
    if column == "state":
        from langprune.tui.render import state_text

        return state_text(str(value))
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


class ResultsScreen(LangpruneScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("f", "filter", "Filter"),
        Binding("o", "sort_by", "Sort by…"),
        Binding("s", "sort(1)", "Next sort"),
        Binding("S", "sort(0)", "Reverse", show=False),
        Binding("enter", "card", "Run card"),
        Binding("g", "reload", "Reload"),
        Binding("escape", "clear", "Clear", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[str] = []
        self.all_rows: list[tuple[Any, ...]] = []
        self.filter_expr = ""
        self.search_text = ""
        self.sort_index: int | None = None
        self.sort_reverse = False
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("results · loading…", id="results-summary", classes="bar")
        yield Input(
            placeholder="search: words that must appear in a row (Enter)", id="results-search"
        )
        yield Input(
            placeholder="filter: method=wanda sparsity=0.5 calib=sw (Enter)", id="results-filter"
        )
        yield Input(
            placeholder="sort by column (name or heading, -name descending; Tab completes)",
            id="results-sort",
        )
        yield LazyTable([], id="results-table", formatter=self._format)
        yield Footer()

    def on_mount(self) -> None:
        for wid in ("#results-search", "#results-filter", "#results-sort"):
            self.query_one(wid).display = False
        self.query_one(LazyTable).focus()

    def on_screen_resume(self) -> None:
        # also the first showing; after the frame so the query never delays the first paint
        self.call_after_refresh(self.action_reload)

    def _format(self, index: int, value: Any, row: Any) -> str | Text:
        return fmt(value, self.columns[index] if index < len(self.columns) else "")

    # ---- workers ----
    def action_reload(self) -> None:
        self.load(self.filter_expr, self.search_text, self.sort_index, self.sort_reverse)

    @work(thread=True, exclusive=True, group="results-load", name="results")
    def load(self, expr: str, text: str, sort_index: int | None, reverse: bool) -> None:
        from langprune.tui import results_data

        try:
            columns, rows = results_data.load(self.app.workspace, expr)
        except (ValueError, LangpruneError, OSError) as exc:  # a bad filter, a damaged database,
            # a full disk (FilterError, StoreError, DiskError): the CLI's words, in place
            problem = disk_error(exc) or exc
            text = problem.report() if isinstance(problem, LangpruneError) else str(exc)
            self.post_message(ResultsLoaded([], [], 0, error=text))
            return
        shown = self._view(rows, text, sort_index, reverse)
        self.post_message(ResultsLoaded(columns, shown, len(rows), all_rows=rows))

    def _view(self, rows: list, text: str, sort_index: int | None, reverse: bool) -> list:
        from langprune.tui import results_data

        shown = results_data.search(rows, text)
        if sort_index is not None:
            shown = results_data.sort(shown, sort_index, reverse)
        return shown

    @work(thread=True, exclusive=True, group="results-view", name="results view")
    def reshape(self, text: str, sort_index: int | None, reverse: bool) -> None:
        rows = self.all_rows
        self.post_message(
            ResultsLoaded(self.columns, self._view(rows, text, sort_index, reverse), len(rows))
        )

    def on_results_loaded(self, message: ResultsLoaded) -> None:
        table = self.query_one(LazyTable)
        summary = self.query_one("#results-summary", Static)
        if message.error:
            summary.update(Text.assemble("results · ", (message.error, "red")))
            return
        if message.columns != self.columns:
            self.columns = message.columns
            table.set_columns(
                [
                    Column(
                        c, TITLES.get(c, c), WIDTHS.get(c, 8), "right" if c in NUMERIC else "left"
                    )
                    for c in self.columns
                ]
            )
        if message.all_rows is not None:
            self.all_rows = message.all_rows
        table.sort_key = self.columns[self.sort_index] if self.sort_index is not None else None
        table.sort_reverse = self.sort_reverse
        table.set_rows(message.rows)
        parts = [f"results · {len(message.rows):,} of {message.total:,} runs"]
        if self.filter_expr:
            parts.append(f"filter: {self.filter_expr}")
        if self.search_text:
            parts.append(f"search: {self.search_text}")
        if self.sort_index is not None:
            parts.append(
                f"sorted by {self.columns[self.sort_index]}{' ▼' if self.sort_reverse else ''}"
            )
        if not message.total and not self.filter_expr:
            parts.append("no runs yet (press 1 to compose a grid)")
        summary.update(Text(" · ".join(parts)))  # a filter or search is text, never markup

    # ---- keys ----
    def action_search(self) -> None:
        box = self.query_one("#results-search", Input)
        box.display = True
        box.focus()

    def action_filter(self) -> None:
        box = self.query_one("#results-filter", Input)
        box.display = True
        box.value = self.filter_expr
        box.focus()

    @on(Input.Submitted, "#results-search")
    def _search(self, event: Input.Submitted) -> None:
        self.search_text = event.value.strip()
        event.input.display = bool(self.search_text)
        self.query_one(LazyTable).focus()
        self.reshape(self.search_text, self.sort_index, self.sort_reverse)

    @on(Input.Submitted, "#results-filter")
    def _filter(self, event: Input.Submitted) -> None:
        self.filter_expr = event.value.strip()
        event.input.display = bool(self.filter_expr)
        self.query_one(LazyTable).focus()
        self.action_reload()

    def action_sort(self, forward: int) -> None:
        if not self.columns:
            return
        if forward:
            self.sort_index = (
                0 if self.sort_index is None else (self.sort_index + 1) % len(self.columns)
            )
            self.sort_reverse = False
        else:
            self.sort_reverse = not self.sort_reverse
            if self.sort_index is None:
                self.sort_index = 0
        order = "descending" if self.sort_reverse else "ascending"
        self.notify(
            f"sorted by {self.columns[self.sort_index]} ({order}); o: pick a column", timeout=3
        )
        self.reshape(self.search_text, self.sort_index, self.sort_reverse)

    def column_named(self, name: str) -> int | None:
        """The index of a column by its name or its heading (case-insensitive)."""
        wanted = name.strip().lower()
        for i, c in enumerate(self.columns):
            if wanted in (c.lower(), TITLES.get(c, c).lower()):
                return i
        return None

    def action_sort_by(self) -> None:
        if not self.columns:
            return
        box = self.query_one("#results-sort", Input)
        names = [*self.columns, *(f"-{c}" for c in self.columns)]
        box.suggester = SuggestFromList(names, case_sensitive=False)
        box.placeholder = "sort by: " + " ".join(self.columns)
        box.value = ""
        box.display = True
        box.focus()

    @on(Input.Submitted, "#results-sort")
    def _sort_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            event.input.display = False
            self.query_one(LazyTable).focus()
            return
        reverse = text.startswith("-")
        index = self.column_named(text.lstrip("-"))
        if index is None:
            import difflib

            close = difflib.get_close_matches(text.lstrip("-"), self.columns, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.notify(
                f"no column {text.lstrip('-')!r}{hint}; columns: {', '.join(self.columns)}",
                severity="error",
            )
            return
        event.input.display = False
        self.query_one(LazyTable).focus()
        self.sort_index, self.sort_reverse = index, reverse
        self.reshape(self.search_text, self.sort_index, self.sort_reverse)

    def action_card(self) -> None:
        row = self.query_one(LazyTable).current()
        if row is None or "id" not in self.columns:
            return
        from langprune.tui.screens.runcard import RunCardScreen

        self.app.push_screen(RunCardScreen(str(row[self.columns.index("id")])))

    def on_lazy_table_selected(self, event: LazyTable.Selected) -> None:
        event.stop()
        self.action_card()

    def action_clear(self) -> None:
        changed = bool(self.search_text or self.filter_expr)
        self.search_text = self.filter_expr = ""
        for wid in ("#results-search", "#results-filter", "#results-sort"):
            box = self.query_one(wid, Input)
            box.value = ""
            box.display = False
        self.query_one(LazyTable).focus()
        if changed:
            self.action_reload()
