"""Pilot tests of the real app over a deterministic workspace (see fakews.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from langprune.engine.spec import presets
from langprune.store import queries
from langprune.store.export import cell_text
from langprune.tui import form
from langprune.tui.app import LangpruneApp
from langprune.tui.widgets.lazytable import Column, LazyTable
from tests.tui.conftest import wait_for

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anyio


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def test_tui_never_imports_torch_transformers_or_lm_eval(fake_ws: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from langprune.tui.app import LangpruneApp

        async def main():
            app = LangpruneApp(Path({str(fake_ws)!r}), start="runs")
            async with app.run_test(size=(80, 24)) as pilot:
                for key in "1234":
                    await pilot.press(key)
                    await pilot.pause(1.0)
                await pilot.press("p")
                await pilot.pause(1.0)
        asyncio.run(main())
        bad = [m for m in ("torch", "transformers", "lm_eval") if m in sys.modules]
        print("FORBIDDEN", bad)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert "FORBIDDEN []" in out.stdout, out.stdout + out.stderr


async def test_compose_validates_inline_in_plain_words(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compose")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: "problem" in str(screen.query_one("#preview").render()))
        # the blank form: no model, no method, no language -> what to do, next to each field
        assert "pick at least one method" in str(screen.query_one("#err-methods").render())
        assert "pick at least one model" in str(screen.query_one("#err-models").render())
        shown = "\n".join(str(w.render()) for w in screen.query(".field-error"))
        assert "List should have" not in shown and "after validation" not in shown
        # type a bad seed: it is named next to the seeds field
        screen.query_one("#seeds").value = "0, x"
        await wait_for(pilot, lambda: "seeds" in str(screen.query_one("#err-seeds").render()))
        assert "'x' is not a whole number" in str(screen.query_one("#err-seeds").render())


async def _fill_small_grid(pilot, screen) -> None:
    screen.query_one("#add-model").value = "random:llama-tiny"
    screen.query_one("#add-model").focus()
    await pilot.press("enter")
    screen.query_one("#name").value = "tui-small"
    screen.query_one("#method-magnitude").value = True
    screen.query_one("#method-wanda").value = True
    screen.query_one("#sparsity").value = "0.5"
    screen.query_one("#lang-en").value = True
    screen.query_one("#lang-de").value = True
    screen.query_one("#corpus").value = "synthetic"
    screen.query_one("#nsamples").value = "4"
    screen.query_one("#seqlen").value = "32"
    screen.query_one("#eval_languages").value = "en de"
    await wait_for(pilot, lambda: "valid" in str(screen.query_one("#preview").render()))


async def test_compose_preview_and_save_preset(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compose")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await _fill_small_grid(pilot, screen)
        preview = str(screen.query_one("#preview").render())
        assert "4 runs" in preview  # dense + magnitude once + wanda x 2 languages
        assert "device time" in preview
        await pilot.press("ctrl+s")
        path = fake_ws / "presets" / "tui-small.toml"
        await wait_for(pilot, path.exists)
        saved = presets.load(str(path))
        assert saved == form.validate(form.to_dict(screen.values()))[0]
        assert len(saved.runs()) == 4


async def test_compose_offers_only_task_families_of_the_languages(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compose")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        screen.query_one("#eval_languages").value = "sw"
        await pilot.pause(0.3)
        tasks = screen.query_one("#tasks")
        offered = {tasks.get_option_at_index(i).value for i in range(tasks.option_count)}
        assert offered == set(form.families_for(["sw"]))
        assert "pawsx" not in offered and "xnli" in offered


async def test_runs_screen_filter_expression(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        assert [r.state for r in screen.rows[:3]] == ["running", "queued", "failed"]
        await pilot.press("slash")
        await pilot.press(*"method=wanda state=done")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.rows and len(screen.rows) < 25)
        assert {(r.method, r.state) for r in screen.rows} == {("wanda", "done")}
        expected = {r["id"] for r in queries.list_runs(fake_ws, "method=wanda state=done")}
        assert {r.id for r in screen.rows} == expected
        # a bad expression: the store's message, and the list is left alone
        screen.set_filter("methd=wanda")
        await wait_for(
            pilot, lambda: "unknown key" in str(screen.query_one("#runs-summary").render())
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(screen.rows) == 25)


async def test_runs_screen_log_tail_and_full_log(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        await pilot.press("down")
        rid = screen.rows[1].id
        await wait_for(pilot, lambda: f"[{rid}] line 11" in screen_text(app))
        await pilot.press("l")
        await wait_for(pilot, lambda: f"[{rid}] line 0" in screen_text(app))
        await pilot.press("escape")
        assert app.screen is screen


async def test_compare_cells_equal_the_store_query(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compare")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.table is not None)
        f = screen.filters
        assert screen.metric == "bpb"  # the cross-language metric is the default
        expected = queries.compare(
            fake_ws, "bpb", model=f["model"], method=f["method"], sparsity=f["sparsity"]
        )
        assert screen.table.cells == expected.cells
        assert screen.table.rows == expected.rows == ["dense", "de", "en", "es"]
        shown = [cell_text(expected, cell)[0] for cell in expected.cells.values()]
        # the table is drawn after the query's message arrives: wait for the paint
        await wait_for(pilot, lambda: all(v in screen_text(app) for v in shown), timeout=20)
        # delta toggle: the store's relative deltas
        await pilot.press("d", "d")
        await wait_for(pilot, lambda: screen.table.delta == "rel")
        rel = queries.compare(
            fake_ws, "bpb", method=f["method"], sparsity=f["sparsity"], delta="rel"
        )
        assert screen.table.row_means == rel.row_means
        value = cell_text(rel, rel.cells[("de", "de")])[0]
        await wait_for(pilot, lambda: value in screen_text(app), timeout=20)


async def test_compare_export_writes_a_file(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compare")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.table is not None)
        await pilot.press("e")
        await pilot.pause(0.2)
        await pilot.press("enter")
        f = screen.filters  # the default name says which table it holds
        path = fake_ws / "exports" / f"compare-bpb-{f['method']}-{f['sparsity']}.csv"
        await wait_for(pilot, path.exists)
        header = path.read_text().splitlines()[0]
        assert "calibration" in header and "mean" in header and "baseline" in header
        # a second export to the same name asks first; n keeps the file
        path.write_text("keep me")
        await pilot.press("e")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        assert f"{path} exists. Overwrite it?" in str(app.screen.question)
        await pilot.press("n")
        await pilot.pause(0.3)
        assert path.read_text() == "keep me" and app.screen is screen
        # a folder: an error notice, and the TUI stays up
        screen.export(screen.table, "csv", str(fake_ws), False)
        await pilot.pause(0.5)
        assert app.is_running and app.screen is screen


async def test_compare_plot_panel(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="compare")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.table is not None)
        await pilot.press("p")
        await wait_for(pilot, lambda: "across sparsity" in screen_text(app))
        await pilot.press("v")
        await wait_for(pilot, lambda: "per evaluation language" in screen_text(app))


async def test_results_sort_search_filter(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="results")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        table = screen.query_one(LazyTable)
        await wait_for(pilot, lambda: table.row_count == 25)
        assert "ppl" in screen.columns
        await pilot.press("slash", *"sparsegpt 2:4", "enter")
        await wait_for(pilot, lambda: table.row_count == 6)
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 25)
        await pilot.press("f", *"calib=en", "enter")
        await wait_for(pilot, lambda: table.row_count == 8)
        ppl = screen.columns.index("ppl")
        while screen.sort_index != ppl:
            await pilot.press("s")
        await wait_for(pilot, lambda: table.rows[0][ppl] is not None and table.sort_key == "ppl")
        values = [r[ppl] for r in table.rows if r[ppl] is not None]
        assert values == sorted(values)


async def test_virtualized_table_stays_fast_with_100k_rows() -> None:
    from textual.app import App

    rows = [(f"run{i:06d}", "wanda", "0.5", "en", i % 3, 10.0 + i / 1e5) for i in range(100_000)]

    class One(App[None]):
        def compose(self):
            yield LazyTable([Column(str(i), str(i), 10) for i in range(6)], id="t")

    app = One()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(LazyTable)
        table.focus()
        start = time.perf_counter()
        table.set_rows(rows)
        await pilot.pause()
        for _ in range(30):
            await pilot.press("pagedown")
        await pilot.press("end")
        await pilot.pause()
        elapsed = time.perf_counter() - start
        assert table.cursor_row == 99_999
        assert "run099999" in screen_text(app)
        assert elapsed < 5.0, elapsed


async def test_help_and_screen_keys(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        for key, mode in (("4", "compare"), ("3", "results"), ("1", "compose"), ("2", "runs")):
            if mode == "runs":
                app.set_focus(None)
            await pilot.press(key)
            assert app.current_mode == mode
            if mode == "compose":
                await pilot.press("escape")  # leave the text field so digits switch again
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: "everywhere" in screen_text(app))
        await pilot.press("escape")
        assert app.current_mode == "runs"
