"""Live state of every run, read straight from the run directories (no database, no UI).

The runs screen calls `RunPoller.poll()` from a thread worker about once a second. Specs never
change after creation, and a status file is re-read only when its mtime changes, so a poll over
thousands of finished runs costs one `stat` each.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langprune.store.rundir import (
    RunDir,
    iter_run_dirs,
    progress_fraction,
    read_json,
    read_tail,
)
from langprune.vocab import FINAL_STATES, model_display_name


@dataclass(frozen=True)
class RunRow:
    """What the runs screen shows for one run."""

    id: str
    experiment: str
    model: str
    model_id: str
    method: str
    sparsity: str
    calib: str
    seed: str
    state: str
    stage: str
    progress: float  # 0..1
    eta_s: float | None
    tokens_per_s: float | None
    device: str
    host: str
    error: str
    updated_at: float
    seconds_total: float | None
    step: str = ""
    corpus: str = "-"
    nsamples: int | None = None
    seqlen: int | None = None
    achieved: float | None = None


def progress_of(state: str, event: dict[str, Any] | None) -> float:
    """Overall progress 0..1 from the state and the last progress event."""
    if state == "done":
        return 1.0
    return progress_fraction(event)


def _text(value: Any, default: str = "-") -> str:
    return default if value is None or value == "" else str(value)


def row_from(rd: RunDir, spec: dict[str, Any], status: dict[str, Any]) -> RunRow:
    state = str(status.get("state", "queued"))
    event = rd.last_event() if state not in ("queued",) else None
    model = spec.get("model") or {}
    model_id = str(model.get("id", "?"))
    name = model_display_name(model)
    seconds = status.get("seconds") or {}
    stage = (
        state if state in FINAL_STATES or state == "queued" else _text((event or {}).get("stage"))
    )
    step = ""
    if event and state == "running" and event.get("total"):
        step = f"{event.get('step', 0)}/{event.get('total')}"
    return RunRow(
        id=rd.id,
        experiment=_text(spec.get("experiment")),
        model=str(name),
        model_id=model_id,
        method=_text(spec.get("method")),
        sparsity=_text(spec.get("sparsity")),
        calib=_text(spec.get("calibration_language")),
        seed=_text(spec.get("seed")),
        state=state,
        stage=stage,
        progress=progress_of(state, event),
        eta_s=(event or {}).get("eta_s") if state == "running" else None,
        tokens_per_s=(event or {}).get("tokens_per_s") if state == "running" else None,
        device=_text(status.get("device")),
        host=_text(status.get("host")),
        error=str(status.get("error") or ""),
        updated_at=float(status.get("updated_at") or status.get("queued_at") or 0.0),
        seconds_total=seconds.get("total") if isinstance(seconds, dict) else None,
        step=step,
        corpus=_text((spec.get("corpus") or {}).get("source")),
        nsamples=spec.get("nsamples"),
        seqlen=spec.get("seqlen"),
        achieved=status.get("achieved_sparsity"),
    )


@dataclass
class RunPoller:
    """Reads every run directory; caches specs and unchanged statuses between polls."""

    runs_root: Path
    _specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _rows: dict[str, tuple[int, int, RunRow]] = field(default_factory=dict)

    def poll(self) -> list[RunRow]:
        rows: list[RunRow] = []
        for rd in iter_run_dirs(self.runs_root):
            spec = self._specs.get(rd.id)
            if spec is None:
                spec = rd.read_spec() or {}
                self._specs[rd.id] = spec
            try:
                st_mtime = os.stat(rd.status_file).st_mtime_ns
            except FileNotFoundError:
                st_mtime = 0
            try:
                ev_mtime = os.stat(rd.events).st_mtime_ns
            except FileNotFoundError:
                ev_mtime = 0
            cached = self._rows.get(rd.id)
            if cached and cached[0] == st_mtime and cached[1] == ev_mtime:
                rows.append(cached[2])
                continue
            status = read_json(rd.status_file) or {"state": "queued"}
            row = row_from(rd, spec, status)
            self._rows[rd.id] = (st_mtime, ev_mtime, row)
            rows.append(row)
        return rows


def tail_lines(path: Path, max_lines: int = 200, max_bytes: int = 65536) -> list[str]:
    """The last lines of a (possibly growing) log file, reading only its end."""
    data = read_tail(path, max_bytes)
    if data is None:
        return []
    text = data.decode("utf-8", errors="replace").replace("\r", "\n")
    lines = text.splitlines()
    if len(data) == max_bytes and lines:
        lines = lines[1:]  # the first line was probably cut by the seek
    return lines[-max_lines:]


def format_duration(seconds: float | None) -> str:
    """'1h02m', '3m05s', '12s' or '-'."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "-"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def now() -> float:
    return time.time()
