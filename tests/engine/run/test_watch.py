"""Watching recovers: a SIGSTOPped worker shows as stalled (status, attach, the TUI runs screen),
and attach / retry start a scheduler for queued runs that have none (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from langprune.engine.run import registry
from langprune.engine.spec import presets
from langprune.store.rundir import RunDir, create
from tests.engine.run.helpers import (
    all_final,
    cli,
    describe,
    env_for,
    runs,
    scheduler_gone,
    wait_for,
    write_preset,
)

STALL = {"LANGPRUNE_STALLED_AFTER_S": "3"}


def _in_prune(rd: RunDir) -> bool:
    return rd.state() == "running" and (rd.last_event() or {}).get("stage") == "prune"


def _attach_for(ws: Path, seconds: float) -> subprocess.CompletedProcess[str]:
    """`langprune attach` for a few seconds, then Ctrl-C (it detaches and prints its bars)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "langprune", "attach"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(ws, COLUMNS="200", **STALL),
    )
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.anyio
async def test_a_stopped_worker_shows_as_stalled(tmp_path: Path, monkeypatch) -> None:
    ws = tmp_path / "ws"
    preset = write_preset(tmp_path, methods=("sparsegpt",), dense=False)
    out = cli(ws, "run", str(preset), env=env_for(ws, LANGPRUNE_SLOW_STAGES="prune=1"))
    assert out.returncode == 0, out.stderr
    (rd,) = wait_for(lambda: runs(ws), 60, "the run directory")
    wait_for(lambda: _in_prune(rd), 120, "pruning to start")
    pid = rd.status()["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: (rd.heartbeat_age() or 0) > 4, 30, "the heartbeat to go stale")
        status = cli(ws, "status", env=env_for(ws, COLUMNS="200", **STALL))
        assert status.returncode == 0, status.stderr
        assert "1 stalled" in status.stdout and "no heartbeat for" in status.stdout, status.stdout
        assert rd.state() == "running", "a stalled run is not lost: its worker holds it"
        # without the short bound it is running (the stated bound is 60 s)
        plain = cli(ws, "status", env=env_for(ws, COLUMNS="200"))
        assert "1 running" in plain.stdout and "no heartbeat" not in plain.stdout
        attached = _attach_for(ws, 4)
        assert "stalled: no heartbeat for" in attached.stdout, attached.stdout + attached.stderr

        from langprune.tui.app import LangpruneApp
        from tests.tui.conftest import wait_for as wait_app

        monkeypatch.setenv("LANGPRUNE_HOME", str(ws))
        monkeypatch.setenv("LANGPRUNE_STALLED_AFTER_S", "3")
        app = LangpruneApp(ws, start="runs")

        def text() -> str:
            return "\n".join(s.text for s in app.screen._compositor.render_strips())

        async with app.run_test(size=(160, 40)) as pilot:
            await wait_app(pilot, lambda: "stalled" in text(), timeout=30)
            assert "no heartbeat for" in text()
    finally:
        os.kill(pid, signal.SIGCONT)
        cli(ws, "cancel", "--all", "--yes")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _queued_without_scheduler(ws: Path, preset: Path) -> list[str]:
    """What a reboot leaves: queued local runs and no scheduler, no worker."""
    exp = presets.load(str(preset))
    ids = []
    for run in exp.runs():
        create(ws / "runs", run.id, run.model_dump(mode="json"))
        RunDir(ws / "runs" / run.id).set_status("queued", executor="local")
        ids.append(run.id)
    assert registry.scheduler_info(ws) is None
    return ids


def test_attach_and_retry_start_a_missing_scheduler(tmp_path: Path) -> None:
    preset = write_preset(tmp_path, methods=("magnitude",))
    ws = tmp_path / "ws"
    ids = _queued_without_scheduler(ws, preset)
    attached = cli(ws, "attach", timeout=240)
    assert "started one" in attached.stderr, attached.stderr
    assert attached.returncode == 0, describe(ws)
    assert all_final(ws, len(ids)) and all(rd.state() == "done" for rd in runs(ws))

    ws2 = tmp_path / "ws2"
    _queued_without_scheduler(ws2, preset)
    retried = cli(ws2, "retry", "--yes")
    assert retried.returncode == 0, retried.stderr
    assert "started one" in retried.stderr, retried.stderr
    wait_for(lambda: all_final(ws2, len(ids)), 120, "the queued runs to finish")
    wait_for(lambda: scheduler_gone(ws2), 30, "the scheduler to leave")
