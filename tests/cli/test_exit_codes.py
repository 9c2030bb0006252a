"""Exit codes a script can trust, and plan's count by cell."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from langprune.cli.run import follow
from langprune.engine.run.launcher import plan_cells
from langprune.engine.spec.experiment import Experiment
from langprune.store import rundir
from tests.store.helpers import BASE, runs_of


def test_follow_exits_1_when_a_run_failed(workspace: Path, capsys) -> None:
    runs = runs_of()
    good, bad = runs[1], runs[2]
    for run, state in ((good, "done"), (bad, "failed")):
        rd = rundir.create(workspace / "runs", run.id, run.model_dump(mode="json"))
        rd.set_status(state, error="CUDA out of memory" if state == "failed" else None)
    with pytest.raises(typer.Exit) as exit_:
        follow(workspace, [good.id, bad.id])
    assert exit_.value.exit_code == 1
    err = capsys.readouterr().err
    assert f"run {bad.id} failed: CUDA out of memory" in err and good.id not in err
    follow(workspace, [good.id])  # all done: returns normally (exit 0)


def test_plan_counts_cells_and_evaluations_to_add(workspace: Path) -> None:
    for run in runs_of():
        rundir.create(workspace / "runs", run.id, run.model_dump(mode="json")).set_status("done")
    wide = Experiment.model_validate({**BASE, "evaluation": {"languages": ["en", "de", "sw"]}})
    plan = plan_cells(wide, workspace)
    # dense + 3 languages x 2 seeds, all pruned already under the narrower evaluation
    assert plan.sentence() == "7 cells done, 7 evaluations to add, 0 runs to prune"
    assert plan_cells(Experiment.model_validate(BASE), workspace).runs_done == [
        r.id for r in runs_of()
    ]
    more = Experiment.model_validate(
        {**BASE, "calibration": {**BASE["calibration"], "seeds": [0, 1, 2]}}
    )
    assert plan_cells(more, workspace).sentence() == (
        "7 cells done, 0 evaluations to add, 3 runs to prune"
    )
