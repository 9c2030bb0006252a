"""Analysis screen: mask overlap (with the seed noise floor), LAPE neurons kept, layer drift.

The same filters as compare (model, method, sparsity; any = one matrix per group), plus the view.
Numbers come from `store.analysis_queries.analysis`, queried in a thread worker that posts
`AnalysisLoaded`; the matrices are drawn by `tui.analysis_view` (heat-shaded cells, per-layer
profile plots).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, ScrollableContainer
from textual.message import Message
from textual.widgets import Footer, Select, Static

from langprune.tui.screens.base import LangpruneScreen

ANY = "(any)"
FILTERS = ("model", "method", "sparsity")
VIEWS = ("masks", "neurons", "drift", "owl")


@dataclass
class AnalysisLoaded(Message):
    view: str
    matrices: list[Any]  # store.analysis_queries.Matrix
    choices: dict[str, list[str]]
    error: str | None = None


class AnalysisScreen(LangpruneScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "next_view", "View"),
        Binding("g", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = "masks"
        self.filters: dict[str, str | None] = dict.fromkeys(FILTERS)
        self._syncing = False

    def compose(self) -> ComposeResult:
        yield Static("analysis · loading…", id="analysis-summary", classes="bar")
        with Horizontal(id="analysis-filters"):
            yield Select(
                [(v, v) for v in VIEWS], value=self.view, allow_blank=False, id="sel-view",
                compact=True,
            )  # fmt: skip
            for f in FILTERS:
                yield Select(
                    [(f"any {f}", ANY)], value=ANY, allow_blank=False, id=f"sel-{f}", compact=True
                )
        with ScrollableContainer(id="analysis-scroll", can_focus=True):
            yield Static("", id="analysis-body")
        yield Footer()

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self.action_reload)

    def action_reload(self) -> None:
        self._load(self.view, dict(self.filters))

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self._syncing = True
        self.query_one("#sel-view", Select).value = self.view
        self._syncing = False
        self.action_reload()

    @work(thread=True, exclusive=True, group="analysis-query", name="analysis")
    def _load(self, view: str, filters: dict[str, str | None]) -> None:
        from langprune.store.analysis_queries import analysis
        from langprune.store.queries import filter_choices

        workspace = self.app.workspace
        try:
            matrices = analysis(
                workspace,
                view,
                model=filters.get("model"),
                method=filters.get("method"),
                sparsity=filters.get("sparsity"),
            )
            choices = filter_choices(workspace, refresh=False)
        except ValueError as exc:  # StoreError: the CLI's words
            self.post_message(AnalysisLoaded(view, [], {}, str(exc)))
            return
        self.post_message(AnalysisLoaded(view, matrices, choices))

    def on_analysis_loaded(self, message: AnalysisLoaded) -> None:
        from langprune.tui.analysis_view import render_view

        summary = self.query_one("#analysis-summary", Static)
        body = self.query_one("#analysis-body", Static)
        if message.error:
            summary.update(Text("analysis · ") + Text(str(message.error), style="red"))
            body.update("")
            return
        self._sync_selects(message.choices)
        groups = {tuple(m.group.values()) for m in message.matrices}
        summary.update(
            Text(
                f"analysis · {message.view} · {len(groups)} model/method/sparsity group(s)"
                if message.matrices
                else f"analysis · {message.view} · no rows yet: enable [analysis] in the preset"
            )
        )
        body.update(render_view(message.matrices))

    def _sync_selects(self, choices: dict[str, list[str]]) -> None:
        self._syncing = True
        try:
            for f in FILTERS:
                sel = self.query_one(f"#sel-{f}", Select)
                values = [v for v in choices.get(f, []) if not (f == "method" and v == "dense")]
                sel.set_options([(f"any {f}", ANY), *((Text(v), v) for v in values)])
                sel.value = self.filters[f] if self.filters[f] in values else ANY
        finally:
            self._syncing = False

    @on(Select.Changed)
    def _changed(self, event: Select.Changed) -> None:
        if self._syncing or event.select.id is None:
            return
        name = event.select.id.removeprefix("sel-")
        value = None if event.value in (ANY, Select.BLANK) else str(event.value)
        if name == "view":
            self.view = value or "masks"
        elif name in self.filters:
            if self.filters[name] == value:
                return
            self.filters[name] = value
        self.action_reload()
