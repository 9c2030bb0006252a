"""Eight processes writing runs, ingesting and querying one workspace at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from langprune.store.db import connect
from langprune.workspace import db_path
from tests.conftest import REPO

PROCESSES = 8


def test_eight_processes_no_error_no_lost_row(workspace: Path) -> None:
    (workspace / "runs").mkdir(parents=True)
    barrier = workspace.parent / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store.hammer", str(workspace), str(i), str(barrier)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    deadline = time.time() + 90
    while len(list(barrier.glob("ready-*"))) < PROCESSES and time.time() < deadline:
        time.sleep(0.05)
    now = time.time()
    go = barrier / ".go"
    go.write_text(f"{now + 3.0} {now + 4.5}")
    go.rename(barrier / "go")  # appears whole
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    for r in reports:
        assert r["errors"] == [], r["errors"][0]
        assert r["queries"] > 0
    expected = {rid: n for r in reports for rid, n in r["written"].items()}
    assert len(expected) >= PROCESSES  # every process got to write
    # What the processes left behind, read directly (no ingest here).
    with connect(db_path(workspace), read_only=True) as con:
        got = dict(con.execute("SELECT run_id, count(*) FROM metrics GROUP BY 1").fetchall())
        states = dict(con.execute("SELECT id, state FROM runs").fetchall())
    assert got == expected
    assert set(states.values()) == {"done"} and set(states) == set(expected)
    print({"runs": len(expected), "queries": sum(r["queries"] for r in reports)})


def test_threads_of_one_process_share_the_store(workspace: Path) -> None:
    """The TUI queries from worker threads while another thread ingests."""
    import threading

    from langprune.store.ingest import ingest
    from langprune.store.queries import compare, list_runs
    from tests.store.helpers import write_known

    write_known(workspace)
    ingest(workspace)
    errors: list[str] = []
    done = [0] * 4
    end = time.time() + 1.5

    def work(i: int) -> None:
        while time.time() < end:
            try:
                if i == 0:
                    ingest(workspace)
                elif i % 2:
                    assert compare(workspace, "ppl", refresh=False).cell("en", "en").n == 2
                else:
                    assert len(list_runs(workspace, "method=wanda", refresh=False)) == 6
                done[i] += 1
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and all(done)
