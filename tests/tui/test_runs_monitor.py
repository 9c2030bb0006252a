"""The runs screen as a monitor and a workbench (issue 17, items 1-2), driven through Pilot over
the deterministic workspace (fakews.py): header, order, slots, stage with language, log size,
marks and the confirmations before cancel and retry."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import psutil
import pytest

from langprune.engine.run.scheduler import Scheduler
from langprune.store import fs
from langprune.store.records import read as read_record
from langprune.store.rundir import RunDir, iter_run_dirs
from langprune.tui.app import LangpruneApp
from langprune.tui.runstate import format_duration
from tests.tui.conftest import STATES, screen_text, wait_for
from tests.tui.fakews import experiment

pytestmark = pytest.mark.anyio


def _ids() -> list[str]:
    return [run.id for run in experiment().runs()]


def _records(ws: Path) -> dict[str, object]:
    return {rd.id: read_record(rd) for rd in iter_run_dirs(ws / "runs")}


async def test_header_order_and_eta_fit_80x24(fake_ws: Path) -> None:
    ids = _ids()
    running, failed, queued = ids[7], ids[8], ids[9]
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        # running pinned on top, then the queue, then failed, then done
        assert [r.id for r in screen.rows[:3]] == [running, queued, failed]
        assert {r.state for r in screen.rows[3:]} == {"done"}
        # the ETA recomputed here: every done run took 20 s (fakews), one slot; the running run
        # has 20 x (1 - progress) left, the queued one starts after it
        recs = _records(fake_ws)
        done = [r for r in recs.values() if r.state == "done"]
        mean = sum(r.seconds_total for r in done) / len(done)
        left = mean * (1 - recs[running].progress)
        grid_eta = format_duration(left + mean)
        text = screen_text(app)
        header = text.splitlines()[0]
        assert f"{len(done)}/25 done" in header and "1 running" in header
        assert "1 queued" in header and "1 failed" in header
        assert f"ETA {grid_eta}" in header
        # every visible row shows its whole run id at 80 columns
        lines = text.splitlines()
        for r in screen.rows[:8]:
            assert any(r.id in line for line in lines), r.id
        row_line = next(line for line in lines if running in line and "running" in line)
        assert format_duration(left) in row_line  # the ETA of the active row
        done_line = next(line for line in lines if done[0].id in line)
        assert "s " not in done_line.split("done", 1)[1][:30]  # no ETA for a done row
        # the running slot and its memory from the last event (1.2 GiB in fakews)
        assert f"cpu ▸ {running} prune 3/4" in text and "1.2 GiB" in text


async def test_stage_shows_language_and_step_and_cursor_stays(fake_ws: Path) -> None:
    ids = _ids()
    running = RunDir(fake_ws / "runs" / ids[7])
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        running.add_event(stage="eval_ppl", language="de", step=3, total=7)
        await wait_for(pilot, lambda: "eval_ppl de 3/7" in screen_text(app))
        assert screen.current().id == ids[7]
        # the selected run finishes: it moves below, the cursor stays on the top row
        running.set_status("done", seconds={"total": 20.0})
        await wait_for(pilot, lambda: screen.rows[0].id != ids[7])
        assert screen.query_one("#runs-table").cursor_row == 0
        assert screen.current().id == screen.rows[0].id == ids[9]


async def test_slots_from_the_scheduler_files_with_memory(fake_ws: Path) -> None:
    ids = _ids()
    running = RunDir(fake_ws / "runs" / ids[7])
    running.set_status("running", worker="w1", pid=os.getpid(), host=socket.gethostname())
    workers = fake_ws / "runner" / "workers"
    workers.mkdir(parents=True)
    fs.write_json_atomic(
        fake_ws / "runner" / "slots.json",
        {"slots": [{"name": "gpu0-0", "gpu": "0"}, {"name": "gpu1-0", "gpu": "1"}]},
    )
    fs.write_json_atomic(workers / "w1.json", {"id": "w1", "slot": "gpu0-0", "runs": [ids[7]]})
    with fs.lock(workers / "w1.lock") as held:
        assert held is not None
        app = LangpruneApp(fake_ws, start="runs")
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: "gpu1-0 ▸ idle" in screen_text(app))
            text = screen_text(app)
            line = next(line for line in text.splitlines() if "gpu0-0 ▸" in line)
            assert ids[7] in line
            # the worker's memory: this process's resident memory, read live
            shown = re.search(r"· ([\d.]+) (MiB|GiB)", line)
            assert shown, line
            value = float(shown.group(1)) * (2**20 if shown.group(2) == "MiB" else 2**30)
            rss = psutil.Process().memory_info().rss
            assert 0.5 * rss < value < 1.5 * rss
            # two slots: the queued run starts on the idle one now, so the grid ends with the
            # later of the two
            assert screen.monitor is not None
            eta = screen.monitor.eta_s
            assert screen.monitor.grid_eta_s == max(eta[ids[7]], eta[ids[9]])
            assert eta[ids[9]] == pytest.approx(20.0)


def test_the_scheduler_writes_its_slots(fake_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGPRUNE_GPUS", "0,3")
    slots = Scheduler(fake_ws).slots()
    data = fs.read_json(fake_ws / "runner" / "slots.json")
    assert data is not None
    assert data["slots"] == [{"name": s.name, "gpu": s.gpu} for s in slots]
    assert [s["gpu"] for s in data["slots"]] == ["0", "3"]


async def test_log_pane_grows_to_full_screen(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        log = screen.query_one("#log-tail")
        table = screen.query_one("#runs-table")
        small = log.size.height
        await pilot.press("z")
        await pilot.pause(0.2)
        assert log.size.height > small and table.display
        await pilot.press("z")
        await pilot.pause(0.2)
        assert not table.display and log.size.height > 24 - 8
        await pilot.press("z")
        await pilot.pause(0.2)
        assert table.display and log.size.height == small


async def test_cancel_of_marked_runs_asks_naming_them(fake_ws: Path) -> None:
    ids = _ids()
    # the running run's worker is on this host (and already gone: pid 0), so cancel may mark it
    RunDir(fake_ws / "runs" / ids[7]).set_status("running", host=socket.gethostname())
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        await pilot.press("home", "space", "space")  # mark the running and the queued run
        assert screen.marked == {ids[7], ids[9]}
        await wait_for(pilot, lambda: "2 marked" in screen_text(app))
        await pilot.press("c")
        question = "Cancel 2 runs (1 running, 1 queued) of experiment snap?"
        await wait_for(pilot, lambda: question in screen_text(app))
        await pilot.press("n")  # no: nothing changes, the marks stay
        await wait_for(pilot, lambda: question not in screen_text(app))
        assert RunDir(fake_ws / "runs" / ids[9]).state() == "queued"
        assert screen.marked == {ids[7], ids[9]}
        await pilot.press("c")
        await wait_for(pilot, lambda: question in screen_text(app))
        await pilot.press("y")
        for rid in (ids[7], ids[9]):
            await wait_for(
                pilot, lambda rid=rid: RunDir(fake_ws / "runs" / rid).state() == "cancelled"
            )
        assert not screen.marked
        # the other runs are untouched
        states = {rid: RunDir(fake_ws / "runs" / rid).state() for rid in ids}
        assert states[ids[8]] == STATES[8] and states[ids[0]] == "done"


async def test_cancel_of_one_queued_run_does_not_ask(fake_ws: Path) -> None:
    ids = _ids()
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        await pilot.press("down")  # the queued run
        assert screen.current().id == ids[9]
        await pilot.press("c")
        await wait_for(pilot, lambda: RunDir(fake_ws / "runs" / ids[9]).state() == "cancelled")


async def test_retry_of_a_done_run_asks_and_no_keeps_it(fake_ws: Path) -> None:
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        await pilot.press("end")
        row = screen.current()
        assert row.state == "done"
        await pilot.press("r")
        await wait_for(pilot, lambda: "Retry 1 done run of experiment snap?" in screen_text(app))
        assert "results are discarded" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Retry 1 done run" not in screen_text(app))
        assert RunDir(fake_ws / "runs" / row.id).state() == "done"
        # `a` marks every shown row; a bulk retry names the states it covers
        await pilot.press("a")
        await pilot.press("r")
        question = "Retry 23 runs (1 failed, 22 done) of experiment snap?"
        await wait_for(pilot, lambda: question in screen_text(app))
        assert "2 queued or running left alone" in app.screen.question
        await pilot.press("n")


async def test_stage_with_language_and_step_whole_at_80x24(fake_ws: Path) -> None:
    """The stage column holds 'eval_ppl de 3/6' whole at 80 columns, next to the whole run id;
    wider terminals add columns (seed, then a progress bar, ...)."""
    from langprune.tui.screens.runs import columns_for

    ids = _ids()
    RunDir(fake_ws / "runs" / ids[7]).add_event(stage="eval_ppl", language="de", step=3, total=6)
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        await wait_for(pilot, lambda: "eval_ppl de 3/6" in screen_text(app))
        lines = screen_text(app).splitlines()
        row = next(ln for ln in lines if ids[7] in ln and "running" in ln)
        assert re.search(r"running +eval_ppl de 3/6 ", row), row
        assert "…" not in row
        keys = [c.key for c in screen.query_one("#runs-table").columns]
        assert "seed" not in keys and "id" in keys
    narrow, wide = columns_for(80), columns_for(160)
    assert next(c.width for c in narrow if c.key == "stage") >= len("eval_tasks sw 12/40")
    assert {c.key for c in narrow} < {c.key for c in wide}
    assert {"seed", "model", "mem", "error"} <= {c.key for c in wide}
    for width in (80, 100, 120, 140, 160):  # every layout fits its terminal
        assert sum(c.width + 1 for c in columns_for(width)) + 2 <= width


async def test_enter_on_a_run_opens_its_card(fake_ws: Path) -> None:
    """Enter opens the run's card (as on the results screen); `l` still opens the full log."""
    from langprune.tui.screens.log import LogScreen
    from langprune.tui.screens.runcard import RunCardScreen

    ids = _ids()
    app = LangpruneApp(fake_ws, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 25)
        await pilot.press("end")
        row = screen.current()
        assert row.state == "done"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunCardScreen))
        card = app.screen
        assert card.run_id == row.id
        await wait_for(pilot, lambda: card.loaded)
        assert f"run {row.id} · done" in screen_text(app)
        assert "metrics" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        # the same for the running run, and l on the runs screen is the log, as before
        await pilot.press("home")
        assert screen.current().id == ids[7]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunCardScreen))
        assert app.screen.run_id == ids[7]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
