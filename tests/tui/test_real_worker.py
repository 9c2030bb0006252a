"""End to end with the real worker on a tiny random model: compose in the TUI, launch, watch,
cancel, retry, quit while runs are active, reopen, compare against the store's query."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from langprune.store import queries
from langprune.store.export import cell_text
from langprune.store.rundir import RunDir
from langprune.tui.app import LangpruneApp
from tests.tui.conftest import screen_text, wait_done, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _states(ws: Path) -> dict[str, str]:
    return {
        p.name: RunDir(p).state() for p in (ws / "runs").iterdir() if (p / "spec.json").exists()
    }


async def test_compose_launch_cancel_retry_quit_reopen_compare(real_ws: Path) -> None:
    before = _states(real_ws)
    assert set(before.values()) == {"done"}
    app = LangpruneApp(real_ws, start="compose")
    async with app.run_test(size=(100, 40)) as pilot:
        compose = app.screen
        await wait_for(pilot, lambda: compose.query_one("#models").option_count > 0)
        # start from the preset of the fixture's grid, and add Spanish
        compose.query_one("#preset").value = "tui-e2e"
        await wait_for(pilot, lambda: compose.query_one("#lang-de").value, timeout=60)
        assert compose.query_one("#models").selected == ["random:llama-tiny"]
        compose.query_one("#lang-es").value = True
        await wait_for(pilot, lambda: "5 runs" in str(compose.query_one("#preview").render()))
        preview = str(compose.query_one("#preview").render())
        # magnitude runs once per model and sparsity (issue 13): 1 dense + 1 magnitude + 3 wanda
        done, to_run = map(int, re.search(r"(\d+) already done · (\d+) to run", preview).groups())
        assert done + to_run == 5 and to_run >= 1
        assert "past runs" in preview  # the estimate rests on the fixture's runs of this model
        await wait_for(pilot, lambda: compose.valid is not None)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: app.current_mode == "runs", timeout=60)
        runs = app.screen
        new = set()
        await wait_for(pilot, lambda: len(runs.rows) == len(before) + to_run, timeout=60)
        new = {r.id for r in runs.rows} - set(before)
        assert len(new) == to_run

        # cancel the first new run once it is running, from the runs screen
        await wait_for(pilot, lambda: any(r.state == "running" for r in runs.rows), timeout=240)
        await pilot.press("home")
        await wait_for(
            pilot, lambda: runs.current() is not None and runs.current().state == "running"
        )
        victim = runs.current().id
        await pilot.press("c")
        # stopping a running run asks first, naming what it does
        await wait_for(pilot, lambda: "Cancel 1 running run" in screen_text(app))
        await pilot.press("y")
        await wait_for(pilot, lambda: RunDir(real_ws / "runs" / victim).state() == "cancelled", 60)
        # the cancelled run moved below the active ones; the cursor stayed where it was
        await wait_for(
            pilot, lambda: any(r.id == victim and r.state == "cancelled" for r in runs.rows), 10
        )
        table = runs.query_one("#runs-table")
        table.cursor_row = [r.id for r in runs.rows].index(victim)
        await wait_for(pilot, lambda: runs.current() and runs.current().id == victim, 10)
        # retry it from the same screen
        await pilot.press("r")
        await wait_for(
            pilot, lambda: RunDir(real_ws / "runs" / victim).state() in ("queued", "running"), 60
        )
        # quit while runs are active: they keep going
        await wait_for(
            pilot, lambda: any(_states(real_ws)[i] in ("queued", "running") for i in new), 30
        )
    assert any(_states(real_ws)[i] in ("queued", "running") for i in new)
    finished = wait_done(real_ws, sorted(new), timeout=300)
    assert {s["state"] for s in finished.values()} == {"done"}, finished
    # the retried run's log says where each attempt starts, and how the first one ended
    log = (real_ws / "runs" / victim / "log.txt").read_text(encoding="utf-8")
    first, second = log.index("==== attempt 1 · "), log.index("==== attempt 2 · ")
    assert first < log.index("==== cancelled in ") < second < log.index("==== done in ")

    # reopen: the runs screen shows them done; compare equals the store's query
    app = LangpruneApp(real_ws, start="runs")
    async with app.run_test(size=(120, 30)) as pilot:
        runs = app.screen
        await wait_for(
            pilot,
            lambda: (
                len(runs.rows) == len(before) + to_run and all(r.state == "done" for r in runs.rows)
            ),
        )
        await pilot.press("4")
        compare = app.screen
        await wait_for(pilot, lambda: compare.table is not None, timeout=60)
        f = compare.filters
        expected = queries.compare(
            real_ws,
            compare.metric,
            model=f["model"],
            method=f["method"],
            sparsity=f["sparsity"],
            task=f["task"],
        )
        assert compare.table.cells == expected.cells
        assert set(expected.rows) == {"dense", "en", "de", "es"}
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        for cell in expected.cells.values():
            assert cell_text(expected, cell)[0] in text
    time.sleep(0)
