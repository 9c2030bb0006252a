"""The compare screen's export dialog: a format and a path (overwriting asks through ConfirmScreen)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

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
