"""The local runner with real processes on a tiny random model: detach, survive, lose, cancel."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from langprune.engine.run import registry
from langprune.store.rundir import RunDir
from tests.engine.run.helpers import (
    all_final,
    cli,
    describe,
    env_for,
    metric_values,
    runs,
    scheduler_gone,
    wait_for,
    write_preset,
)

pytestmark = pytest.mark.slow


def _proc_state(pid: int) -> str | None:
    """The kernel's state letter of a process ('Z' for a zombie), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return None


def _gone(pid: int) -> bool:
    return _proc_state(pid) in (None, "Z", "X")


def _running_in(rd: RunDir, stage: str) -> bool:
    event = rd.last_event() or {}
    return rd.state() == "running" and event.get("stage") == stage


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return tmp_path / "ws"


def test_grid_finishes_after_the_launcher_exits_and_is_ingested(ws: Path, tmp_path: Path) -> None:
    preset = write_preset(tmp_path, methods=("wanda",), languages=("en", "de"))  # 3 runs
    t0 = time.time()
    out = cli(ws, "run", str(preset))
    assert out.returncode == 0, out.stderr
    assert time.time() - t0 < 20, "run without --wait must return at once"
    assert "3 queued" in out.stdout and "langprune attach" in out.stdout
    # the scheduler holds its lock when `run` returns: a look right after finds it, and
    # `attach` starts no second one
    assert registry.scheduler_info(ws) is not None
    assert "no scheduler" not in cli(ws, "status").stderr
    # The launching process is gone; the grid goes on without it.
    wait_for(lambda: all_final(ws, 3), 120, "the grid to finish")
    assert {rd.state() for rd in runs(ws)} == {"done"}, describe(ws)
    wait_for(lambda: scheduler_gone(ws), 30, "the scheduler to finish")
    from langprune.store.queries import list_runs

    stored = list_runs(ws, refresh=False)  # what the scheduler ingested, no refresh here
    assert sorted(r["id"] for r in stored) == sorted(rd.id for rd in runs(ws))
    assert {r["state"] for r in stored} == {"done"} and all(r["n_metrics"] for r in stored)
    status = cli(ws, "status")
    assert "3 done" in status.stdout


def test_worker_survives_sighup_to_the_launching_terminal(ws: Path, tmp_path: Path) -> None:
    preset = write_preset(tmp_path, methods=("wanda",), dense=False)
    env = env_for(ws, LANGPRUNE_SLOW_STAGES="prune=0.4")
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        os.execve(
            sys.executable, [sys.executable, "-m", "langprune", "run", str(preset), "--wait"], env
        )
    try:
        (rd,) = wait_for(lambda: runs(ws), 60, "the run directory")
        wait_for(lambda: _running_in(rd, "prune"), 90, "pruning to start")
        # The terminal goes away: SIGHUP to its process group, then the pty closes.
        os.killpg(pid, signal.SIGHUP)
        while select.select([master], [], [], 0.2)[0]:
            try:
                if not os.read(master, 4096):
                    break
            except OSError:
                break
    finally:
        os.close(master)
    _, code = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(code) or os.WEXITSTATUS(code) != 0, "the launcher should have died"
    assert rd.state() == "running"
    wait_for(lambda: all_final(ws, 1), 90, "the run to finish")
    assert rd.state() == "done", describe(ws)


def test_kill9_mid_pruning_is_worker_lost_and_retry_matches_a_clean_run(
    ws: Path, tmp_path: Path
) -> None:
    preset = write_preset(tmp_path, methods=("sparsegpt",), dense=False)
    clean_ws = tmp_path / "clean"
    assert cli(clean_ws, "run", str(preset)).returncode == 0
    out = cli(ws, "run", str(preset), env=env_for(ws, LANGPRUNE_SLOW_STAGES="prune=0.5"))
    assert out.returncode == 0, out.stderr
    (rd,) = wait_for(lambda: runs(ws), 60, "the run directory")
    wait_for(lambda: _running_in(rd, "prune"), 90, "pruning to start")
    # Without a scheduler watching, the loss must be found by the next status check.
    sched = registry.scheduler_info(ws)
    assert sched is not None
    os.kill(sched["pid"], signal.SIGTERM)
    wait_for(lambda: scheduler_gone(ws), 10, "the scheduler to stop")
    assert rd.state() == "running", "stopping the scheduler must not stop the worker"
    os.kill(rd.status()["pid"], signal.SIGKILL)
    wait_for(lambda: not rd.is_locked(), 5, "the lock to be released")

    status = cli(ws, "status", env=env_for(ws, COLUMNS="200"))
    assert rd.state() == "failed" and "worker lost" in rd.status()["error"]
    assert "worker lost" in status.stdout

    retried = cli(ws, "retry", "--failed", "--yes")
    assert rd.id in retried.stdout, retried.stderr
    wait_for(lambda: all_final(ws, 1) and all_final(clean_ws, 1), 120, "retry and clean run")
    (clean,) = runs(clean_ws)
    assert rd.state() == clean.state() == "done", describe(ws) + describe(clean_ws)
    assert metric_values(rd) == metric_values(clean)
    assert rd.status()["achieved_sparsity"] == clean.status()["achieved_sparsity"]
    assert rd.status()["attempts"] == 1


def test_cancel_within_5s_and_a_second_scheduler_refuses(ws: Path, tmp_path: Path) -> None:
    preset = write_preset(tmp_path, methods=("wanda",), dense=False)
    env = env_for(ws, LANGPRUNE_SLOW_STAGES="prune=2")
    assert cli(ws, "run", str(preset), env=env).returncode == 0
    (rd,) = wait_for(lambda: runs(ws), 60, "the run directory")
    wait_for(lambda: _running_in(rd, "prune"), 90, "pruning to start")

    second = subprocess.run(
        [sys.executable, "-m", "langprune.engine.run.scheduler", "--workspace", str(ws)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 3 and "already running" in second.stderr

    worker = rd.status()["pid"]
    t0 = time.time()
    out = cli(ws, "cancel", rd.id, "--yes")
    assert out.returncode == 0 and "cancelled" in out.stdout, out.stderr
    wait_for(lambda: _gone(worker), 5, "the worker to exit")
    assert time.time() - t0 < 5
    assert rd.state() == "cancelled"
    assert rd.status()["error"] == "cancelled (SIGTERM)", "the worker itself should stop cleanly"
    wait_for(lambda: scheduler_gone(ws), 15, "the idle scheduler to exit")


def test_each_worker_sees_only_its_own_fake_gpu(ws: Path, tmp_path: Path) -> None:
    preset = write_preset(tmp_path, methods=("wanda",), languages=("en", "de"))  # 3 runs
    env = env_for(ws, LANGPRUNE_GPUS="0,1,3")
    assert cli(ws, "run", str(preset), env=env).returncode == 0
    wait_for(lambda: all_final(ws, 3), 120, "the grid to finish")
    seen = [rd.status() for rd in runs(ws)]
    assert all(s["state"] == "done" for s in seen), describe(ws)
    # three slots, three runs of one model: one worker per GPU, each seeing only its own
    assert sorted(s["cuda_visible_devices"] for s in seen) == ["0", "1", "3"]
    assert len({s["worker"] for s in seen}) == 3

    # --gpus narrows the slots; --force redoes the pruned runs but reuses the dense baseline
    wait_for(lambda: scheduler_gone(ws), 30, "the scheduler to finish")
    out = cli(ws, "run", str(preset), "--gpus", "3", "--force", env=env)
    assert "2 queued, 1 skipped" in out.stdout, out.stdout + out.stderr
    wait_for(lambda: all_final(ws, 3), 120, "the forced runs")
    redone = [rd.status() for rd in runs(ws) if rd.read_spec()["method"] != "dense"]
    assert [s["cuda_visible_devices"] for s in redone] == ["3", "3"]
    assert len({s["worker"] for s in redone}) == 1  # one model, one slot: one worker
    bad = cli(ws, "run", str(preset), "--gpus", "7", env=env)
    assert bad.returncode == 2 and "GPU 7 is not available" in bad.stderr
