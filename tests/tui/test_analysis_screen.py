"""The analysis screen shows the mask-overlap matrix, its per-layer profile, and other views."""

from __future__ import annotations

from pathlib import Path

import pytest

from langprune.store.analysis_queries import analysis
from langprune.tui.analysis_view import heat_table, profile_plot, shade
from langprune.tui.app import LangpruneApp
from tests.store.test_analysis_store import _write_grid
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.anyio


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_analysis_screen_views_and_filters(workspace: Path) -> None:
    _write_grid(workspace)
    app = LangpruneApp(workspace, start="runs")
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: "noise floor" in screen_text(app))
        text = screen_text(app)
        assert "across languages" in text and "same language, seeds" in text
        await pilot.press("v")
        await wait_for(pilot, lambda: "LAPE" in screen_text(app))
        await pilot.press("v")
        await wait_for(pilot, lambda: "sw@en" in screen_text(app))
        screen = app.screen
        screen.query_one("#sel-method").value = "wanda"
        await wait_for(pilot, lambda: "method=wanda" in screen_text(app))


def test_heat_shading_orders_cells_by_value(workspace: Path) -> None:
    _write_grid(workspace)
    m, profile, modules = analysis(workspace, "masks")
    assert shade(0.0, 0.0, 1.0) != shade(1.0, 0.0, 1.0)
    from rich.console import Console

    console = Console(width=120, record=True, color_system="truecolor")
    console.print(heat_table(m))
    console.print(profile_plot(profile))
    console.print(heat_table(modules))
    out = console.export_text()
    assert "noise floor" in out and "across languages" in out and "per module type" in out
