"""A virtualized, keyboard-driven table: renders only the rows on screen.

Textual's DataTable builds every row up front, which takes seconds at 100,000 rows. Here the widget
holds a sequence of rows (tuples of cell values) and formats just the visible window on each
`render_line`, so loading, sorting and scrolling cost the same at 100 rows or 100,000.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

CellFormatter = Callable[[int, Any, Sequence[Any]], "str | Text"]


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    justify: str = "left"  # left | right


def _fit(text: str | Text, width: int, justify: str) -> Text:
    t = text.copy() if isinstance(text, Text) else Text(str(text))
    t.no_wrap = True
    t.truncate(width, overflow="ellipsis")
    if justify == "right":
        t.pad_left(width - t.cell_len)
    else:
        t.pad_right(width - t.cell_len)
    return t


class LazyTable(ScrollView, can_focus=True):
    """Rows x columns, header pinned, cursor row; row data is any indexable sequence."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "lazy-table--header",
        "lazy-table--cursor",
        "lazy-table--odd",
    }

    DEFAULT_CSS = """
    LazyTable { background: $surface; height: 1fr; }
    LazyTable > .lazy-table--header { background: $primary-darken-2; color: $text; text-style: bold; }
    LazyTable > .lazy-table--cursor { background: $accent-darken-1; color: $text; }
    LazyTable:blur > .lazy-table--cursor { background: $accent-darken-3; }
    LazyTable > .lazy-table--odd { background: $surface-lighten-1; }
    """

    cursor_row: reactive[int] = reactive(0)

    class Highlighted(Message):
        def __init__(self, table: LazyTable, index: int, row: Sequence[Any] | None) -> None:
            super().__init__()
            self.table = table
            self.index = index
            self.row = row

        @property
        def control(self) -> LazyTable:
            return self.table

    class Selected(Highlighted):
        pass

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        formatter: CellFormatter | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self.rows: Sequence[Sequence[Any]] = ()
        self.formatter = formatter
        self.sort_key: str | None = None
        self.sort_reverse = False
        self._update_size()

    # ---- data ----
    def set_rows(self, rows: Sequence[Sequence[Any]], keep_cursor: bool = True) -> None:
        """Replace the rows (cheap: nothing is formatted until it scrolls into view)."""
        self.rows = rows
        if not keep_cursor:
            self.cursor_row = 0
        self.cursor_row = min(self.cursor_row, max(len(rows) - 1, 0))
        self._update_size()
        self.refresh()

    def set_columns(self, columns: Sequence[Column]) -> None:
        self.columns = list(columns)
        self._update_size()
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def current(self) -> Sequence[Any] | None:
        return self.rows[self.cursor_row] if 0 <= self.cursor_row < len(self.rows) else None

    def _update_size(self) -> None:
        width = sum(c.width + 1 for c in self.columns)
        self.virtual_size = Size(width, len(self.rows) + 1)

    # ---- rendering ----
    def _cells(self, values: Sequence[Any], index: int) -> list[Text]:
        out = []
        for i, col in enumerate(self.columns):
            value = values[i] if i < len(values) else ""
            shown = self.formatter(i, value, values) if self.formatter else value
            out.append(_fit("" if shown is None else shown, col.width, col.justify))
        return out

    def _line(self, cells: list[Text], style: Style) -> Strip:
        segments: list[Segment] = []
        for cell in cells:
            for seg in cell.render(self.app.console):
                segments.append(Segment(seg.text, style + seg.style if seg.style else style))
            segments.append(Segment(" ", style))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("lazy-table--header")
            titles = []
            for c in self.columns:
                mark = ""
                if c.key == self.sort_key:
                    mark = " ▼" if self.sort_reverse else " ▲"
                titles.append(_fit(c.title + mark, c.width, c.justify))
            return self._line(titles, base + header).crop_extend(
                scroll_x, scroll_x + width, base + header
            )
        index = scroll_y + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, base)
        style = base
        if index == self.cursor_row:
            style = base + self.get_component_rich_style("lazy-table--cursor")
        elif index % 2:
            style = base + self.get_component_rich_style("lazy-table--odd")
        strip = self._line(self._cells(self.rows[index], index), style)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    # ---- cursor ----
    @property
    def _page(self) -> int:
        return max(self.size.height - 2, 1)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.Highlighted(self, new, self.current()))

    def _scroll_cursor_into_view(self) -> None:
        visible = max(self.size.height - 1, 1)
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        if self.rows:
            self.cursor_row = min(max(self.cursor_row + delta, 0), len(self.rows) - 1)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * self._page)

    def action_jump(self, where: int) -> None:
        if self.rows:
            self.cursor_row = 0 if where == 0 else len(self.rows) - 1

    def action_select(self) -> None:
        self.post_message(self.Selected(self, self.cursor_row, self.current()))

    def on_resize(self) -> None:
        self._update_size()
