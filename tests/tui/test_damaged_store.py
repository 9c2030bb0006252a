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
