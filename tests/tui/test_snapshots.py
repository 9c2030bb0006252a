"""Snapshots of every screen at 80x24 and 160x48 over the deterministic workspace.

Update after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`
and look at the report before committing the SVGs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.tui.app import LangpruneApp
from tests.tui.conftest import open_card, screen_text, wait_for

SIZES = [(80, 24), (160, 48)]


def _ready(mode: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        screen = app.screen
        if mode in ("runs", "help", "log"):
            await wait_for(pilot, lambda: len(screen.rows) == 25)
            await wait_for(pilot, lambda: screen.query_one("#log-tail").line_count > 0)
        elif mode in ("results", "card"):
            await wait_for(pilot, lambda: screen.query_one("#results-table").row_count == 25)
            if mode == "card":  # the first done pruned run (below the running and queued ones)
                table = screen.query_one("#results-table")
                state, method = screen.columns.index("state"), screen.columns.index("method")
                table.cursor_row = next(
                    i
                    for i, r in enumerate(table.rows)
                    if r[state] == "done" and r[method] != "dense"
                )
                await pilot.press("enter")
                await wait_for(pilot, lambda: getattr(app.screen, "loaded", False))
        elif mode in ("compare", "compare-table"):
            await wait_for(pilot, lambda: screen.table is not None and True)
            if screen.facets_shown():
                await wait_for(pilot, lambda: len(screen.query(".facet")) == 4)
            if mode == "compare-table":  # f: the single table (below 120 columns it always is)
                await pilot.press("f")
                await wait_for(pilot, lambda: not screen.query_one("#compare-facets").display)
            await pilot.pause(0.5)
        elif mode == "compose":
            await wait_for(
                pilot,
                lambda: (
                    "runs" in str(screen.query_one("#preview").render())
                    or "problem" in str(screen.query_one("#preview").render())
                ),
            )
            await wait_for(pilot, lambda: screen.query_one("#models").option_count > 0)
            for box in screen.query("Input"):
                box.cursor_blink = False  # a blinking cursor would make the picture random
        if mode == "help":
            await pilot.press("question_mark")
        if mode == "log":  # the full log of the top run, searched for "line 1"
            await pilot.press("l")
            await wait_for(pilot, lambda: len(app.screen.view.lines) >= 15)
            await pilot.press("slash", *"line 1", "enter")
        await pilot.pause(0.3)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    "mode", ["compose", "runs", "results", "card", "compare", "compare-table", "help", "log"]
)
def test_screen_snapshot(
    mode: str, size: tuple[int, int], fake_ws: Path, snap_compare, monkeypatch
) -> None:
    from langprune.tui import form

    # the default corpus depends on whether this machine has the handbook: fix it for the picture
    monkeypatch.setattr(form, "default_corpus", lambda: "handbook")
    start = {"help": "runs", "log": "runs", "card": "results", "compare-table": "compare"}.get(
        mode, mode
    )
    app = LangpruneApp(fake_ws, start=start)
    assert snap_compare(app, terminal_size=size, run_before=_ready(mode))


def test_owl_card_snapshot(fake_ws: Path, snap_compare) -> None:
    """The card of an OWL run at 80x24: its per-layer allocation shows without scrolling."""
    from tests.tui import fakews

    run_id = fakews.add_owl_run(fake_ws)

    async def run_before(pilot) -> None:
        await open_card(pilot, run_id, rows=26)
        await pilot.pause(0.3)

    app = LangpruneApp(fake_ws, start="results")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_analysis_snapshot(size: tuple[int, int], workspace: Path, snap_compare) -> None:
    """The analysis screen (5): the mask-overlap matrix with its noise floor and the per-layer
    profile, over the analysis tests' deterministic grid."""
    from tests.store.test_analysis_store import _write_grid

    _write_grid(workspace)

    async def run_before(pilot) -> None:
        await pilot.press("5")
        await wait_for(pilot, lambda: "noise floor" in screen_text(pilot.app))
        await pilot.pause(0.5)

    app = LangpruneApp(workspace, start="runs")
    assert snap_compare(app, terminal_size=size, run_before=run_before)
