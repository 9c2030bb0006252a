"""A full disk under real processes: the scheduler waits it out, the worker records why a run died.

The workspace lives on a 32 MB tmpfs of its own (tests/conftest.py `small_disk`, skipped where
mounting is refused) that a filler file makes full in the middle of a run.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from langprune.engine.run import registry
from langprune.engine.run.scheduler import Scheduler
from langprune.store.rundir import RunDir
from tests.conftest import fill_disk
from tests.engine.run.helpers import (
    all_final,
    cli,
    describe,
    env_for,
    runs,
    wait_for,
    write_preset,
)

pytestmark = pytest.mark.slow

SLOW = "prune=0.5,eval_ppl=0.5"  # long enough to fill the disk while a run is in its stages


def _alive(pid: int) -> bool:
    return registry.pid_alive(pid)


def _start_two_runs(ws: Path, tmp_path: Path, record_retry_s: str) -> tuple[RunDir, RunDir, int]:
    """Queue two runs of one model (one worker, one after the other) and wait until the first
    is pruning; returns (first, second, scheduler pid)."""
    preset = write_preset(tmp_path, methods=("wanda", "magnitude"), dense=False)
    env = env_for(
        ws,
        LANGPRUNE_SLOW_STAGES=SLOW,
        LANGPRUNE_RECORD_RETRY_S=record_retry_s,
        LANGPRUNE_DISK_RETRY_S="0.5",
    )
    out = cli(ws, "run", str(preset), env=env)
    assert out.returncode == 0, out.stderr
    first = wait_for(
        lambda: next(
            (rd for rd in runs(ws) if (rd.last_event() or {}).get("stage") == "prune"), None
        ),
        90,
        "a run to start pruning",
    )
    (second,) = [rd for rd in runs(ws) if rd.id != first.id]
    assert second.state() == "queued"
    sched = registry.scheduler_info(ws)
    assert sched is not None
    return first, second, int(sched["pid"])


def test_a_run_that_fills_the_disk_fails_with_the_cause_and_the_queue_resumes(
    small_disk: Path, tmp_path: Path
) -> None:
    ws = small_disk / "ws"
    first, second, scheduler = _start_two_runs(ws, tmp_path, record_retry_s="60")
    filler = fill_disk(small_disk)
    time.sleep(3)  # the worker meets the full disk and waits to record it
    assert _alive(scheduler), "the scheduler must survive a full disk"
    assert first.state() == "running" and second.state() == "queued"
    filler.unlink()
    wait_for(lambda: all_final(ws, 2), 120, "both runs to finish")
    status = first.status()
    assert status["state"] == "failed", describe(ws)
    error = status["error"]
    assert "the disk is full" in error and str(ws) in error, error
    assert f"langprune retry {first.id}" in error and "free space" in error
    assert second.state() == "done", describe(ws)
    assert _alive(scheduler) or registry.scheduler_info(ws) is None  # alive, or done and gone
    log = (ws / "runner" / "scheduler.log").read_text(errors="replace")
    assert "Traceback" not in log, log


def test_the_scheduler_waits_out_a_full_disk_and_starts_the_queued_run_after(
    small_disk: Path, tmp_path: Path
) -> None:
    ws = small_disk / "ws"
    first, second, scheduler = _start_two_runs(ws, tmp_path, record_retry_s="0.5")
    filler = fill_disk(small_disk)
    # The worker gives up recording the first run and stops before the second (left queued);
    # the scheduler can neither mark the first lost nor start a worker: it waits.
    wait_for(lambda: not first.is_locked(), 60, "the worker to let go of the first run")
    time.sleep(3)
    assert _alive(scheduler), "the scheduler must survive a full disk"
    assert second.state() == "queued", "a run that could not start stays queued"
    assert first.state() == "running"  # not guessed: nothing could be written yet
    filler.unlink()
    wait_for(lambda: all_final(ws, 2), 120, "both runs to finish")
    assert second.state() == "done", describe(ws)
    assert first.state() == "failed" and "worker lost" in first.status()["error"]
    log = (ws / "runner" / "scheduler.log").read_text(errors="replace")
    assert "Traceback" not in log, log
    assert "the disk takes writes again" in log, log


# -- the scheduler's pass, without processes ------------------------------------------------------


def _enospc(path: str = "/ws/runner/workers/x.json") -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def test_a_pass_that_meets_a_full_disk_is_dropped_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from langprune.errors import DiskError

    sched = Scheduler(tmp_path)

    def full() -> bool:
        raise _enospc()

    with caplog.at_level(logging.INFO, logger="langprune.scheduler"):
        assert sched.attempt(full) is True  # busy: the scheduler must not exit meanwhile
        assert sched.attempt(full) is True
        assert isinstance(sched.disk, DiskError)
        assert sched.attempt(lambda: False) is False
    lines = [r.getMessage() for r in caplog.records]
    assert len([m for m in lines if "the disk is full" in m]) == 1, lines
    assert "/ws/runner/workers/x.json" in lines[0] and "retrying" in lines[0]
    assert any("scheduling resumes" in m for m in lines) and sched.disk is None

    def bug() -> bool:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        sched.attempt(bug)


def test_a_worker_that_cannot_be_started_leaves_no_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langprune.engine.run import scheduler
    from langprune.engine.run.slots import Slot

    def refuse(*args: Any, **kw: Any) -> None:
        raise _enospc(str(tmp_path / "runner" / "workers" / "w.log"))

    monkeypatch.setattr(scheduler.subprocess, "Popen", refuse)
    sched = Scheduler(tmp_path)
    with pytest.raises(OSError):
        sched.spawn(Slot(None), ["r1"])
    # no record of a worker that never started: the next pass sees the run queued, no slot taken
    assert sched.children == {} and registry.workers(tmp_path) == []


# -- the worker's final status, without processes -------------------------------------------------


def test_the_final_status_is_retried_then_told_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from langprune.engine.run import worker
    from langprune.store.rundir import create

    rd = create(tmp_path / "runs", "r1", {"id": "r1"})
    calls = []
    real = RunDir.set_status

    def full_twice(self: RunDir, state: str, **fields: Any) -> dict[str, Any]:
        calls.append(state)
        if len(calls) <= 2:
            raise _enospc(str(self.status_file))
        return real(self, state, **fields)

    monkeypatch.setattr(RunDir, "set_status", full_twice)
    monkeypatch.setattr(worker.time, "sleep", lambda s: None)
    fields = worker.failure_fields(_enospc(str(rd.metrics)), None, "r1")
    assert "the disk is full" in fields["error"] and str(rd.metrics) in fields["error"]
    assert fields["error"].endswith("then langprune retry r1")
    assert worker.record_final(rd, "failed", fields, retry_s=60) is True
    assert rd.status()["state"] == "failed" and rd.status()["error"] == fields["error"]

    calls.clear()
    monkeypatch.setattr(RunDir, "set_status", lambda self, state, **f: (_ for _ in ()).throw(
        _enospc(str(self.status_file))))  # fmt: skip
    assert worker.record_final(rd, "done", {}, retry_s=0) is False
    (line,) = worker._Current.unrecorded
    worker._Current.unrecorded.clear()
    assert "could not record 'done'" in line and str(rd.status_file) in line
    assert "langprune retry r1" in line
    assert rd.status()["state"] == "failed"  # the earlier, whole status.json: never half of one
