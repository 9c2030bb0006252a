"""Results screen: Enter opens the run's card, sort by a named column, active runs first
(Pilot, the real app over run dirs written by store/rundir.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from langprune.store.rundir import RunDir
from langprune.tui.app import LangpruneApp
from langprune.tui.render import iso_time
from tests.tui.conftest import open_card, wait_for

pytestmark = pytest.mark.anyio


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def _results(pilot, app):
    screen = app.screen
    await wait_for(pilot, lambda: screen.query_one("#results-table").row_count == 25)
    return screen


async def test_enter_opens_the_run_card(fake_ws: Path) -> None:
    from langprune.tui.screens.runcard import RunCardScreen

    app = LangpruneApp(fake_ws, start="results")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _results(pilot, app)
        table = screen.query_one("#results-table")
        # pick a done pruned run
        ids = screen.columns.index("id")
        states = screen.columns.index("state")
        methods = screen.columns.index("method")
        index = next(
            i for i, r in enumerate(table.rows) if r[states] == "done" and r[methods] == "sparsegpt"
        )
        table.cursor_row = index
        run_id = table.rows[index][ids]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunCardScreen))
        card = app.screen
        await wait_for(pilot, lambda: card.loaded)
        text = screen_text(app)
        rd = RunDir(fake_ws / "runs" / run_id)
        spec, status = rd.read_spec(), rd.status()
        assert run_id in text and spec["model"]["id"] in text
        assert re.search(rf"calibration +{spec['calibration_language']}\b", text)
        for m in rd.read_metrics():  # every per-language value, with its n
            line = next(
                ln
                for ln in text.splitlines()
                if f" {m['metric']} " in ln and f" {m['language']} " in ln
            )
            assert f"{m['n']:,}" in line
            assert (f"{m['value']:.2f}" in line) or (f"{m['value']:.3f}" in line)
        assert iso_time(status["done_at"]) in text  # timings as ISO times
        assert "prune time" in text
        assert "OWL allocation" not in text  # only OWL runs have one
        assert rd.log.read_text().splitlines()[-1] in text  # the log's tail
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


async def test_sort_by_a_named_column(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="results")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await _results(pilot, app)
        table = screen.query_one("#results-table")
        ppl = screen.columns.index("ppl")
        await pilot.press("o")
        assert screen.query_one("#results-sort").has_focus
        await pilot.press(*"-ppl", "enter")
        await wait_for(pilot, lambda: screen.sort_index == ppl)
        await wait_for(pilot, lambda: table.rows[0][ppl] is not None)
        values = [r[ppl] for r in table.rows if r[ppl] is not None]
        assert values == sorted(values, reverse=True)
        assert all(r[ppl] is None for r in table.rows[len(values) :])  # empty cells last
        assert "sorted by ppl ▼" in str(screen.query_one("#results-summary").render())
        # by its heading, ascending
        await pilot.press("o", *"calib", "enter")
        calib = screen.columns.index("calibration_language")
        await wait_for(pilot, lambda: screen.sort_index == calib and not screen.sort_reverse)
        # an unknown column: said, and the order is kept
        await pilot.press("o", *"nope", "enter")
        await pilot.pause(0.3)
        assert screen.sort_index == calib
        assert screen.query_one("#results-sort").display
        await pilot.press("escape")
        # s steps to the next column and names it
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.sort_index == calib + 1)
        name = screen.columns[calib + 1]
        assert f"sorted by {name}" in str(screen.query_one("#results-summary").render())


async def test_active_runs_first(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="results")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await _results(pilot, app)
        table = screen.query_one("#results-table")
        assert [r[0] for r in table.rows[:2]] == ["running", "queued"]
        assert all(r[0] not in ("running", "queued") for r in table.rows[2:])


async def test_owl_card_shows_the_recorded_allocation(fake_ws: Path) -> None:
    """An OWL run's card: m and lambda from its spec, each layer's recorded sparsity and outlier
    ratio, their min/max/mean and the achieved sparsity, recomputed from what was written."""
    from langprune.tui.screens.runcard import RunCardScreen
    from tests.tui import fakews

    run_id = fakews.add_owl_run(fake_ws, m=7.0, lam=0.08)
    owl = RunDir(fake_ws / "runs" / run_id).status()["owl"]
    layers, outliers = owl["layer_sparsity"], owl["outlier_pct"]
    assert layers == fakews.owl_layer_sparsity(fakews.OWL_OUTLIER_PCT, 0.5, 0.08)
    app = LangpruneApp(fake_ws, start="results")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_card(pilot, run_id, rows=26)
        assert isinstance(app.screen, RunCardScreen)
        card = app.screen.query_one("#card")  # all of it, not only what the screen shows
        text = "\n".join(s.text for s in card.render_lines(card.region.reset_offset))
    lines = text.splitlines()
    assert "OWL allocation  m = 7.0  lambda = 0.08  6 decoder layers" in text
    low, high = min(layers), max(layers)
    mean = sum(layers) / len(layers)
    profile = next(ln for ln in lines if "profile" in ln)
    assert f"min {low:.3f} (layer {layers.index(low)})" in profile
    assert f"max {high:.3f} (layer {layers.index(high)})" in profile
    assert f"mean {mean:.4f}" in profile and f"{0.5:.4f}" == f"{mean:.4f}"
    # the sparkline: the least pruned layer lowest, the most pruned highest
    spark = profile.split("profile", 1)[1].split()[0]
    assert len(spark) == len(layers)
    assert spark[layers.index(low)] == "▁" and spark[layers.index(high)] == "█"
    overall = next(ln for ln in lines if "overall" in ln)
    assert "requested 0.5" in overall and f"achieved {fakews.OWL_ACHIEVED:.4f}" in overall
    # every layer's number, in order, under its index
    row = next(ln for ln in lines if ln.strip().startswith("sparsity ") and "0." in ln)
    assert row.split()[1:] == [f"{v:.3f}" for v in layers]
    pct = next(ln for ln in lines if ln.strip().startswith("outlier %"))
    assert pct.split()[2:] == [f"{v:.2f}" for v in outliers]
    head = next(ln for ln in lines if ln.strip().startswith("layer "))
    assert head.split()[1:] == [str(i) for i in range(len(layers))]
    assert "owl_lambda=0.08 owl_m=7.0" in text  # and the spec's options
