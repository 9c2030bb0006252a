"""The full log of one run: followed live, searched, wrapped.

A thread worker reads the bytes added to log.txt about once a second and posts `LogGrew` with the
new whole lines (progress bars at their last frame, store/rundir.py `collapse_frames`) and the
line still being drawn. Keys: `/` search (Enter finds, `n`/`N` next/previous match), `w` wrap,
`f` follow the end on/off, `g`/`G` top/end. Lines starting with `====` mark where each attempt of
the run starts and ends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from langprune.store.rundir import collapse_frames
from langprune.tui.messages import LogGrew
from langprune.tui.screens.base import LangpruneScreen
from langprune.tui.widgets.logview import LogView

MAX_START_BYTES = 4 * 1024 * 1024  # a huge log opens at its last 4 MB


class LogScreen(LangpruneScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("l", "close", "Back", show=False),
        Binding("slash", "search", "Search"),
        Binding("n", "next(1)", "Next"),
        Binding("N", "next(-1)", "Prev"),
        Binding("w", "wrap", "Wrap"),
        Binding("f", "follow", "Follow"),
        Binding("g,home", "top", "Top", show=False),
        Binding("G,end", "end", "End"),
    ]

    def __init__(self, run_id: str, path: Path) -> None:
        super().__init__()
        self.run_id = run_id
        self.path = path

    def compose(self) -> ComposeResult:
        yield Static(f"log · {self.run_id}", id="log-bar", classes="bar")
        yield LogView(id="full-log")
        yield Input(placeholder="search (Enter finds; n / N next / previous)", id="log-search")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#log-search").display = False
        self.query_one(LogView).focus()
        self._bar()
        self.follow()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def _bar(self) -> None:
        v = self.view
        text = Text(f"log · {self.run_id} · {len(v.lines)} lines")
        text.append(" · follow" if v.follow else " · paused", style="bold" if v.follow else "dim")
        if v.wrap:
            text.append(" · wrap")
        if v.pattern:
            if v.matches:
                text.append(f" · '{v.pattern}' {v.current + 1}/{len(v.matches)}", style="yellow")
            else:
                text.append(f" · no match for '{v.pattern}'", style="red")
        self.query_one("#log-bar", Static).update(text)

    @work(thread=True, exclusive=True, group="log-follow", name="log follow")
    def follow(self) -> None:
        worker = get_current_worker()
        offset = 0
        try:
            offset = max(0, self.path.stat().st_size - MAX_START_BYTES)
        except FileNotFoundError:
            self.post_message(LogGrew(self.run_id, ["(no log yet)"]))
        pending = b""
        skip_first = offset > 0  # a log opened in its middle starts at a cut line
        while not worker.is_cancelled:
            try:
                with open(self.path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except FileNotFoundError:
                data = b""
            if data:
                offset += len(data)
                data = pending + data
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                text = collapse_frames(data[:cut].decode("utf-8", errors="replace"))
                lines = text.splitlines()
                if skip_first and lines:
                    lines, skip_first = lines[1:], False
                partial = collapse_frames(pending.decode("utf-8", errors="replace"))
                self.post_message(LogGrew(self.run_id, lines, partial))
            for _ in range(10):  # wake often enough to stop promptly when the screen closes
                if worker.is_cancelled:
                    return
                time.sleep(0.1)

    def on_log_grew(self, message: LogGrew) -> None:
        self.view.append(message.lines, message.partial)
        self._bar()

    # ---- keys ----
    def action_back(self) -> None:
        box = self.query_one("#log-search", Input)
        if box.display:
            box.display = False
            self.view.focus()
            return
        self.action_close()

    def action_close(self) -> None:
        self.workers.cancel_group(self, "log-follow")
        self.app.pop_screen()

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = True
        box.value = self.view.pattern
        box.focus()

    @on(Input.Submitted, "#log-search")
    def _searched(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.view.focus()
        self.view.search(event.value.strip())
        self._bar()

    def action_next(self, step: int) -> None:
        self.view.next_match(step)
        self._bar()

    def action_wrap(self) -> None:
        self.view.set_wrap(not self.view.wrap)
        self._bar()

    def action_follow(self) -> None:
        v = self.view
        v.follow = not v.follow
        if v.follow:
            v.to_end()
        self._bar()

    def action_top(self) -> None:
        self.view.follow = False
        self.view.scroll_home(animate=False, immediate=True)
        self._bar()

    def action_end(self) -> None:
        self.view.follow = True
        self.view.to_end()
        self._bar()
