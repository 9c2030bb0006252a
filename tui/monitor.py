"""The runs screen as a monitor: order, ETAs and slots, computed from what the runner writes.

Headless (no Textual, no torch); called from the runs screen's polling thread.

- **Order.** Running runs first (oldest start first), then queued runs in the order they will run,
  then finished ones (failed, cancelled, done; the latest first). The execution order follows the
  scheduler: runs a live worker already holds come in that worker's order; the rest by queue time,
  grouped by model (engine/run/slots.py `plan_batches` gives a model's runs to one worker, so the
  model is loaded once).
- **Estimates.** A run's expected duration is the mean `seconds.total` of the done runs of the same
  model and method (else of the same model, else of every done run). A running run has
  `expected x (1 - progress)` left. The queued runs are then dealt, in execution order, to the slot
  that frees first; a run's ETA is when it ends, the grid's ETA the last end. With no past run there
  is no estimate (None), never a guess.
- **Slots.** runner/slots.json (written by the scheduler) names the slots; runner/workers/*.json
  say which worker serves which slot and its runs. Without slots.json (Slurm, or no scheduler
  ever ran here) every running run is its own slot, named by its device. Memory: the worker's
  resident memory (psutil) when it runs on this host, else the last event's `mem_bytes`; per GPU,
  memory and utilisation from `nvidia-smi` when there is one.
"""

from __future__ import annotations

import heapq
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langprune.store.fs import lock_is_held, read_json
from langprune.store.records import RunRecord
from langprune.vocab import WORKING_STATES

FINISHED_ORDER = {"damaged": 0, "failed": 1, "cancelled": 2, "done": 3}
GPU_QUERY_EVERY_S = 5.0


@dataclass(frozen=True)
class GpuStats:
    index: str
    mem_used: int  # bytes
    mem_total: int
    util: float  # percent


@dataclass(frozen=True)
class SlotView:
    """One place a worker runs, and what runs there now."""

    name: str
    gpu: str | None
    run: RunRecord | None
    mem_bytes: int | None  # the worker's memory (RSS, or the last event's figure)
    gpu_stats: GpuStats | None = None


@dataclass(frozen=True)
class Monitor:
    rows: list[RunRecord]  # in display order (see the module docstring)
    eta_s: dict[str, float]  # run id -> seconds until it ends (active runs with an estimate)
    grid_eta_s: float | None  # seconds until every active run has ended; None without history
    history: int  # done runs the estimates rest on
    slots: list[SlotView]
    counts: dict[str, int] = field(default_factory=dict)


def _model_key(row: RunRecord) -> str:
    model = row.spec.get("model") or {}
    return json.dumps({k: v for k, v in model.items() if k != "label"}, sort_keys=True)


def _num(value: Any, default: float = 0.0) -> float:
    return (
        float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
    )


def execution_order(
    queued: Sequence[RunRecord], workers: Sequence[dict[str, Any]]
) -> list[RunRecord]:
    """Queued runs in the order the scheduler will start them (see the module docstring)."""
    by_id = {r.id: r for r in queued}
    out: list[RunRecord] = []
    for rec in workers:
        for rid in rec.get("runs") or []:
            if rid in by_id and by_id[rid] not in out:
                out.append(by_id[rid])
    rest = sorted(
        (r for r in queued if r not in out), key=lambda r: (_num(r.status.get("queued_at")), r.id)
    )
    groups: dict[str, list[RunRecord]] = {}
    for r in rest:
        groups.setdefault(_model_key(r), []).append(r)
    for group in groups.values():
        out.extend(group)
    return out


def display_order(rows: Sequence[RunRecord], workers: Sequence[dict[str, Any]]) -> list[RunRecord]:
    running = sorted(
        (r for r in rows if r.state in WORKING_STATES),
        key=lambda r: (_num(r.status.get("running_at")), r.id),
    )
    queued = execution_order([r for r in rows if r.state == "queued"], workers)
    seen = {r.id for r in running} | {r.id for r in queued}
    finished = sorted(
        (r for r in rows if r.id not in seen),
        key=lambda r: (FINISHED_ORDER.get(r.state, 4), -r.updated_at, r.id),
    )
    return running + queued + finished


class Durations:
    """Expected run durations from the done runs (mean seconds.total per model and method)."""

    def __init__(self, rows: Sequence[RunRecord]) -> None:
        self.by: dict[tuple[str, ...], list[float]] = {}
        self.count = 0
        for r in rows:
            if r.state == "done" and r.seconds_total is not None and r.seconds_total > 0:
                self.count += 1
                for key in ((r.model_id, r.method or ""), (r.model_id,), ()):
                    self.by.setdefault(key, []).append(r.seconds_total)

    def expected(self, row: RunRecord) -> float | None:
        for key in ((row.model_id, row.method or ""), (row.model_id,), ()):
            values = self.by.get(key)
            if values:
                return sum(values) / len(values)
        return None


def estimate(
    running: Sequence[RunRecord], queued: Sequence[RunRecord], n_slots: int, durations: Durations
) -> tuple[dict[str, float], float | None]:
    """Per-run ETAs and the grid's, dealing queued runs to the slot that frees first."""
    eta: dict[str, float] = {}
    free: list[float] = []
    for r in running:
        expected = durations.expected(r)
        if expected is not None:
            left = expected * (1.0 - r.progress)
        elif r.eta_s is not None:
            left = r.eta_s  # no history: the current stage's own estimate, a lower bound
        else:
            return {}, None
        eta[r.id] = left
        free.append(left)
    free += [0.0] * max(0, n_slots - len(free))
    heapq.heapify(free)
    for r in queued:
        expected = durations.expected(r)
        if expected is None:
            return eta, None
        start = heapq.heappop(free) if free else 0.0
        eta[r.id] = start + expected
        heapq.heappush(free, start + expected)
    return eta, (max(eta.values()) if eta else None)


class GpuReader:
    """GPU memory and utilisation from nvidia-smi, at most every GPU_QUERY_EVERY_S."""

    def __init__(self) -> None:
        self.smi = shutil.which("nvidia-smi")
        self._at = 0.0
        self._stats: dict[str, GpuStats] = {}

    def read(self) -> dict[str, GpuStats]:
        if self.smi is None or time.monotonic() - self._at < GPU_QUERY_EVERY_S:
            return self._stats
        self._at = time.monotonic()
        query = "--query-gpu=index,memory.used,memory.total,utilization.gpu"
        try:
            out = subprocess.run(
                [self.smi, query, "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return self._stats
        stats = {}
        for line in out.splitlines():
            parts = [p.strip() for p in line.split(",")]
            try:
                index, used, total, util = (
                    parts[0],
                    float(parts[1]),
                    float(parts[2]),
                    float(parts[3]),
                )
            except (IndexError, ValueError):
                continue  # "[N/A]" on some boards
            stats[index] = GpuStats(index, int(used * 2**20), int(total * 2**20), util)
        self._stats = stats
        return stats


def worker_rss(row: RunRecord) -> int | None:
    """Resident memory of the run's worker process when it runs on this host."""
    pid = row.status.get("pid")
    if not isinstance(pid, int) or pid <= 0 or row.host not in (None, socket.gethostname()):
        return None
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.Error, OSError):
        return None


def _memory(row: RunRecord) -> int | None:
    rss = worker_rss(row)
    if rss is not None:
        return rss
    event_mem = (row.event or {}).get("mem_bytes")
    return int(event_mem) if isinstance(event_mem, (int, float)) else None


def read_workers(workspace: Path) -> list[dict[str, Any]]:
    """The live local workers' records (runner/workers/*.json whose lock is held)."""
    folder = workspace / "runner" / "workers"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        if lock_is_held(path.with_name(path.name[: -len(".json")] + ".lock")):
            rec = read_json(path)
            if rec:
                out.append(rec)
    return out


def read_slot_names(workspace: Path) -> list[dict[str, Any]]:
    data = read_json(workspace / "runner" / "slots.json") or {}
    slots = data.get("slots")
    return [s for s in slots if isinstance(s, dict)] if isinstance(slots, list) else []


def slot_views(
    running: Sequence[RunRecord],
    slots: Sequence[dict[str, Any]],
    workers: Sequence[dict[str, Any]],
    gpus: dict[str, GpuStats],
) -> list[SlotView]:
    by_worker = {str(r.status.get("worker")): r for r in running if r.status.get("worker")}
    taken: set[str] = set()
    views = []
    for slot in slots:
        name, gpu = str(slot.get("name")), slot.get("gpu")
        run = None
        for rec in workers:
            if rec.get("slot") == name and str(rec.get("id")) in by_worker:
                run = by_worker[str(rec.get("id"))]
        if run is not None:
            taken.add(run.id)
        gpu_id = None if gpu is None else str(gpu)
        views.append(
            SlotView(
                name,
                gpu_id,
                run,
                _memory(run) if run else None,
                gpus.get(gpu_id) if gpu_id else None,
            )
        )
    for r in running:  # Slurm tasks, or workers of a scheduler that wrote no slots.json
        if r.id not in taken:
            visible = r.status.get("cuda_visible_devices")
            gpu_id = str(visible) if visible not in (None, "") else None
            name = str(r.status.get("job_id") or r.device or "worker")
            views.append(
                SlotView(name, gpu_id, r, _memory(r), gpus.get(gpu_id) if gpu_id else None)
            )
    return views


def build(
    rows: Sequence[RunRecord],
    workspace: Path,
    gpus: dict[str, GpuStats] | None = None,
) -> Monitor:
    """Everything the runs screen shows about the grid, from the rows and the runner's files."""
    workers = read_workers(workspace)
    slot_names = read_slot_names(workspace)
    ordered = display_order(rows, workers)
    running = [r for r in ordered if r.state in WORKING_STATES]
    queued = [r for r in ordered if r.state == "queued"]
    durations = Durations(rows)
    n_slots = len(slot_names) or max(1, len(running))
    eta, grid_eta = estimate(running, queued, n_slots, durations)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return Monitor(
        rows=ordered,
        eta_s=eta,
        grid_eta_s=grid_eta,
        history=durations.count,
        slots=slot_views(running, slot_names, workers, gpus or {}),
        counts=counts,
    )
