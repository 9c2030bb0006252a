"""The local scheduler: `python -m langprune.engine.run.scheduler --workspace WS` (no torch).

One per workspace (an flock on runner/scheduler.lock; a second one refuses). It watches the run
directories for queued local runs, spreads them over free GPU slots (runs of one model share a
worker), starts each worker detached with only its own GPU visible, notices workers that end,
marks runs of workers that died as "worker lost", and ingests finished runs into the store. When
nothing is queued or running it exits; `langprune run` starts a new one when needed.

A disk that refuses a write (full, over quota, read-only, failing) stops nothing for good: the pass
that hit it is dropped, one line goes to the log (when it can be written), and the scheduler tries
again every DISK_RETRY_S until the disk takes writes, then resumes. A pass changes a run only by
a whole atomic write, so an interrupted one leaves each run as it was: a run it could not start
stays queued, a status it could not update is updated by a later pass. A worker that a disk error
stopped before its runs began exits with DISK_EXIT (they stay queued); the next worker waits too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from types import FrameType

from langprune.engine.run import registry
from langprune.engine.run.registry import DISK_EXIT, WorkerRecord
from langprune.engine.run.slots import Slot, detect_gpus, make_slots, plan_batches, resolve_gpus
from langprune.engine.run.state import refresh_lost
from langprune.errors import DiskError, disk_error
from langprune.store import fs
from langprune.store.rundir import (
    RunDir,
    iter_run_dirs,
    read_json,
    write_json_atomic,
)
from langprune.vocab import FINAL_STATES
from langprune.workspace import make_private, runs_dir

POLL_S = 0.2
LINGER_S = 2.0  # stay a moment after the last run, to catch a launch that follows right away
INGEST_EVERY_S = 2.0
DISK_RETRY_S = float(os.environ.get("LANGPRUNE_DISK_RETRY_S") or 2.0)  # waits out a full disk

log = logging.getLogger("langprune.scheduler")


class _Stop:
    requested = False


def _on_term(signum: int, frame: FrameType | None) -> None:
    # Workers live in their own sessions and keep running; only the scheduler stops.
    _Stop.requested = True


def _model_key(rd: RunDir) -> str:
    """The run's model without its label: runs with equal keys can share a loaded model."""
    model = (rd.read_spec() or {}).get("model") or {}
    return json.dumps({k: v for k, v in model.items() if k != "label"}, sort_keys=True)


def pending_runs(workspace: Path, exclude: AbstractSet[str] = frozenset()) -> list[tuple[str, str]]:
    """Queued local runs not handed to a worker yet, oldest first: (run id, model key).

    A run whose status.json is damaged reads as `damaged`, never as queued, and one whose
    spec.json cannot be read is left alone too: `langprune status` reports both."""
    found = []
    for rd in iter_run_dirs(runs_dir(workspace)):
        status = rd.status()
        if status.get("state") != "queued" or rd.id in exclude:
            continue
        if status.get("executor", "local") != "local" or status.get("job_id"):
            continue
        if rd.read_spec() is None:
            continue
        found.append((float(status.get("queued_at") or 0), rd.id, _model_key(rd)))
    found.sort()
    return [(rid, model) for _, rid, model in found]


class Scheduler:
    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.final_seen: set[str] = set()
        self.last_ingest = 0.0
        self.dirty = False  # runs finished since the last ingest
        self.recorded_slots: list[dict[str, str | None]] | None = None  # last slots.json written
        self.disk: DiskError | None = None  # the disk problem being waited out
        self.hold_until = 0.0  # no worker starts before this (a worker just met a disk error)
        self.ingest_error = ""  # the last ingest failure logged (each distinct one is logged once)

    # -- workers ---------------------------------------------------------------------------------
    def live_workers(self) -> list[WorkerRecord]:
        """Workers that occupy a slot: children still running, or others holding their lock
        (started by an earlier scheduler of this workspace)."""
        live = []
        for rec in registry.workers(self.workspace):
            child = self.children.get(rec.id)
            if (child is not None and child.poll() is None) or rec.alive():
                live.append(rec)
            else:
                self._finished(rec)
        return live

    def _finished(self, rec: WorkerRecord) -> None:
        child = self.children.pop(rec.id, None)
        code = child.returncode if child is not None else None
        if code == DISK_EXIT:
            self.hold_until = time.time() + DISK_RETRY_S
            log.warning(
                "worker %s met a disk error before its runs began (see %s); they stay queued, "
                "next try in %.0f s", rec.id, rec.log, DISK_RETRY_S,
            )  # fmt: skip
        lost = refresh_lost(self.workspace)
        log.info("worker %s ended (exit %s)%s", rec.id, code, f"; lost: {lost}" if lost else "")
        rec.remove()
        self.dirty = True

    def spawn(self, slot: Slot, run_ids: list[str]) -> None:
        worker_id = f"{slot.name}-{uuid.uuid4().hex[:6]}"
        rec = WorkerRecord(self.workspace, worker_id)
        rec.update(  # also the probe of the disk: no worker starts where this cannot be written
            id=worker_id,
            slot=slot.name,
            gpu=slot.gpu,
            runs=run_ids,
            spawned_at=time.time(),
            scheduler_pid=os.getpid(),
        )
        env = slot.env(os.environ)
        env["LANGPRUNE_SPAWNED_AT"] = repr(time.time())
        cmd = [
            sys.executable,
            "-m",
            "langprune.engine.run.worker",
            "--workspace",
            str(self.workspace),
        ]
        try:
            with open(rec.log, "ab") as out:
                self.children[worker_id] = subprocess.Popen(
                    [*cmd, "--worker-id", worker_id, *run_ids],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: cancel signals it as a whole
                    close_fds=True,
                )
        except BaseException:
            rec.remove()  # nothing started: the runs stay queued for the next pass
            raise
        log.info("worker %s on %s: %s", worker_id, slot.name, " ".join(run_ids))

    # -- one pass --------------------------------------------------------------------------------
    def slots(self) -> list[Slot]:
        config = registry.read_config(self.workspace)
        try:
            gpus = resolve_gpus(config.get("gpus"), detect_gpus())
        except ValueError as exc:
            log.warning("%s; using every visible GPU", exc)
            gpus = detect_gpus()
        slots = make_slots(gpus, int(config.get("slots_per_gpu") or 1))
        described = [{"name": s.name, "gpu": s.gpu} for s in slots]
        if described != self.recorded_slots:  # for monitors: what each slot is
            registry.write_slots(self.workspace, described)
            self.recorded_slots = described
        return slots

    def tick(self) -> bool:
        """Start workers on free slots; True while anything is queued or running."""
        live = self.live_workers()
        records = [rec.read() for rec in live]
        used = {r.get("slot") for r in records}
        assigned = {rid for r in records for rid in r.get("runs", [])}
        pending = pending_runs(self.workspace, assigned)
        free = [s for s in self.slots() if s.name not in used]
        if pending and free and time.time() >= self.hold_until:
            busy_models = [
                _model_key(RunDir(runs_dir(self.workspace) / r["runs"][0]))
                for r in records
                if r.get("runs")
            ]
            for slot, batch in zip(
                free, plan_batches(pending, len(free), busy_models), strict=False
            ):
                self.spawn(slot, batch)
        self._maybe_ingest()
        return bool(live or pending)

    def _maybe_ingest(self) -> None:
        for rd in iter_run_dirs(runs_dir(self.workspace)):
            if rd.id not in self.final_seen and rd.state() in FINAL_STATES:
                self.final_seen.add(rd.id)
                self.dirty = True
        if self.dirty and time.time() - self.last_ingest >= INGEST_EVERY_S:
            self.ingest()

    def ingest(self) -> None:
        self.dirty = False
        self.last_ingest = time.time()
        try:
            from langprune.store.ingest import ingest

            report = ingest(self.workspace)
            log.info("ingested: %s", report)
            self.ingest_error = ""
        except Exception as exc:  # the store must never stop the runs
            self.dirty = True  # tried again in INGEST_EVERY_S: no finished run is left out
            problem = disk_error(exc)
            text = problem.report() if problem else f"{type(exc).__name__}: {exc}"
            if text != self.ingest_error:
                log.warning("ingest failed: %s", text.replace("\n", "; "))
                self.ingest_error = text

    def _start(self) -> bool:
        """The first pass: mark lost runs, note the finished ones (ingested already)."""
        refresh_lost(self.workspace)
        for rd in iter_run_dirs(runs_dir(self.workspace)):
            if rd.state() in FINAL_STATES:
                self.final_seen.add(rd.id)
        return True

    def attempt(self, step: Callable[[], bool]) -> bool:
        """Run one pass; a disk error drops it (logged once per outage) and counts as busy."""
        try:
            busy = step()
        except Exception as exc:
            problem = disk_error(exc)
            if problem is None:
                raise
            if self.disk is None or problem.message != self.disk.message:
                log.warning(
                    "%s; fix: %s; nothing is lost: retrying every %.0f s",
                    problem.message, problem.fix, DISK_RETRY_S,
                )  # fmt: skip
            self.disk = problem
            return True
        if self.disk is not None:
            log.info("the disk takes writes again: scheduling resumes")
            self.disk = None
        return busy

    def serve(self) -> None:
        """Loop until nothing is queued or running for LINGER_S (or SIGTERM)."""
        started = False
        idle_since: float | None = None
        while not _Stop.requested:
            if started:
                busy = self.attempt(self.tick)
            else:
                busy = self.attempt(self._start)
                started = self.disk is None
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.time()
            elif time.time() - idle_since >= LINGER_S:
                break
            time.sleep(DISK_RETRY_S if self.disk is not None else POLL_S)
        if self.dirty or self.children:
            self.ingest()


def serve(workspace: Path) -> int:
    """Hold the workspace's scheduler lock and serve; 3 when another scheduler holds it."""
    lock = registry.scheduler_lock(workspace)
    info_file = registry.runner_dir(workspace) / "scheduler.json"
    served = False
    while True:
        with fs.lock(lock) as held:
            if held is None:
                if served:
                    return 0  # a newer scheduler took over
                other = read_json(info_file) or {}
                print(
                    f"a scheduler is already running for {workspace} (pid {other.get('pid', '?')})",
                    file=sys.stderr,
                )
                return 3
            info = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time()}
            while not _Stop.requested and not _write_info(info_file, info):
                time.sleep(DISK_RETRY_S)
            served = True
            Scheduler(workspace).serve()
        # The lock is free now. A launch that queued runs while we were leaving saw it held and
        # did not start a scheduler: look once more, and serve those runs too.
        if _Stop.requested or not pending_runs(workspace):
            return 0


def _write_info(path: Path, info: dict[str, object]) -> bool:
    """Record the scheduler's pid for monitors; False (logged) when a disk error refused it."""
    try:
        write_json_atomic(path, info)
    except OSError as exc:
        problem = disk_error(exc)
        if problem is None:
            raise
        log.warning("%s; fix: %s; retrying", problem.message, problem.fix)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m langprune.engine.run.scheduler")
    parser.add_argument("--workspace", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s scheduler[%(process)d]: %(message)s",
        stream=sys.stdout,
    )
    logging.raiseExceptions = False  # a log line a full disk refused is dropped, never a crash
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    workspace = args.workspace.resolve()
    make_private(workspace)  # its logs, slots.json and the workers it starts: user-only
    return serve(workspace)


if __name__ == "__main__":
    sys.exit(main())
