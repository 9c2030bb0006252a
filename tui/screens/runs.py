"""Runs screen: every run, live from the run directories, with a log tail of the selected one.

A thread worker polls the run directories about once a second (sooner when woken by a key) and
posts `RunsPolled`; the UI thread only re-binds rows to the virtualized table. Cancel and retry go
through the runner's launcher API, also in thread workers. Leaving or quitting never touches a run.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Input, Log, Static
from textual.worker import get_current_worker

from langprune.store.records import RunRecord
from langprune.tui.messages import ActionDone, LogTail, RunsPolled, WorkFailed
from langprune.tui.render import STATE_STYLE, dash
from langprune.tui.runstate import RunPoller, format_duration, tail_lines
from langprune.tui.screens.base import LangpruneScreen
from langprune.tui.widgets.lazytable import Column, LazyTable

POLL_S = 1.0
LOST_CHECK_S = 5.0
STATE_ORDER = {"running": 0, "queued": 1, "failed": 2, "cancelled": 3, "done": 4}

COLUMNS = [
    Column("state", "state", 9),
    Column("progress", "progress", 14),
    Column("stage", "stage", 10),
    Column("eta", "ETA", 6, "right"),
    Column("tps", "tok/s", 6, "right"),
    Column("method", "method", 9),
    Column("sparsity", "spars", 5),
    Column("calib", "calib", 6),
    Column("seed", "seed", 4, "right"),
    Column("model", "model", 14),
    Column("device", "device", 8),
    Column("id", "id", 12),
    Column("error", "error", 40),
]


def progress_bar(fraction: float, width: int = 8) -> Text:
    filled = round(fraction * width)
    bar = Text("█" * filled, style="cyan") + Text("░" * (width - filled), style="grey42")
    return bar + Text(f" {int(fraction * 100):3d}%")


def sort_key(row: RunRecord) -> tuple[Any, ...]:
    def last(value: Any) -> tuple[bool, Any]:  # None sorts after every value of its column
        return (value is None, "" if value is None else value)

    return (
        STATE_ORDER.get(row.state, 9),
        last(row.experiment),
        row.model,
        row.method != "dense",
        last(row.method),
        last(row.sparsity),
        last(row.calibration_language),
        last(row.seed),
        row.id,
    )


def cells(row: RunRecord) -> tuple[Any, ...]:
    tps = f"{row.tokens_per_s:.0f}" if isinstance(row.tokens_per_s, (int, float)) else "-"
    eta = format_duration(row.eta_s) if row.state == "running" else "-"
    if row.state == "done":
        eta = format_duration(row.seconds_total)
    return (
        Text(row.state, style=STATE_STYLE.get(row.state, "")),
        progress_bar(row.progress),
        dash(row.stage) if not row.step else f"{dash(row.stage)} {row.step}",
        eta,
        tps,
        dash(row.method),
        dash(row.sparsity),
        dash(row.calibration_language),
        dash(row.seed),
        row.model,
        dash(row.device),
        row.id,
        Text(row.error or "", style="red"),
    )


class RunsScreen(LangpruneScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel"),
        Binding("r", "retry", "Retry"),
        Binding("l", "open_log", "Log"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[RunRecord] = []
        self.filter_expr = ""
        self.selected_id: str | None = None
        self._wake = threading.Event()
        self._paused = False

    def compose(self) -> ComposeResult:
        yield Static("runs · reading run directories…", id="runs-summary", classes="bar")
        yield Input(
            placeholder="filter: method=wanda sparsity=0.5 state=failed calib=sw (Enter applies)",
            id="runs-filter",
        )
        with Vertical(id="runs-main"):
            yield LazyTable(COLUMNS, id="runs-table")
            yield Static("log", id="log-title", classes="bar")
            yield Log(id="log-tail", highlight=False, max_lines=400)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs-filter").display = False
        self.query_one(LazyTable).focus()
        # start reading after the first frame is on screen: the worker would compete for the GIL
        self.call_after_refresh(self.poll_runs)

    def on_screen_suspend(self) -> None:
        self._paused = True

    def on_screen_resume(self) -> None:
        self._paused = False
        self._wake.set()

    # ---- the polling worker (never touches widgets) ----
    @work(thread=True, exclusive=True, group="runs-poll", name="runs poll")
    def poll_runs(self) -> None:
        worker = get_current_worker()
        poller = RunPoller(self.app.runs_root)
        last_lost = time.monotonic()  # the first reading comes before the slower lost-check
        last_log: tuple[str | None, list[str]] = (None, [])
        while not worker.is_cancelled:
            if self._paused:
                self._wake.wait(POLL_S)
                self._wake.clear()
                continue
            if time.monotonic() - last_lost > LOST_CHECK_S:
                last_lost = time.monotonic()
                self._refresh_lost()
            rows = sorted(poller.poll(), key=sort_key)
            expr, error = self.filter_expr, None
            if expr:
                from langprune.tui import runfilter

                try:
                    rows = runfilter.apply(rows, runfilter.parse(expr))
                except ValueError as exc:  # the store's FilterError, in the CLI's words
                    error = str(exc)
            self.post_message(RunsPolled(rows, error))
            run_id = self.selected_id
            if run_id:
                lines = tail_lines(self.app.runs_root / run_id / "log.txt", 200)
                if (run_id, lines) != last_log:
                    last_log = (run_id, lines)
                    self.post_message(LogTail(run_id, lines))
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _refresh_lost(self) -> None:
        """Mark runs whose worker vanished, as `langprune status` does (when the runner is there)."""
        try:
            from langprune.engine.run import state
        except ImportError:
            return
        try:
            state.refresh_lost(self.app.workspace)
        except Exception as exc:  # one bad run dir must not stop the live view
            self.post_message(WorkFailed("checking for lost workers", str(exc)))

    # ---- messages from the worker ----
    def on_runs_polled(self, message: RunsPolled) -> None:
        self.rows = message.rows
        table = self.query_one(LazyTable)
        keep = self.selected_id
        table.set_rows([cells(r) for r in self.rows])
        if keep:
            for i, r in enumerate(self.rows):
                if r.id == keep:
                    if table.cursor_row != i:
                        table.cursor_row = i
                    break
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r.state] = counts.get(r.state, 0) + 1
        parts = [f"{counts[s]} {s}" for s in STATE_ORDER if counts.get(s)]
        # Text, never markup: a filter expression or an error is the user's text
        summary = Text(f"runs: {len(self.rows)}" + (" · " + " · ".join(parts) if parts else ""))
        if self.filter_expr:
            summary.append(f" · filter: {self.filter_expr}")
        if message.filter_error:
            summary.append(f"  {message.filter_error}", style="red")
        elif not self.rows and not self.filter_expr:
            summary.append(" · nothing yet: press 1 to compose a grid, or `langprune run smoke`")
        self.query_one("#runs-summary", Static).update(summary)
        if self.selected_id is None and self.rows:
            self._select(0)

    def on_log_tail(self, message: LogTail) -> None:
        if message.run_id != self.selected_id:
            return
        log = self.query_one("#log-tail", Log)
        log.clear()
        log.write_lines(message.lines)

    @on(LazyTable.Highlighted, "#runs-table")
    def _highlighted(self, event: LazyTable.Highlighted) -> None:
        self._select(event.index)

    @on(LazyTable.Selected, "#runs-table")
    def _selected(self, event: LazyTable.Selected) -> None:
        self.action_open_log()

    def _select(self, index: int) -> None:
        if not 0 <= index < len(self.rows):
            return
        row = self.rows[index]
        if row.id != self.selected_id:
            self.selected_id = row.id
            title = Text(
                f"log · {row.id} · {dash(row.method)} {dash(row.sparsity)} "
                f"calib={dash(row.calibration_language)} seed={dash(row.seed)}"
            )
            if row.error:
                title.append(f" · {row.error}", style="red")
            self.query_one("#log-title", Static).update(title)
            self.query_one("#log-tail", Log).clear()
            self._wake.set()

    def current(self) -> RunRecord | None:
        for r in self.rows:
            if r.id == self.selected_id:
                return r
        return None

    # ---- keys ----
    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True
        box.value = self.filter_expr
        box.focus()

    @on(Input.Submitted, "#runs-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.set_filter(event.value.strip())
        self.query_one(LazyTable).focus()
        if not self.filter_expr:
            event.input.display = False

    def set_filter(self, expr: str) -> None:
        self.filter_expr = expr
        self._wake.set()

    def action_clear_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.value = ""
        box.display = False
        self.set_filter("")
        self.query_one(LazyTable).focus()

    def action_cancel(self) -> None:
        row = self.current()
        if row:
            self._runner_call("cancel", [row.id])

    def action_retry(self) -> None:
        row = self.current()
        if row:
            self._runner_call("retry", [row.id])

    @work(thread=True, group="runs-action", name="runner")
    def _runner_call(self, what: str, run_ids: list[str]) -> None:
        try:
            from langprune.engine.run import launcher
        except ImportError:
            self.post_message(ActionDone(f"{what}: the runner is not installed", "error"))
            return
        try:
            if what == "cancel":
                outcome = launcher.cancel(self.app.workspace, run_ids)
                text = "; ".join(f"{rid}: {what_}" for rid, what_ in outcome.items())
            else:
                queued = launcher.retry(self.app.workspace, run_ids)
                text = f"queued again: {', '.join(queued)}" if queued else "nothing to retry"
        except Exception as exc:  # the runner's ValueErrors say what to do ("cancel it first")
            self.post_message(ActionDone(f"{what} {', '.join(run_ids)}: {exc}", "error"))
        else:
            self.post_message(ActionDone(text or f"{what}: nothing to do"))
        self._wake.set()

    def action_open_log(self) -> None:
        row = self.current()
        if row:
            from langprune.tui.screens.log import LogScreen

            self.app.push_screen(LogScreen(row.id, self.app.runs_root / row.id / "log.txt"))
