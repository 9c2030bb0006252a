"""Live state of every run, read straight from the run directories (no database, no UI).

The runs screen calls `RunPoller.poll()` from a thread worker about once a second. Specs never
change after creation, and a run is re-read only when the mtime of its status, events or metrics
changes, so a poll over thousands of finished runs costs three `stat`s each. A damaged run (rundir
`damage`) is shown as damaged, with the file, the reason and the fix.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langprune.store.fs import read_tail
from langprune.store.records import RunRecord, from_files
from langprune.store.rundir import DAMAGED, collapse_frames, damage_fix, iter_run_dirs
from langprune.vocab import WORKING_STATES


@dataclass
class RunPoller:
    """Reads every run directory; caches specs and unchanged statuses between polls."""

    runs_root: Path
    _specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _rows: dict[str, tuple[tuple[int, int, int], RunRecord]] = field(default_factory=dict)

    def poll(self) -> list[RunRecord]:
        rows: list[RunRecord] = []
        for rd in iter_run_dirs(self.runs_root):
            stamps = (_mtime(rd.status_file), _mtime(rd.events), _mtime(rd.metrics))
            cached = self._rows.get(rd.id)
            if cached and cached[0] == stamps:
                row = cached[1]
                if row.state in WORKING_STATES:  # stalled or not: the heartbeat's age decides
                    row = from_files(
                        rd.id,
                        row.spec,
                        dict(row.status),
                        row.event,
                        heartbeat_age=rd.heartbeat_age(),
                    )
                rows.append(row)
                continue
            status = rd.status()
            damage = rd.damage(status)  # a damaged run is shown as such, with its file and fix
            spec = self._specs.get(rd.id)
            if spec is None:
                spec = rd.read_spec() or {}
                if damage is None:
                    self._specs[rd.id] = spec
            started = status.get("state") not in ("queued", DAMAGED) and damage is None
            row = from_files(
                rd.id,
                spec,
                status,
                rd.last_event() if started else None,
                heartbeat_age=rd.heartbeat_age() if status.get("state") == "running" else None,
                damage=damage,
                fix=damage_fix(rd) if damage is not None else None,
            )
            self._rows[rd.id] = (stamps, row)
            rows.append(row)
        return rows


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return 0
    except OSError:  # unreadable: a damaged run, read again on every poll until repaired
        return -time.monotonic_ns()


def tail_lines(path: Path, max_lines: int = 200, max_bytes: int = 65536) -> list[str]:
    """The last lines of a (possibly growing) log file, reading only its end."""
    data = read_tail(path, max_bytes)
    if data is None:
        return []
    text = collapse_frames(data.decode("utf-8", errors="replace"))
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


def format_bytes(n: float | None) -> str:
    """'512 MiB', '1.2 GiB' or '-'."""
    if not n:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit in ("B", "KiB", "MiB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def now() -> float:
    return time.time()
