"""`cancel` and `retry` take the filter terms of `results` and ask before stopping or throwing away
work: on a terminal they ask (y/N), `--yes` skips the question, and without a terminal and
without --yes they refuse with one line, exit 2, nothing changed."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from langprune.store.rundir import RunDir, iter_run_dirs
from tests.conftest import run_cli
from tests.tui import fakews

# run index -> state: two queued wanda runs, a queued sparsegpt one, two failed ones
STATES = {5: "queued", 9: "queued", 13: "queued", 8: "failed", 20: "failed"}


def _ws(tmp_path: Path) -> tuple[Path, list[str]]:
    ws = tmp_path / "ws"
    return ws, fakews.build(ws, states=STATES)


def _states(ws: Path) -> dict[str, str]:
    return {rd.id: rd.state() for rd in iter_run_dirs(ws / "runs")}


def _spec(ws: Path, rid: str) -> dict:
    return RunDir(ws / "runs" / rid).read_spec() or {}


def _on_a_terminal(ws: Path, args: list[str], answer: str) -> str:
    """Run the CLI with a pseudo-terminal as stdin and stdout; answer its question."""
    main, sub = pty.openpty()
    env = {**os.environ, "LANGPRUNE_HOME": str(ws), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "langprune", *args], stdin=sub, stdout=sub, stderr=sub, env=env
    )
    os.close(sub)
    out = b""
    deadline = time.monotonic() + 120
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if not answered and b"[y/N]" in out:
                os.write(main, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(main)
    return out.decode("utf-8", "replace")


def test_cancel_by_filter_asks_on_a_terminal_and_names_the_runs(tmp_path: Path) -> None:
    ws, ids = _ws(tmp_path)
    wanda_queued = [ids[i] for i in (5, 9, 13) if _spec(ws, ids[i])["method"] == "wanda"]
    assert wanda_queued
    before = _states(ws)
    out = _on_a_terminal(ws, ["cancel", "experiment=snap", "method=wanda"], "n")
    n = len(wanda_queued)
    assert f"Cancel {n} queued run{'s' if n > 1 else ''} of experiment snap?" in out
    assert "not cancelled" in out and _states(ws) == before

    out = _on_a_terminal(ws, ["cancel", "experiment=snap", "method=wanda"], "y")
    after = _states(ws)
    # exactly the queued wanda runs, recomputed from the specs
    changed = {rid for rid in after if after[rid] != before[rid]}
    assert changed == set(wanda_queued)
    assert all(after[rid] == "cancelled" for rid in changed)


def test_without_a_terminal_it_refuses_in_one_line_unless_yes(tmp_path: Path) -> None:
    ws, ids = _ws(tmp_path)
    before = _states(ws)
    out = run_cli("cancel", "state=queued", workspace=ws, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Cancel 3 queued runs of experiment snap?" in lines[0]
    assert "--yes" in lines[0]
    assert _states(ws) == before

    out = run_cli("retry", "state=failed", workspace=ws, stdin=subprocess.DEVNULL)
    assert out.returncode == 2 and "Retry 2 failed runs" in out.stderr
    assert _states(ws) == before

    out = run_cli("cancel", "state=queued", "--yes", workspace=ws, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    after = _states(ws)
    assert {rid for rid in after if after[rid] != before[rid]} == {ids[i] for i in (5, 9, 13)}


def test_retry_of_a_done_run_asks_and_a_bad_term_is_the_results_message(tmp_path: Path) -> None:
    ws, ids = _ws(tmp_path)
    # a single queued run by id: nothing to ask, it is cancelled (first: `retry` below restarts
    # the scheduler this fake workspace lacks, which would start the queued runs)
    out = run_cli("cancel", ids[5], workspace=ws, stdin=subprocess.DEVNULL)
    assert out.returncode == 0 and RunDir(ws / "runs" / ids[5]).state() == "cancelled"
    out = _on_a_terminal(ws, ["retry", ids[0]], "n")
    assert "Retry 1 done run of experiment snap?" in out and "discarded" in out
    assert RunDir(ws / "runs" / ids[0]).state() == "done"
    # the filter language is the one of `results`: same refusal, exit 2
    bad = run_cli("retry", "methd=wanda", workspace=ws, stdin=subprocess.DEVNULL)
    same = run_cli("results", "methd=wanda", workspace=ws, stdin=subprocess.DEVNULL)
    assert bad.returncode == same.returncode == 2
    assert "unknown key 'methd'" in bad.stderr
    assert bad.stderr.splitlines()[0] == same.stderr.splitlines()[0]
