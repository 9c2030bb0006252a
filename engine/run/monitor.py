"""Read-only views of a workspace's runs for the CLI: states, progress, ETA (no torch)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langprune.store.rundir import RunDir, iter_run_dirs, progress_fraction
from langprune.vocab import FINAL_STATES, STATES, model_display_name
from langprune.workspace import runs_dir


@dataclass(frozen=True)
class RunView:
    id: str
    state: str
    label: str
    status: dict[str, Any]
    event: dict[str, Any] | None
    heartbeat_age: float | None

    @property
    def active(self) -> bool:
        return self.state not in FINAL_STATES

    @property
    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        return progress_fraction(self.event)

    @property
    def stage_text(self) -> str:
        if not self.event or self.state != "running":
            return ""
        e = self.event
        text = str(e.get("stage", ""))
        if e.get("total"):
            text += f" {e.get('step', 0)}/{e['total']}"
        if e.get("language"):
            text += f" [{e['language']}]"
        return text


def label(spec: dict[str, Any] | None) -> str:
    """A run in a few words: model method sparsity calibration-language seed."""
    if not spec:
        return "?"
    model = spec.get("model") or {}
    name = model_display_name(model)
    if spec.get("method") == "dense":
        return f"{name} dense"
    return (
        f"{name} {spec.get('method')} {spec.get('sparsity')} "
        f"calib={spec.get('calibration_language')} seed={spec.get('seed')}"
    )


def view(rd: RunDir) -> RunView:
    status = rd.status()
    return RunView(
        id=rd.id,
        state=str(status.get("state", "queued")),
        label=label(rd.read_spec()),
        status=status,
        event=rd.last_event(),
        heartbeat_age=rd.heartbeat_age(),
    )


def views(workspace: Path, run_ids: Iterable[str] | None = None) -> list[RunView]:
    root = runs_dir(workspace)
    if run_ids is None:
        return [view(rd) for rd in iter_run_dirs(root)]
    return [view(RunDir(root / rid)) for rid in run_ids if (root / rid / "spec.json").is_file()]


def counts(items: Iterable[RunView]) -> dict[str, int]:
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
