"""Where the runner keeps its own state in a workspace, next to the run directories.

<workspace>/runner/
  scheduler.lock   flock held by the one live scheduler of the workspace
  scheduler.json   its pid, start time and host
  scheduler.log    its stdout/stderr
  config.json      the slots the latest `langprune run` asked for (GPUs, slots per GPU)
  slots.json       the slots the live scheduler serves ({"slots": [{"name", "gpu"}], "updated_at"}),
                   rewritten when they change; monitors (the TUI runs screen) read it
  workers/<id>.json  one record per local worker: slot, runs, pid, start time
  workers/<id>.lock  flock held by that worker while it is alive
  workers/<id>.log   its stdout/stderr outside of runs (each run's output goes to the run's log.txt)
  slurm/           submitit's folder: batch scripts, pickles, logs

No torch: the launcher, scheduler and CLI read these.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langprune.store.fs import lock_is_held, read_json, write_json_atomic


def runner_dir(workspace: Path) -> Path:
    path = workspace / "runner"
    (path / "workers").mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


# The exit status of a worker that a disk error (full, read-only...) stopped before its runs
# began: they stay queued, and the scheduler waits before it starts the next worker.
DISK_EXIT = 75  # EX_TEMPFAIL


def pid_alive(pid: int | None) -> bool:
    """True while process `pid` exists on this host and is not a zombie (a killed worker whose
    parent has not reaped it yet is dead for our purposes)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)


@dataclass(frozen=True)
class WorkerRecord:
    """One local worker's files."""

    workspace: Path
    id: str

    @property
    def base(self) -> Path:
        return runner_dir(self.workspace) / "workers" / self.id

    # Appended, not with_suffix: a worker id may contain dots.
    json_file = property(lambda self: self.base.parent / f"{self.id}.json")
    lock = property(lambda self: self.base.parent / f"{self.id}.lock")
    log = property(lambda self: self.base.parent / f"{self.id}.log")

    def read(self) -> dict[str, Any]:
        return read_json(self.json_file) or {}

    def update(self, **fields: Any) -> None:
        data = self.read()
        data.update(fields)
        write_json_atomic(self.json_file, data)

    def alive(self) -> bool:
        return lock_is_held(self.lock)

    def remove(self) -> None:
        for path in (self.json_file, self.lock):
            path.unlink(missing_ok=True)


def workers(workspace: Path) -> list[WorkerRecord]:
    folder = runner_dir(workspace) / "workers"
    return [WorkerRecord(workspace, p.name[: -len(".json")]) for p in sorted(folder.glob("*.json"))]


def scheduler_lock(workspace: Path) -> Path:
    return runner_dir(workspace) / "scheduler.lock"


def scheduler_info(workspace: Path) -> dict[str, Any] | None:
    """The live scheduler's record, or None when no scheduler runs for this workspace."""
    if not lock_is_held(scheduler_lock(workspace)):
        return None
    return read_json(runner_dir(workspace) / "scheduler.json") or {}


def read_config(workspace: Path) -> dict[str, Any]:
    return read_json(runner_dir(workspace) / "config.json") or {}


def write_config(workspace: Path, **fields: Any) -> None:
    write_json_atomic(runner_dir(workspace) / "config.json", fields)


def write_slots(workspace: Path, slots: list[dict[str, Any]]) -> None:
    """Record the slots the scheduler serves: [{"name": "gpu0-0", "gpu": "0"}, ...]."""
    write_json_atomic(
        runner_dir(workspace) / "slots.json", {"slots": slots, "updated_at": time.time()}
    )


def read_slots(workspace: Path) -> list[dict[str, Any]]:
    """The slots the scheduler last recorded ([] when none was ever written)."""
    data = read_json(workspace / "runner" / "slots.json") or {}
    slots = data.get("slots")
    return [s for s in slots if isinstance(s, dict)] if isinstance(slots, list) else []
