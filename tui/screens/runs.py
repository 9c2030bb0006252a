"""Runs screen: a monitor of every run, live from the run directories, with a log tail.

A thread worker polls the run directories about once a second (sooner when woken by a key), builds
the monitor's view (tui/monitor.py: display order, ETAs from past runs, slots and their memory)
and posts `RunsPolled`; the UI thread only re-binds rows to the virtualized table. The header
shows the grid's progress and ETA, the line below it each slot. Enter opens the run's card
(screens/runcard.py), `l` its full log. Cancel and retry go through the
runner's launcher API in thread workers, on the marked rows (Space) or the one under the cursor;
stopping or throwing away work (cancelling a running run, retrying a done one, any bulk action)
asks first. Leaving or quitting never touches a run.
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
from langprune.tui import monitor as monitor_mod
from langprune.tui.messages import ActionDone, LogTail, RunsPolled, WorkFailed
from langprune.tui.monitor import Monitor, SlotView
from langprune.tui.render import STATE_STYLE, action_question, dash
from langprune.tui.runstate import RunPoller, format_bytes, format_duration, tail_lines
from langprune.tui.screens.base import LangpruneScreen
from langprune.tui.widgets.lazytable import Column, LazyTable
from langprune.vocab import WORKING_STATES

POLL_S = 1.0
LOST_CHECK_S = 5.0
LOG_SIZES = ("", "-log-big", "-log-full")  # z cycles: a 7-line tail, half the screen, all of it
MARK = "●"


def progress_bar(fraction: float, width: int = 8) -> Text:
    filled = round(fraction * width)
    bar = Text("█" * filled, style="cyan") + Text("░" * (width - filled), style="grey42")
    return bar + Text(f" {int(fraction * 100):3d}%")


STAGE_WIDTH = 19  # 'eval_ppl de 3/6', 'eval_tasks sw 12/40', '#12 in queue' whole
# The columns every width shows, in display order (the table pads each cell with one space and
# keeps two for its scrollbar: these are 80 cells with the run id whole).
BASE_COLUMNS = (
    Column("mark", " ", 1),
    Column("state", "state", 9),
    Column("stage", "stage", STAGE_WIDTH),
    Column("progress", "prog", 4),
    Column("eta", "ETA", 5, "right"),
    Column("method", "method", 9),
    Column("sparsity", "spars", 5),
    Column("calib", "calib", 5),
    Column("id", "id", 12),
)
# What a wider terminal adds, most useful first, as long as each fits whole.
EXTRA_COLUMNS = (
    Column("seed", "seed", 4, "right"),
    Column("progress", "progress", 13),  # the bar instead of the percentage
    Column("tps", "tok/s", 6, "right"),
    Column("mem", "mem", 9, "right"),
    Column("model", "model", 14),
    Column("device", "device", 7),
    Column("time", "took", 6, "right"),
)
ORDER = ("mark", "state", "stage", "progress", "eta", "method", "sparsity", "calib", "seed", "id",
         "tps", "mem", "model", "device", "time", "error")  # fmt: skip
MIN_ERROR = 10


def _used(cols: dict[str, Column]) -> int:
    return sum(c.width + 1 for c in cols.values()) + 2


def columns_for(width: int) -> list[Column]:
    """The columns that fit `width` cells: at 80 the stage (with its language and step) and the
    run id show whole; wider terminals add the seed, a progress bar, tok/s, memory, model,
    device and duration while they fit, and the error fills what is left (at least 10 cells)."""
    cols = {c.key: c for c in BASE_COLUMNS}
    for extra in EXTRA_COLUMNS:
        trial = {**cols, extra.key: extra}
        if _used(trial) > width:
            break  # in order of use: a column never shows while a more useful one is missing
        cols = trial
    room = width - _used(cols) - 1
    if room >= MIN_ERROR:
        cols["error"] = Column("error", "error", room)
    return [cols[k] for k in ORDER if k in cols]


def short_duration(seconds: float) -> str:
    """A duration in at most 5 cells: '42s', '3m05s', '12m', '1h02m'."""
    return f"{round(seconds) // 60}m" if 600 <= seconds < 3600 else format_duration(seconds)


def stage_cell(row: RunRecord, queue_pos: int | None) -> str:
    """Running: 'eval_ppl de 3/7'; queued: its place in the queue; failed: where it stopped."""
    if row.state in WORKING_STATES:  # stalled: "stalled: no heartbeat for 75 s (in prune)"
        return row.stage_text or dash(row.stage)
    if row.state == "queued":
        return f"#{queue_pos} in queue" if queue_pos else "queued"
    if row.state in ("failed", "cancelled") and row.event and row.event.get("stage"):
        return f"in {row.event['stage']}"
    return ""


def cells(
    row: RunRecord,
    columns: list[Column],
    *,
    eta_s: float | None = None,
    mem: int | None = None,
    marked: bool = False,
    queue_pos: int | None = None,
) -> tuple[Any, ...]:
    """One table row for `columns` (the ETA only for active rows; the duration for done ones)."""
    wide_bar = any(c.key == "progress" and c.width > 4 for c in columns)
    values: dict[str, Any] = {
        "mark": Text(MARK, style="bold yellow") if marked else "",
        "state": Text(row.state, style=STATE_STYLE.get(row.state, "")),
        "stage": stage_cell(row, queue_pos),
        "progress": progress_bar(row.progress) if wide_bar else f"{int(row.progress * 100)}%",
        "eta": (short_duration(eta_s) if eta_s is not None else "-") if row.active else "",
        "method": dash(row.method),
        "sparsity": dash(row.sparsity),
        "calib": dash(row.calibration_language),
        "seed": dash(row.seed),
        "id": row.id,
        "tps": f"{row.tokens_per_s:.0f}" if row.tokens_per_s is not None else "",
        "mem": format_bytes(mem) if mem else "",
        "model": row.model,
        "device": dash(row.device),
        "time": format_duration(row.seconds_total) if row.state == "done" else "",
        "error": Text(row.error or "", style="red"),
    }
    return tuple(values[c.key] for c in columns)


def summary_text(monitor: Monitor, total: int, width: int) -> Text:
    """Grid progress, counts by state and the ETA from past runs' durations."""
    done = monitor.counts.get("done", 0)
    text = Text("grid ")
    if total and width >= 100:
        text += progress_bar(done / total, 10) + " "
    text.append(f"{done}/{total} done")
    for state in ("running", "stalled", "queued", "failed", "cancelled", "damaged"):
        if monitor.counts.get(state):
            text.append(" · ")
            text.append(f"{monitor.counts[state]} {state}", style=STATE_STYLE.get(state, ""))
    if monitor.counts.get("running") or monitor.counts.get("queued"):
        text.append(" · ETA ")
        if monitor.grid_eta_s is not None:
            text.append(format_duration(monitor.grid_eta_s), style="bold")
            if width >= 100:
                text.append(f" (from {monitor.history} past runs)", style="dim")
        else:
            text.append("- (no finished run yet)", style="dim")
    return text


def slot_line(slot: SlotView, width: int) -> Text:
    """What one slot runs and its memory: 'cpu0 ▸ 3fa9e1c2d4b5 prune 3/4 · 1.2 GiB'."""
    text = Text(slot.name, style="bold")
    text.append(" ▸ ")
    if slot.run is None:
        text.append("idle", style="dim")
    else:
        text.append(slot.run.id)
        text.append(f" {slot.run.stage_text}" if slot.run.stage_text else "")
        if width >= 120:
            text.append(f" ({slot.run.label})", style="dim")
        if slot.mem_bytes:
            label = "RSS " if slot.gpu is None else ""
            text.append(f" · {label}{format_bytes(slot.mem_bytes)}")
    if slot.gpu_stats is not None:
        g = slot.gpu_stats
        text.append(
            f" · GPU {g.index} {format_bytes(g.mem_used)}/{format_bytes(g.mem_total)} {g.util:.0f}%"
        )
    return text


class RunsScreen(LangpruneScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel"),
        Binding("r", "retry", "Retry"),
        Binding("space", "mark", "Mark"),
        Binding("a", "mark_all", "Mark all", show=False),
        Binding(
            "enter",
            "card",
            "Run card",
            tooltip="open the run's card: metrics, OWL allocation, spec, timings, log tail",
        ),
        Binding("l", "open_log", "Log"),
        Binding("e", "export_model", "Export model", show=False),
        Binding("z", "log_size", "Log size"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[RunRecord] = []
        self.monitor: Monitor | None = None
        self.marked: set[str] = set()
        self.filter_expr = ""
        self.selected_id: str | None = None
        self.log_size = 0  # index into LOG_SIZES
        self._wake = threading.Event()
        self._paused = False
        self._filter_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("runs · reading run directories…", id="runs-summary", classes="bar")
        yield Static("", id="runs-slots")
        yield Input(
            placeholder="filter: method=wanda sparsity=0.5 state=failed calib=sw (Enter applies)",
            id="runs-filter",
        )
        with Vertical(id="runs-main"):
            yield LazyTable(columns_for(self.app.size.width), id="runs-table")
            yield Static("log", id="log-title", classes="bar")
            yield Log(id="log-tail", highlight=False, max_lines=400)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs-filter").display = False
        self.query_one("#runs-slots").display = False
        self.query_one(LazyTable).focus()
        # start reading after the first frame is on screen: the worker would compete for the GIL
        self.call_after_refresh(self.poll_runs)

    def on_resize(self) -> None:
        table = self.query_one(LazyTable)
        columns = columns_for(self.size.width)
        if [c.key for c in columns] != [c.key for c in table.columns] or columns != table.columns:
            table.set_columns(columns)
            self._show()

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
        gpus = monitor_mod.GpuReader()
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
            rows = poller.poll()
            expr, error = self.filter_expr, None
            if expr:
                from langprune.tui import runfilter

                try:
                    rows = runfilter.apply(rows, runfilter.parse(expr))
                except ValueError as exc:  # the store's FilterError, in the CLI's words
                    error = str(exc)
            mon = monitor_mod.build(rows, self.app.workspace, gpus.read())
            self.post_message(RunsPolled(mon.rows, error, mon))
            run_id = self.selected_id
            if run_id:
                lines = tail_lines(self.app.runs_root / run_id / "log.txt", 200)
                if (run_id, lines) != last_log:
                    last_log = (run_id, lines)
                    self.post_message(LogTail(run_id, lines))
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _refresh_lost(self) -> None:
        """Mark runs whose worker vanished and start a scheduler for queued runs that have none,
        as `langprune status` does (when the runner is there)."""
        try:
            from langprune.engine.run import launcher, state
        except ImportError:
            return
        try:
            state.refresh_lost(self.app.workspace)
            pid = launcher.revive_scheduler(self.app.workspace)
        except Exception as exc:  # one bad run dir must not stop the live view
            self.post_message(WorkFailed("checking for lost workers", str(exc)))
            return
        if pid is not None:
            self.post_message(
                ActionDone(f"queued runs had no scheduler; started one (pid {pid})", "warning")
            )

    # ---- messages from the worker ----
    def on_runs_polled(self, message: RunsPolled) -> None:
        table = self.query_one(LazyTable)
        before = {r.id: r.state for r in self.rows}
        index = table.cursor_row
        self.rows = message.rows
        self.monitor = message.monitor
        self._filter_error = message.filter_error
        self.marked &= {r.id for r in self.rows}
        self._show()
        keep = self.selected_id
        if keep:
            for i, r in enumerate(self.rows):
                if r.id == keep:
                    # A run that changed state moves to its group (a finished run goes below):
                    # the cursor stays where it was instead of following it out of view.
                    moved = before.get(keep) not in (None, r.state)
                    target = min(index, len(self.rows) - 1) if moved else i
                    if table.cursor_row != target:
                        table.cursor_row = target
                    if moved:
                        self._select(target)
                    break
        if self.selected_id is None and self.rows:
            self._select(0)

    def _show(self) -> None:
        """Re-bind the rows, the header and the slot lines (from the last poll)."""
        table = self.query_one(LazyTable)
        mon = self.monitor
        eta = mon.eta_s if mon else {}
        mem = {s.run.id: s.mem_bytes for s in (mon.slots if mon else []) if s.run}
        queued = [r.id for r in self.rows if r.state == "queued"]
        pos = {rid: i + 1 for i, rid in enumerate(queued)}
        table.set_rows(
            [
                cells(
                    r,
                    table.columns,
                    eta_s=eta.get(r.id),
                    mem=mem.get(r.id),
                    marked=r.id in self.marked,
                    queue_pos=pos.get(r.id),
                )
                for r in self.rows
            ]
        )
        width = self.size.width or self.app.size.width
        summary = summary_text(mon, len(self.rows), width) if mon else Text("runs")
        if self.marked:
            summary.append(f" · {len(self.marked)} marked", style="bold yellow")
        if self.filter_expr:
            summary.append(f" · filter: {self.filter_expr}")
        if self._filter_error:
            summary.append(f"  {self._filter_error}", style="red")
        elif not self.rows and not self.filter_expr:
            summary.append(" · nothing yet: press 1 to compose a grid, or `langprune run smoke`")
        self.query_one("#runs-summary", Static).update(summary)
        slots = self.query_one("#runs-slots", Static)
        lines = [slot_line(s, width) for s in (mon.slots if mon else [])]
        slots.display = bool(lines)
        if lines:
            slots.update(Text("\n").join(lines))

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
        event.stop()
        self.action_card()

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
            if row.fix:  # a damaged run: what to do about it
                title.append(f" · fix: {row.fix}", style="bold")
            self.query_one("#log-title", Static).update(title)
            self.query_one("#log-tail", Log).clear()
            self._wake.set()

    def current(self) -> RunRecord | None:
        for r in self.rows:
            if r.id == self.selected_id:
                return r
        return None

    def targets(self) -> list[RunRecord]:
        """The marked rows (in display order), else the row under the cursor."""
        if self.marked:
            return [r for r in self.rows if r.id in self.marked]
        row = self.current()
        return [row] if row else []

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
        if self.marked and not box.display and not self.filter_expr:
            self.marked.clear()  # Esc first drops the marks, then the filter
            self._show()
            return
        box.value = ""
        box.display = False
        self.set_filter("")
        self.query_one(LazyTable).focus()

    def action_mark(self) -> None:
        """Space: mark or unmark the row under the cursor (for a bulk cancel or retry)."""
        row = self.current()
        if row is None:
            return
        self.marked ^= {row.id}
        self._show()
        self.query_one(LazyTable).action_cursor(1)

    def action_mark_all(self) -> None:
        """a: mark every row shown (the filter scopes it), or unmark all when all are marked."""
        shown = {r.id for r in self.rows}
        self.marked = set() if shown and shown <= self.marked else shown
        self._show()

    def action_log_size(self) -> None:
        """z: the log pane grows to half the screen, then to all of it, then back."""
        self.remove_class(*[c for c in LOG_SIZES if c])
        self.log_size = (self.log_size + 1) % len(LOG_SIZES)
        if LOG_SIZES[self.log_size]:
            self.add_class(LOG_SIZES[self.log_size])

    def action_cancel(self) -> None:
        rows = self.targets()
        active = [r for r in rows if r.active]
        if not active:
            what = ", ".join(sorted({r.state for r in rows})) or "no run"
            self.notify(f"nothing to cancel: {what}", severity="warning")
            return
        if any(r.state == "running" for r in active) or len(rows) > 1:
            question = action_question("Cancel", active, "Running work is lost.")
            self._confirm(question, "cancel", [r.id for r in active])
        else:
            self._runner_call("cancel", [r.id for r in active])

    def action_retry(self) -> None:
        rows = self.targets()
        ready = [r for r in rows if not r.active]
        if not ready:
            self.notify(
                "nothing to retry: the runs are still queued or running", severity="warning"
            )
            return
        if any(r.state == "done" for r in ready) or len(rows) > 1:
            note = "Done runs start from scratch; their results are discarded."
            if not any(r.state == "done" for r in ready):
                note = "They start from scratch."
            skipped = len(rows) - len(ready)
            if skipped:
                note += f" ({skipped} queued or running left alone.)"
            self._confirm(action_question("Retry", ready, note), "retry", [r.id for r in ready])
        else:
            self._runner_call("retry", [r.id for r in ready])

    def _confirm(self, question: str, what: str, run_ids: list[str]) -> None:
        from langprune.tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.marked.clear()
                self._runner_call(what, run_ids)
            else:
                self.notify(f"{what}: not done", timeout=3)

        self.app.push_screen(ConfirmScreen(question + " y/n"), answered)

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

    def action_export_model(self) -> None:
        """Write the run's pruned model to <workspace>/exports/model-<id> (`langprune export`, in
        its own process: the TUI never imports torch)."""
        row = self.current()
        if row is None or row.state != "done":
            self.notify("export: pick a done run", severity="warning")
            return
        self.notify(f"exporting {row.id}: loading and pruning in the background…", timeout=4)
        self._export(row.id, self.app.workspace / "exports" / f"model-{row.id}")

    @work(thread=True, group="runs-export", name="export")
    def _export(self, run_id: str, folder: Any) -> None:
        import subprocess
        import sys

        ws = str(self.app.workspace)
        cmd = [sys.executable, "-m", "langprune", "--workspace", ws, "export", run_id, str(folder)]
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode == 0:
            self.post_message(ActionDone(done.stdout.strip().splitlines()[-1]))
        else:
            errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
            why = errors[0] if errors else (done.stderr.strip().splitlines() or ["failed"])[-1]
            self.post_message(ActionDone(f"export {run_id}: {why}", "error"))

    def action_card(self) -> None:
        """Enter: the run's card (the same as on the results screen; `l` there opens the log)."""
        row = self.current()
        if row:
            from langprune.tui.screens.runcard import RunCardScreen

            self.app.push_screen(RunCardScreen(row.id))

    def action_open_log(self) -> None:
        row = self.current()
        if row:
            from langprune.tui.screens.log import LogScreen

            self.app.push_screen(LogScreen(row.id, self.app.runs_root / row.id / "log.txt"))
