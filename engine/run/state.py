"""Run liveness, shared by the launcher, the scheduler, the CLI and the TUI (no torch).

Who is working on a run: a worker process holding the run's lock (local), or a Slurm job still in
the queue. `refresh_lost` marks runs whose worker is known dead as failed "worker lost". The
Slurm queue helpers (squeue, scancel, submitit's log files) live here rather than in slurm.py so
that asking the queue never imports submitit, and the scheduler never imports the launcher.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langprune.engine.run.registry import pid_alive, runner_dir, try_lock
from langprune.store.rundir import RunDir, iter_run_dirs
from langprune.workspace import runs_dir

# A heartbeat older than this (with a free lock) means the worker is gone even when its pid cannot
# be checked (another host). The worker touches it every 2 s.
STALE_HEARTBEAT_S = 20.0
LOST = "worker lost"


def is_active(rd: RunDir, status: dict[str, Any]) -> bool:
    """A run some worker or Slurm job is working on right now."""
    if status.get("state") != "running":
        return False
    if rd.is_locked():
        return True
    return bool(status.get("job_id")) and jobs_alive({str(status["job_id"])}).get(
        str(status["job_id"]), False
    )


def refresh_lost(workspace: Path) -> list[str]:
    """Mark runs whose worker vanished (kill -9, reboot, Slurm job gone) as failed "worker lost".

    A run is lost when its state says running (or queued on Slurm) but nobody holds its lock, and
    its worker is known dead: the pid is gone (same host), the heartbeat is stale (other host), or
    its Slurm job has left the queue.
    """
    candidates = []
    jobs: set[str] = set()
    for rd in iter_run_dirs(runs_dir(workspace)):
        status = rd.status()
        state = status.get("state")
        if state == "running" or (state == "queued" and status.get("job_id")):
            candidates.append(rd)
            if status.get("job_id"):
                jobs.add(str(status["job_id"]))
    if not candidates:
        return []
    alive_jobs = jobs_alive(jobs) if jobs else {}
    here = socket.gethostname()
    lost = []
    for rd in candidates:
        with try_lock(rd.lock) as held:
            if held is None:
                continue  # a live worker holds it
            status = rd.status()  # again, under the lock: the worker may have just finished
            state = status.get("state")
            job = str(status["job_id"]) if status.get("job_id") else None
            if job is not None:
                if job not in alive_jobs or alive_jobs[job]:
                    continue  # still pending/running in Slurm, or Slurm cannot be asked here
                why = f"{LOST}: Slurm job {job} ended without finishing the run"
            elif state != "running":
                continue
            else:
                pid, host = status.get("pid"), status.get("host")
                age = rd.heartbeat_age()
                dead_here = host == here and isinstance(pid, int) and not pid_alive(pid)
                stale = age is None or age > STALE_HEARTBEAT_S
                if not (dead_here or stale):
                    continue
                why = f"{LOST} (pid {pid} on {host} is gone; last heartbeat {_ago(age)})"
            if state in ("running", "queued"):
                rd.set_status("failed", error=why)
                lost.append(rd.id)
    return lost


def _ago(age: float | None) -> str:
    return "never" if age is None else f"{age:.0f} s ago"


def jobs_alive(job_ids: Iterable[str]) -> dict[str, bool]:
    """Job id -> still known to Slurm's queue (pending, running, requeued, completing).

    {} when Slurm cannot be asked from here (no squeue, controller down): callers must then not
    conclude anything.
    """
    ids = set(job_ids)
    if not ids or not shutil.which("squeue"):
        return {}
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i|%T"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if out.returncode != 0:
        return {}
    queued = {line.split("|")[0].strip() for line in out.stdout.splitlines() if line.strip()}
    return {j: j in queued for j in ids}


def scancel(job_ids: Iterable[str]) -> None:
    ids = sorted(set(job_ids))
    if ids and shutil.which("scancel"):
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def log_files(workspace: Path, job_id: str) -> list[Path]:
    """submitit's stdout/stderr of a job: <slurm>/<job id>/<job id>_<task>_log.{out,err}."""
    folder = runner_dir(workspace) / "slurm" / job_id
    return sorted(folder.glob(f"{job_id}_*_log.*"))
