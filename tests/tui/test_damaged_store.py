"""A damaged results.duckdb is a message where the table would be, never a crash of the TUI."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from langprune.store.ingest import ingest
from langprune.tui.app import LangpruneApp
from langprune.workspace import db_path
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio


def _damage(ws: Path) -> Path:
    ingest(ws)
    db = db_path(ws)
    db.write_bytes(db.read_bytes()[:5000])  # truncated, as by a full disk or a bad copy
    return db


@pytest.mark.parametrize("screen", ["results", "compare"])
async def test_a_damaged_database_is_shown_in_place(fake_ws: Path, screen: str) -> None:
    db = _damage(fake_ws)
    app = LangpruneApp(fake_ws, start=screen)
    async with app.run_test(size=(160, 40)) as pilot:
        summary = app.screen.query_one(f"#{screen}-summary", Static)
        await wait_for(pilot, lambda: "damaged" in str(summary.render()))
        text = str(summary.render())
        assert str(db) in text and "langprune store rebuild" in text
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None


async def test_a_damaged_run_shows_on_the_runs_screen_with_its_fix(fake_ws: Path) -> None:
    from langprune.store.rundir import RunDir, iter_run_dirs

    done = next(rd for rd in iter_run_dirs(fake_ws / "runs") if rd.state() == "done")
    done.status_file.write_text('{"state": "do')  # truncated
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: any(r.state == "damaged" for r in screen.rows))
        (row,) = [r for r in screen.rows if r.state == "damaged"]
        assert row.id == done.id and str(done.status_file) in (row.error or "")
        summary = app.screen.query_one("#runs-summary", Static)
        await wait_for(pilot, lambda: "1 damaged" in str(summary.render()))
        screen._select(screen.rows.index(row))
        title = str(app.screen.query_one("#log-title", Static).render())
        assert f"langprune retry {done.id}" in title
        assert RunDir(done.path).status_file.read_text() == '{"state": "do'


async def test_a_full_disk_is_shown_in_place_on_the_results_screen(
    fake_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from langprune.tui import results_data

    where = str(db_path(fake_ws))

    def full(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), where)

    monkeypatch.setattr(results_data, "load", full)
    app = LangpruneApp(fake_ws, start="results")
    async with app.run_test(size=(160, 40)) as pilot:
        summary = app.screen.query_one("#results-summary", Static)
        await wait_for(pilot, lambda: "disk is full" in str(summary.render()))
        text = str(summary.render())
        assert where in text and "free space" in text
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None
