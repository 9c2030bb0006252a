"""The compare screen over the deterministic workspace: facets, the f key, plots, t and help."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from langprune.store import queries
from langprune.tui.app import LangpruneApp
from langprune.tui.screens.help import HelpScreen
from tests.tui.conftest import screen_text, wait_for

pytestmark = pytest.mark.anyio

FACETS = ["sparsegpt · 0.5", "sparsegpt · 2:4", "wanda · 0.5", "wanda · 2:4"]


async def _loaded(pilot) -> None:
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.table is not None)
    await pilot.pause(0.3)


async def test_facets_at_160x48_and_f_toggles(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compare")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        await _loaded(pilot)
        await wait_for(pilot, lambda: len(screen.facets) == 4)
        assert [f"{m} · {s}" for m, s, _ in screen.facets] == FACETS
        panels = list(screen.query(".facet"))
        assert [p.border_title for p in panels] == FACETS
        # the grid fills the screen: 2 x 2 panels, together most of its area
        area = sum(p.region.width * p.region.height for p in panels)
        assert area > 0.6 * 160 * 48, area
        # each facet is the store's table for its method and sparsity
        for method, sparsity, table in screen.facets:
            expected = queries.compare(fake_ws, "bpb", method=method, sparsity=sparsity)
            assert table.cells == expected.cells
        text = screen_text(app)
        assert all(t in text for t in FACETS)
        await pilot.press("f")
        await wait_for(pilot, lambda: not screen.query_one("#compare-facets").display)
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "wanda · 2:4" not in text and "method=sparsegpt  sparsity=0.5" in text
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.query_one("#compare-facets").display)
        await wait_for(pilot, lambda: "wanda · 2:4" in screen_text(app))


async def test_single_table_below_120_columns(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await _loaded(pilot)
        assert not screen.facets and not screen.query_one("#compare-facets").display
        await pilot.press("f")
        await pilot.pause(0.3)
        assert not screen.facets
        assert any("needs 120 columns" in n.message for n in app._notifications)


async def test_plot_in_delta_mode_plots_deltas_with_nm_as_categories(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compare")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await _loaded(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: screen.table.delta == "abs")
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.plot is not None)
        plot = screen.plot
        assert plot.kind == "sparsity" and plot.labels == ["0.5", "2:4"]  # two points, not one
        method = screen.filters["method"]
        for i, level in enumerate(plot.labels):
            t = queries.compare(fake_ws, "bpb", method=method, sparsity=level, delta="abs")
            for row, ys in plot.series.items():
                assert ys[i] == pytest.approx(t.row_means[row])  # deltas, as the table shows
        assert "dense" not in plot.series and "bpb - dense" in plot.title
        await wait_for(
            pilot, lambda: "2:4" in screen_text(app) and "bpb - dense" in screen_text(app)
        )
        # the y axis is around the deltas, not from 0
        ticks = [
            float(m.group(1))
            for m in re.finditer(r"^\s*(-?[\d.]+)┤", screen_text(app), re.MULTILINE)
        ]
        assert ticks and min(ticks) > 0.25 * min(plot.values()), ticks
        # bars: the table's own numbers per language
        await pilot.press("v")
        await wait_for(pilot, lambda: screen.plot is not None and screen.plot.kind == "bars")
        table = screen.table
        bars = screen.plot
        assert bars.labels == table.columns
        for row, ys in bars.series.items():
            assert ys == [table.shown(table.cells[(row, c)]) for c in table.columns]


async def test_t_does_what_help_says(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compare")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await _loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.2)
        assert re.search(
            r"│\s+t\s+next task: show the metric of the next lm-eval task", screen_text(app)
        )
        await pilot.press("escape")
        tasks = screen.choices["task"]
        assert tasks
        await pilot.press("t")
        await wait_for(pilot, lambda: screen.table is not None and screen.table.task == tasks[0])
        await wait_for(pilot, lambda: f"task={tasks[0]}" in screen_text(app))
        assert screen.filters["task"] == tasks[0]
        for _ in tasks:
            await pilot.press("t")
        await wait_for(pilot, lambda: screen.table.task is None)  # then all tasks again


async def test_help_lists_the_keys_of_the_current_screen(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compare")
    async with app.run_test(size=(120, 48)) as pilot:
        await _loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "compare" in text and "one table per method x sparsity" in text
        assert "delta vs the baseline" in text and "everywhere" in text and "quit" in text
        assert "English calibration" in text  # b
        assert "mark the run" not in text and "log pane" not in text  # the runs screen's keys
        await pilot.press("escape")
        app.set_focus(None)
        await pilot.press("2")
        await wait_for(pilot, lambda: app.current_mode == "runs")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "mark the run" in text and "delta vs the baseline" not in text


async def test_b_cycles_the_baseline_through_english_and_each_row(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compare")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await _loaded(pilot)
        method, sparsity = screen.filters["method"], screen.filters["sparsity"]
        await pilot.press("b")  # English calibration, deltas switched on
        await wait_for(pilot, lambda: screen.table.baseline == "en")
        assert screen.table.delta == "abs"
        expected = queries.compare(
            fake_ws, "bpb", method=method, sparsity=sparsity, delta="abs", baseline="en"
        )
        assert screen.table.cells == expected.cells  # paired per seed by the store, as the CLI
        await pilot.pause(0.3)
        assert "delta=abs vs en" in screen_text(app)
        done_rows = {row for row, _ in screen.table.cells}
        others = [r for r in screen.table.rows if r in done_rows and r not in ("dense", "en")]
        assert others
        for row in others:
            await pilot.press("b")
            await wait_for(pilot, lambda row=row: screen.table.baseline == row)
        await pilot.press("b")  # back to the dense model
        await wait_for(pilot, lambda: screen.table.baseline == "dense")
