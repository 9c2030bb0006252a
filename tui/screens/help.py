"""`?`: the keys of the current screen, built from its BINDINGS, then the app's global keys.

Each key's line is its binding's tooltip (the long form), else a longer text kept here for screens
whose bindings carry none (EXPLAIN, by action), else the binding's footer description; NOTES adds
what a screen's widgets do with keys that are no binding of the screen (Space in a list, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

# action -> the long form, for bindings without a tooltip (by screen class name, then anywhere)
EXPLAIN: dict[str, dict[str, str]] = {
    "RunsScreen": {
        "cancel": "cancel the marked runs, else the selected one (asks when work stops)",
        "retry": "retry the marked runs, else the selected one (asks for done runs)",
        "mark": "mark the run under the cursor (for c and r)",
        "mark_all": "mark every run shown",
        "open_log": "open the full log",
        "export_model": "export a done run's pruned model to <workspace>/exports/model-<id>",
        "log_size": "log pane: bigger, full screen, back",
        "filter": "filter, as the CLI: method=wanda sparsity=0.5 state=failed calib=sw",
        "clear_filter": "drop the marks, then the filter",
    },
    "ResultsScreen": {
        "search": "search (any text in a row)",
        "filter": "filter expression, as the CLI",
        "sort_by": "sort by a named column",
        "sort(1)": "sort by the next column",
        "sort(0)": "reverse the order",
        "card": "open the run's card",
        "reload": "reload from the store",
        "clear": "clear the search and the filter",
    },
    "ComposeScreen": {
        "save": "save as a preset in <workspace>/presets/NAME.toml",
        "launch": "launch the grid (same launcher as `langprune run`)",
        "edit_toml": "edit the grid as TOML in $EDITOR (validated on return)",
        "leave_field": "leave a text field (so 1-5 switch screens)",
    },
    "": {
        "app.focus_next": "next field",
        "app.focus_previous": "previous field",
        "help": "this help (Esc closes)",
        "quit": "quit (runs keep going; reopen to watch them again)",
        "show('compose')": "compose a grid",
        "show('runs')": "runs",
        "show('results')": "results",
        "show('compare')": "compare",
        "show('analysis')": "analysis",
    },
}

# keys handled by a screen's widgets, not by its bindings
NOTES: dict[str, list[tuple[str, str]]] = {
    "ComposeScreen": [
        ("space", "tick a checkbox or list entry"),
        ("enter", "in 'add model': add the model id"),
    ],
    "ResultsScreen": [("pgup pgdn home end", "move through the rows")],
}

HIDDEN = {"screen.copy_text", "help_quit"}


def _bindings(owner: type) -> list[Binding]:
    """The bindings a class declares, its own after those of its bases (most derived wins)."""
    out: dict[str, Binding] = {}
    for cls in reversed(owner.__mro__):
        for b in Binding.make_bindings(cls.__dict__.get("BINDINGS", [])):
            out[b.key] = b
    return [b for b in out.values() if b.action not in HIDDEN]


def _explain(b: Binding, screen: str) -> str:
    return (
        EXPLAIN.get(screen, {}).get(b.action)
        or EXPLAIN[""].get(b.action)
        or b.tooltip
        or b.description
    )


def key_lines(app: Any, screen: Screen[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section title, [(keys, what they do)]) for `screen`, then the app's global keys."""
    name = type(screen).__name__

    def lines(bindings: Iterable[Binding], owner: str) -> list[tuple[str, str]]:
        merged: dict[str, list[str]] = {}  # one line per action: "n / escape"
        for b in bindings:
            merged.setdefault(_explain(b, owner), []).append(app.get_key_display(b))
        return [(" / ".join(keys), text) for text, keys in merged.items()]

    title = getattr(screen, "HELP_TITLE", "") or name.removesuffix("Screen").lower()
    own = lines(_bindings(type(screen)), name) + NOTES.get(name, [])
    return [(title, own), ("everywhere", lines(_bindings(type(app)), ""))]


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.for_screen = screen

    def compose(self) -> ComposeResult:
        from rich.console import Group
        from rich.table import Table

        parts = []
        for section, rows in key_lines(self.app, self.for_screen):
            table = Table(
                box=None, show_header=False, title=section, title_justify="left",
                title_style="bold", padding=(0, 1), expand=True,
            )  # fmt: skip
            table.add_column("keys", style="bold yellow", no_wrap=True, min_width=10)
            table.add_column("what", ratio=1)
            for keys, text in rows:
                table.add_row(keys, text)
            parts.append(table)
        with VerticalScroll(id="help-box"):
            yield Static(Group(*parts), id="help-text")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
