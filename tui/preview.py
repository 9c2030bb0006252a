"""Grid preview for the compose screen: runs, runs already done, device-time estimate.

Runs in a thread worker (it reads run directories). The estimate is the mean recorded total time of
finished runs of the same model id, split into dense and pruned runs, times the runs still to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from langprune.engine.spec.experiment import Experiment
from langprune.store.fs import read_json
from langprune.store.rundir import RunDir, iter_run_dirs


@dataclass(frozen=True)
class Preview:
    runs: int
    done: int
    queued_or_running: int
    estimate_s: float | None  # device seconds for the runs still to do; None without history
    history: int  # finished runs of these models the estimate rests on


def past_seconds(runs_root: Path, model_ids: set[str]) -> dict[tuple[str, bool], list[float]]:
    """(model id, is dense) -> total seconds of each finished run of that model."""
    out: dict[tuple[str, bool], list[float]] = {}
    for rd in iter_run_dirs(runs_root):
        status = read_json(rd.status_file) or {}
        if status.get("state") != "done":
            continue
        total = (status.get("seconds") or {}).get("total")
        if not isinstance(total, (int, float)):
            continue
        spec = rd.read_spec() or {}
        mid = (spec.get("model") or {}).get("id")
        if mid in model_ids:
            out.setdefault((mid, spec.get("method") == "dense"), []).append(float(total))
    return out


def preview(exp: Experiment, runs_root: Path) -> Preview:
    runs = exp.runs()
    done = active = 0
    todo = []
    for run in runs:
        rd = RunDir(runs_root / run.id)
        state = rd.state() if rd.exists() else None
        if state == "done":
            done += 1
        elif state in ("queued", "running"):
            active += 1
            todo.append(run)
        else:
            todo.append(run)
    history = past_seconds(runs_root, {m.id for m in exp.models})
    estimate: float | None = 0.0
    for run in todo:
        past = history.get((run.model.id, run.is_dense)) or history.get(
            (run.model.id, not run.is_dense)
        )
        if not past:
            estimate = None
            break
        estimate += mean(past)
    if not todo:
        estimate = 0.0
    return Preview(
        runs=len(runs),
        done=done,
        queued_or_running=active,
        estimate_s=estimate,
        history=sum(len(v) for v in history.values()),
    )
