"""The log viewer (issue 17, item 3): search with `/`, `n`, `N`; wrap with `w`; follow with `f`;
progress bars at their last frame; attempt separators. Driven through Pilot over the
deterministic workspace (fakews.py writes each run's log)."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.store.rundir import RunDir
from langprune.tui.app import LangpruneApp
from langprune.tui.screens.log import LogScreen
from tests.tui.conftest import screen_text, wait_for
from tests.tui.fakews import experiment

pytestmark = pytest.mark.anyio


async def _open_log(pilot, app) -> LogScreen:
    runs = app.screen
    await wait_for(pilot, lambda: len(runs.rows) == 25)
    await pilot.press("l")
    await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
    screen = app.screen
    assert isinstance(screen, LogScreen)
    await wait_for(pilot, lambda: len(screen.view.lines) >= 15)
    return screen


async def test_search_next_previous_and_progress_bars(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot, app)
        view = screen.view
        text = screen_text(app)
        # the progress bar shows its last frame only; the attempt separator is there
        assert "Loading weights: 100%" in text and " 10%|" not in text
        assert "==== attempt 1 · " in text
        await pilot.press("slash", *"line 1", "enter")
        # matches, recomputed: lines containing "line 1" (case-insensitive)
        expected = [i for i, t in enumerate(view.lines) if "line 1" in t.lower()]
        assert view.matches == expected and len(expected) == 3  # line 1, 10, 11
        assert view.current == 0
        assert "'line 1' 1/3" in screen_text(app)
        await pilot.press("n")
        assert view.current == 1 and "'line 1' 2/3" in screen_text(app)
        await pilot.press("N", "N")
        assert view.current == 2  # wraps around backwards
        # the current match is in view
        top = view.scroll_offset.y
        assert top <= view.matches[view.current] < top + view.size.height
        await pilot.press("slash", *"nothing like this", "enter")
        assert "no match for 'nothing like this'" in screen_text(app)
        await pilot.press("escape")
        assert app.screen is not screen  # back to the runs screen


async def test_wrap_shows_the_end_of_long_lines(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot, app)
        view = screen.view
        tail = "so that wrapping it shows more"
        assert tail not in screen_text(app)
        rows = view.virtual_size.height
        await pilot.press("w")
        await pilot.pause(0.1)
        assert view.wrap and view.virtual_size.height > rows
        assert tail in screen_text(app).replace("\n", "") or tail in screen_text(app)
        assert "wrap" in screen_text(app).splitlines()[0]
        await pilot.press("w")
        await pilot.pause(0.1)
        assert not view.wrap and view.virtual_size.height == rows


async def test_follow_keeps_the_end_in_view_until_turned_off(fake_ws: Path) -> None:
    rid = experiment().runs()[7].id  # the running run: first on the runs screen
    log = RunDir(fake_ws / "runs" / rid).log
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_log(pilot, app)
        view = screen.view
        assert view.follow and "follow" in screen_text(app).splitlines()[0]
        with open(log, "a", encoding="utf-8") as fh:
            fh.writelines(f"appended {k}\n" for k in range(40))
        await wait_for(pilot, lambda: "appended 39" in screen_text(app))
        # a line still being drawn (a progress bar without its newline) shows its last frame
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("eval  20%\reval  60%")
        await wait_for(pilot, lambda: "eval  60%" in screen_text(app))
        assert "eval  20%" not in screen_text(app)
        await pilot.press("f")
        assert not view.follow and "paused" in screen_text(app).splitlines()[0]
        await pilot.press("g")
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("\n" + "".join(f"later {k}\n" for k in range(5)))
        await wait_for(pilot, lambda: any("later 4" in t for t in view.lines))
        await pilot.pause(0.2)
        assert "later 4" not in screen_text(app) and view.scroll_offset.y == 0
        await pilot.press("G")
        await wait_for(pilot, lambda: "later 4" in screen_text(app))
        assert view.follow
