"""A run's card: Enter on a run in the runs or the results screen. Per-language metrics with their
standard error and n, an OWL run's per-layer allocation (its m and lambda, each layer's sparsity
and outlier ratio, the sparsity achieved), spec, stage timings, library versions and the log's
tail, read from the run's directory (the source of truth) in a thread worker and drawn by
`render.run_card`."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from langprune.tui.messages import CardLoaded
from langprune.tui.screens.base import LangpruneScreen

LOG_TAIL_LINES = 15


class RunCardScreen(LangpruneScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "close", "Back"),
        Binding("l", "log", "Full log"),
        Binding("g", "reload", "Reload"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static(f"run {self.run_id}", classes="bar", id="card-title")
        with VerticalScroll(id="card-scroll"):
            yield Static("loading…", id="card")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#card-scroll").focus()
        self.load()

    @work(thread=True, exclusive=True, group="run-card", name="run card")
    def load(self) -> None:
        from langprune.store import records
        from langprune.store.rundir import RunDir
        from langprune.tui.runstate import tail_lines

        rd = RunDir(self.app.runs_root / self.run_id)
        if not rd.exists():
            self.post_message(CardLoaded(self.run_id, None, [], [], "no such run directory"))
            return
        self.post_message(
            CardLoaded(
                self.run_id,
                records.read(rd),
                rd.read_metrics(),
                tail_lines(rd.log, LOG_TAIL_LINES),
            )
        )

    def on_card_loaded(self, message: CardLoaded) -> None:
        from langprune.tui.render import run_card

        card = self.query_one("#card", Static)
        if message.record is None:
            card.update(f"run {message.run_id}: {message.error}")
            return
        path = f"runs/{message.run_id}/log.txt in the workspace"
        card.update(run_card(message.record, message.metrics, message.log_tail, path))
        self.query_one("#card-title", Static).update(
            f"run {message.run_id} · {message.record.state} · esc back · l full log"
        )
        self.loaded = True

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.load()

    def action_log(self) -> None:
        from langprune.tui.screens.log import LogScreen

        self.app.push_screen(LogScreen(self.run_id, self.app.runs_root / self.run_id / "log.txt"))
