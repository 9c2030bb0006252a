"""status, results, plan at 80 columns: whole run ids, ISO times, the workspace named, active
runs first; results --sort and --metrics; hints keep --workspace. Real `langprune` processes over
run dirs written by store/rundir.py (tests/tui/fakews.py)."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from langprune.store.rundir import RunDir
from tests.tui import fakews

EPOCH = re.compile(r"\b1\d{9}\.\d")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?Z")


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """No queued run (status would start a scheduler for it); the running run's lock held."""
    root = tmp_path / "ws"
    ids = fakews.build(root, states={7: "running", 8: "failed"})
    with RunDir(root / "runs" / ids[7]).hold_lock():
        yield root, ids


def cli(ws: Path, *args: str, width: int = 80) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS=str(width), LINES="200", LANGPRUNE_HOME="/nonexistent")
    return subprocess.run(
        [sys.executable, "-m", "langprune", "--workspace", str(ws), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _first_line_names(out: str, ws: Path) -> None:
    assert out.splitlines()[0] == f"workspace: {ws}"


def test_status_names_the_workspace_and_keeps_ids_whole(ws) -> None:
    root, ids = ws
    done = cli(root, "status")
    assert done.returncode == 0, done.stderr
    _first_line_names(done.stdout, root)
    lines = done.stdout.splitlines()
    for rid in (ids[7], ids[8]):  # the running and the failed run
        assert any(rid in line for line in lines), rid
    assert not EPOCH.search(done.stdout)
    assert ISO.search(done.stdout)  # when the running run started
    assert done.stdout.index("running") < done.stdout.index("failed")


def test_status_running_runs_fit_80_columns_and_are_one_row_when_wide(ws) -> None:
    root, ids = ws
    rd = RunDir(root / "runs" / ids[7])
    spec = rd.read_spec() or {}
    label = f"calib={spec['calibration_language']} seed={spec['seed']}"
    narrow = cli(root, "status").stdout.splitlines()
    assert all(len(line) <= 80 for line in narrow), narrow
    at = next(i for i, line in enumerate(narrow) if line.startswith(f" {ids[7]}  "))
    assert label in narrow[at] and ISO.search(narrow[at])  # id, start time and run on one line
    assert "%" in narrow[at + 1] and "ETA" in narrow[at + 1]  # its progress on the next
    wide = cli(root, "status", width=160).stdout.splitlines()
    row = next(line for line in wide if line.startswith(f" {ids[7]} "))
    assert label in row and "%" in row and ISO.search(row)


def test_results_at_80_columns(ws) -> None:
    root, ids = ws
    done = cli(root, "results")
    assert done.returncode == 0, done.stderr
    _first_line_names(done.stdout, root)
    rows = [line for line in done.stdout.splitlines() if re.match(r"^ [0-9a-f]{12} ", line)]
    assert {line.split()[0] for line in rows} == set(ids)  # every id whole, one line each
    assert rows[0].split()[0] == ids[7]  # the running run first
    assert all(len(line) <= 80 for line in done.stdout.splitlines())
    assert not EPOCH.search(done.stdout) and ISO.search(done.stdout)
    as_csv = cli(root, "results", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert table[0]["id"] == ids[7]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["updated_at"]) for r in table)


def test_results_sort_and_metrics_wide_table(ws) -> None:
    root, ids = ws
    done = cli(root, "results", "--metrics", "--sort", "-ppl:en", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    # the truth, from the run dirs: each done run's en perplexity
    truth = {}
    for rid in ids:
        for m in RunDir(root / "runs" / rid).read_metrics():
            truth.setdefault(rid, {})[f"{m['metric']}:{m['language']}"] = m["value"]
    with_values = [r for r in table if r["ppl:en"]]
    assert {r["id"] for r in with_values} == {rid for rid in truth}
    for r in with_values:
        for col in ("ppl:en", "ppl:de", "bpb:es"):
            assert float(r[col]) == pytest.approx(truth[r["id"]][col])
    values = [float(r["ppl:en"]) for r in with_values]
    assert values == sorted(values, reverse=True)
    assert table[-1]["ppl:en"] == ""  # runs without the metric last
    # the table form at 80 columns: whole ids, every metric column
    wide = cli(root, "results", "--metrics", "--sort", "ppl:en")
    assert "ppl" in wide.stdout and all(len(x) <= 80 for x in wide.stdout.splitlines())
    assert sum(1 for rid in ids if rid in wide.stdout) == len(ids)


def test_results_sort_by_an_unknown_column_is_refused(ws) -> None:
    root, _ = ws
    done = cli(root, "results", "--sort", "sparsty")
    assert done.returncode == 2
    assert "--sort sparsty" in done.stderr and "did you mean 'sparsity'" in done.stderr


def test_plan_at_80_columns(ws) -> None:
    root, _ = ws
    done = cli(root, "plan", "smoke")
    assert done.returncode == 0, done.stderr
    _first_line_names(done.stdout, root)
    from langprune.engine.spec import presets

    for run in presets.load("smoke").runs():
        assert re.search(rf"^ {run.id} ", done.stdout, re.M), run.id


def test_hints_keep_the_workspace_option(tmp_path: Path) -> None:
    import typer.main

    from langprune.cli import app
    from langprune.cli.common import State, command_hint

    command = typer.main.get_command(app)
    ws = tmp_path / "my ws"
    with typer.Context(command, obj=State(workspace_option=ws)) as ctx:
        assert command_hint(ctx, "attach") == f"langprune --workspace '{ws}' attach"
    with typer.Context(command, obj=State()) as ctx:
        assert command_hint(ctx, "status --watch") == "langprune status --watch"
