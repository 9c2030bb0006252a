"""Grid preview for the compose screen: runs, runs already done, device-time estimate.

Runs in a thread worker (it reads run directories). The estimate is the mean recorded total time of
finished runs of the same model id, split into dense and pruned runs, times the runs still to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from langprune.engine.spec.experiment import Experiment
from langprune.store import records
from langprune.store.fs import read_json
from langprune.store.rundir import RunDir, iter_run_dirs
from langprune.tui.form import grid_sentence


@dataclass(frozen=True)
class Preview:
    runs: int
    done: int
    queued_or_running: int
    estimate_s: float | None  # device seconds for the runs still to do; None without history
    history: int  # finished runs of these models the estimate rests on
    sentence: str = ""  # the grid as a product (form.grid_sentence)


def past_seconds(runs_root: Path, model_ids: set[str]) -> dict[tuple[str, bool], list[float]]:
    """(model id, is dense) -> total seconds of each finished run of that model."""
    out: dict[tuple[str, bool], list[float]] = {}
    for rd in iter_run_dirs(runs_root):
        status = read_json(rd.status_file)
        if not status or status.get("state") != "done":
            continue  # the spec is read only for finished runs
        record = records.from_files(rd.id, rd.read_spec(), status)
        if record.seconds_total is None:
            continue
        if record.model_id in model_ids:
            key = (record.model_id, record.method == "dense")
            out.setdefault(key, []).append(record.seconds_total)
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
    total = 0.0
    unknown = False  # a run to do whose model has no finished run to go by
    for run in todo:
        past = history.get((run.model.id, run.is_dense)) or history.get(
            (run.model.id, not run.is_dense)
        )
        if not past:
            unknown = True
            break
        total += mean(past)
    estimate = None if unknown else total
    return Preview(
        runs=len(runs),
        done=done,
        queued_or_running=active,
        estimate_s=estimate,
        history=sum(len(v) for v in history.values()),
        sentence=grid_sentence(exp),
    )
