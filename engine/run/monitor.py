"""Read-only views of a workspace's runs for the CLI (no torch): the store's RunRecords of its
run directories, state counts, and human-readable sizes and durations."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from langprune.store import records
from langprune.store.records import RunRecord
from langprune.store.rundir import STATES, RunDir, iter_run_dirs
from langprune.workspace import runs_dir


def views(workspace: Path, run_ids: Iterable[str] | None = None) -> list[RunRecord]:
    """The records of every run (or of `run_ids`, those that exist), read now."""
    root = runs_dir(workspace)
    if run_ids is None:
        return [records.read(rd) for rd in iter_run_dirs(root)]
    return [records.read(RunDir(root / rid)) for rid in run_ids if RunDir(root / rid).exists()]


def counts(items: Iterable[RunRecord]) -> dict[str, int]:
    c = Counter(v.state for v in items)
    return {s: c.get(s, 0) for s in STATES}


def human_bytes(n: float | None) -> str:
    if not n:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "-"


def human_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def age(ts: float | None) -> float | None:
    return None if not ts else time.time() - float(ts)
