"""`?`: the keys of every screen on one page."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = {
    "everywhere": [
        ("1 2 3 4", "compose · runs · results · compare"),
        ("?", "this help (Esc closes)"),
        ("q / ctrl+q", "quit (runs keep going; reopen to watch them again)"),
        ("tab / shift+tab", "move between fields"),
    ],
    "compose": [
        ("ctrl+s", "save as a preset in <workspace>/presets/NAME.toml"),
        ("ctrl+l", "launch the grid (same launcher as `langprune run`)"),
        ("space", "tick a checkbox or list entry"),
        ("enter", "in 'add model': add the model id"),
        ("esc", "leave a text field (so 1-4 switch screens)"),
    ],
    "runs": [
        ("space / a", "mark the run under the cursor / every run shown (for c and r)"),
        ("c", "cancel the marked runs, else the selected one (asks when work stops)"),
        ("r", "retry the marked runs, else the selected one (asks for done runs)"),
        ("l / enter", "open the full log"),
        ("e", "export a done run's pruned model to <workspace>/exports/model-<id>"),
        ("z", "log pane: bigger, full screen, back"),
        ("/", "filter, as the CLI: method=wanda sparsity=0.5 state=failed calib=sw"),
        ("esc", "drop the marks, then the filter"),
    ],
    "results": [
        ("/", "search (any text in a row)"),
        ("f", "filter expression, as the CLI"),
        ("s / S", "sort by the next column / reverse the order"),
        ("pgup pgdn home end", "move through the rows"),
    ],
    "compare": [
        ("m", "metric chooser (and model, method, sparsity, task filters)"),
        ("d", "delta vs dense: off → absolute → relative"),
        ("x", "diff-only: hide columns where every row is the same"),
        ("t", "columns: evaluation language ↔ task × language"),
        ("e", "export the table (CSV, Markdown, LaTeX)"),
        ("p / v", "plot panel on/off / across sparsity ↔ per-language bars"),
    ],
}


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, current: str = "") -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        order = [
            "everywhere",
            self.current,
            *[k for k in HELP if k not in ("everywhere", self.current)],
        ]
        lines = []
        for section in order:
            if section not in HELP:
                continue
            lines.append(f"[b]{section}[/b]")
            lines.extend(f"  [b $accent]{k:<18}[/] {text}" for k, text in HELP[section])
            lines.append("")
        with VerticalScroll(id="help-box"):
            yield Static("\n".join(lines).rstrip(), id="help-text")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
