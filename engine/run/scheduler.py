"""The local scheduler: `python -m langprune.engine.run.scheduler --workspace WS` (no torch).

One per workspace (an flock on runner/scheduler.lock; a second one refuses). It watches the run
directories for queued local runs, spreads them over free GPU slots (runs of one model share a
worker), starts each worker detached with only its own GPU visible, notices workers that end,
marks runs of workers that died as "worker lost", and ingests finished runs into the store. When
nothing is queued or running it exits; `langprune run` starts a new one when needed.
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
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from types import FrameType

from langprune.engine.run import registry
from langprune.engine.run.registry import WorkerRecord
from langprune.engine.run.slots import Slot, detect_gpus, make_slots, plan_batches, resolve_gpus
from langprune.engine.run.state import refresh_lost
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
        lost = refresh_lost(self.workspace)
        log.info("worker %s ended (exit %s)%s", rec.id, code, f"; lost: {lost}" if lost else "")
        rec.remove()
        self.dirty = True

    def spawn(self, slot: Slot, run_ids: list[str]) -> None:
        worker_id = f"{slot.name}-{uuid.uuid4().hex[:6]}"
        rec = WorkerRecord(self.workspace, worker_id)
        rec.update(
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
        if pending and free:
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
        except Exception as exc:  # the store must never stop the runs
            log.warning("ingest failed: %s: %s", type(exc).__name__, exc)

    def serve(self) -> None:
        """Loop until nothing is queued or running for LINGER_S (or SIGTERM)."""
        refresh_lost(self.workspace)
        for rd in iter_run_dirs(runs_dir(self.workspace)):
            if rd.state() in FINAL_STATES:
                self.final_seen.add(rd.id)
        idle_since: float | None = None
        while not _Stop.requested:
            if self.tick():
                idle_since = None
            elif idle_since is None:
                idle_since = time.time()
            elif time.time() - idle_since >= LINGER_S:
                break
            time.sleep(POLL_S)
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
            write_json_atomic(
                info_file,
                {"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time()},
            )
            served = True
            Scheduler(workspace).serve()
        # The lock is free now. A launch that queued runs while we were leaving saw it held and
        # did not start a scheduler: look once more, and serve those runs too.
        if _Stop.requested or not pending_runs(workspace):
            return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m langprune.engine.run.scheduler")
    parser.add_argument("--workspace", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s scheduler[%(process)d]: %(message)s",
        stream=sys.stdout,
    )
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    workspace = args.workspace.resolve()
    make_private(workspace)  # its logs, slots.json and the workers it starts: user-only
    return serve(workspace)


if __name__ == "__main__":
    sys.exit(main())
