"""A log viewer widget: appends lines, follows the end, wraps, and highlights a search.

Renders only the visible rows (Textual's line API), so a 4 MB log scrolls as fast as a short one.
Rows are the log's lines, or with `wrap` their pieces of the widget's width; a search keeps the
indices of the matching lines (case-insensitive) and `jump` brings one to the top of the view.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

MATCH = Style(bgcolor="yellow", color="black")
CURRENT = Style(bgcolor="dark_orange", color="black", bold=True)
SEPARATOR = Style(color="cyan", bold=True)


def _pieces(line: str, width: int) -> list[tuple[int, int]]:
    """(start, end) character spans of `line` that fit `width` cells each."""
    if width <= 0 or cell_len(line) <= width:
        return [(0, len(line))]
    spans, start, used = [], 0, 0
    for i, ch in enumerate(line):
        w = cell_len(ch)
        if used + w > width:
            spans.append((start, i))
            start, used = i, 0
        used += w
    spans.append((start, len(line)))
    return spans


class LogView(ScrollView, can_focus=True):
    """Lines of a log; `follow` keeps the end in view as lines arrive."""

    DEFAULT_CSS = """
    LogView { background: $surface; height: 1fr; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = set()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[str] = []
        self.partial = ""  # the line being drawn (a progress bar's last frame), shown last
        self.wrap = False
        self.follow = True
        self.pattern = ""
        self.matches: list[int] = []  # line indices
        self.current = -1  # index into matches
        self._rows: list[tuple[int, int, int]] = []  # (line, start, end) when wrapping
        self._width = 0

    # ---- content ----
    def append(self, lines: list[str], partial: str = "") -> None:
        first = len(self.lines)
        self.lines.extend(lines)
        self.partial = partial
        if self.pattern:
            needle = self.pattern.lower()
            self.matches += [first + i for i, t in enumerate(lines) if needle in t.lower()]
        self._layout()
        if self.follow:
            self.to_end()

    def to_end(self) -> None:
        """Scroll to the last row once the new size is laid out."""
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    @property
    def shown(self) -> list[str]:
        return self.lines + ([self.partial] if self.partial else [])

    def set_wrap(self, wrap: bool) -> None:
        top_line = self._line_at(self.scroll_offset.y)
        self.wrap = wrap
        self._layout()
        if self.follow:
            self.to_end()
        else:
            self.scroll_to(y=self._row_of(top_line), animate=False, immediate=True)

    def search(self, query: str) -> int:
        """Find `query` (case-insensitive); jump to the first match from the top of the view.
        Returns the number of matching lines."""
        self.pattern = query
        needle = query.lower()
        self.matches = [i for i, t in enumerate(self.lines) if needle and needle in t.lower()]
        self.current = -1
        if self.matches:
            top = self._line_at(self.scroll_offset.y)
            after = [k for k, i in enumerate(self.matches) if i >= top]
            self.jump(after[0] if after else 0)
        self.refresh()
        return len(self.matches)

    def next_match(self, step: int) -> None:
        if self.matches:
            self.jump((self.current + step) % len(self.matches))

    def jump(self, k: int) -> None:
        """Show match `k` near the top of the view (following stops)."""
        self.current = k
        self.follow = False
        row = self._row_of(self.matches[k])
        self.scroll_to(y=max(0, row - 2), animate=False, immediate=True)
        self.refresh()

    # ---- layout ----
    def _layout(self) -> None:
        width = max(1, self.scrollable_content_region.width or self.size.width)
        self._width = width
        lines = self.shown
        if self.wrap:
            self._rows = [
                (i, a, b) for i, line in enumerate(lines) for a, b in _pieces(line, width)
            ]
            self.virtual_size = Size(width, len(self._rows))
        else:
            self._rows = []
            longest = max((cell_len(t) for t in lines), default=0)
            self.virtual_size = Size(longest, len(lines))
        self.refresh()

    def on_resize(self) -> None:
        if self.wrap and self.scrollable_content_region.width != self._width:
            self._layout()

    def _row_of(self, line: int) -> int:
        if not self.wrap:
            return line
        for r, (i, _, _) in enumerate(self._rows):
            if i >= line:
                return r
        return max(0, len(self._rows) - 1)

    def _line_at(self, row: int) -> int:
        if not self.wrap:
            return row
        return self._rows[row][0] if 0 <= row < len(self._rows) else len(self.lines)

    # ---- rendering ----
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width or self.size.width
        row = scroll_y + y
        lines = self.shown
        if self.wrap:
            if row >= len(self._rows):
                return Strip.blank(width, self.rich_style)
            index, start, end = self._rows[row]
        else:
            if row >= len(lines):
                return Strip.blank(width, self.rich_style)
            index, start, end = row, 0, len(lines[row])
        line = lines[index]
        text = Text(line[start:end], style=self.rich_style, no_wrap=True, end="")
        if line.startswith("===="):  # where an attempt starts or ends (engine/run/worker.py)
            text.stylize(SEPARATOR)
        if self.pattern and index < len(self.lines):
            needle, low = self.pattern.lower(), line.lower()
            current = self.current >= 0 and self.matches[self.current] == index
            pos = low.find(needle)
            while pos >= 0:
                a, b = max(pos, start), min(pos + len(needle), end)
                if a < b:
                    text.stylize(CURRENT if current else MATCH, a - start, b - start)
                pos = low.find(needle, pos + 1)
        segments = list(text.render(self.app.console))
        strip = Strip([Segment(s.text, s.style) for s in segments if s.text != "\n"])
        if self.wrap:
            return strip.extend_cell_length(width, self.rich_style).crop(0, width)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)
