"""The full log of one run, followed live (new bytes appended about once a second)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Log, Static
from textual.worker import get_current_worker

from langprune.tui.messages import LogTail
from langprune.tui.screens.base import LangpruneScreen

MAX_START_BYTES = 4 * 1024 * 1024  # a huge log opens at its last 4 MB


class LogScreen(LangpruneScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l", "close", "Back"),
        Binding("G,end", "end", "End"),
    ]

    def __init__(self, run_id: str, path: Path) -> None:
        super().__init__()
        self.run_id = run_id
        self.path = path

    def compose(self) -> ComposeResult:
        yield Static(f"log · {self.run_id} · {self.path}", classes="bar")
        yield Log(id="full-log", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        self.follow()

    @work(thread=True, exclusive=True, group="log-follow", name="log follow")
    def follow(self) -> None:
        worker = get_current_worker()
        offset = 0
        try:
            offset = max(0, self.path.stat().st_size - MAX_START_BYTES)
        except FileNotFoundError:
            self.post_message(LogTail(self.run_id, ["(no log yet)"]))
        pending = b""
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
                text = data[:cut].decode("utf-8", errors="replace").replace("\r", "\n")
                if text:
                    self.post_message(LogTail(self.run_id, text.splitlines()))
            for _ in range(10):  # wake often enough to stop promptly when the screen closes
                if worker.is_cancelled:
                    return
                time.sleep(0.1)

    def on_log_tail(self, message: LogTail) -> None:
        self.query_one(Log).write_lines(message.lines)

    def action_close(self) -> None:
        self.workers.cancel_group(self, "log-follow")
        self.app.pop_screen()

    def action_end(self) -> None:
        self.query_one(Log).scroll_end(animate=False)
