"""store/fs.py: atomic replace, whole-line JSONL, tails, and the one lock API (real processes)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import pytest

from langprune.store import fs
from langprune.store.rundir import RunDir, create


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    fs.write_json_atomic(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    fs.write_text_atomic(target, "second\n")
    assert target.read_text() == "second\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    fs.write_json_atomic(target, {"old": True})
    with pytest.raises(TypeError):
        fs.write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_jsonl_reader_skips_torn_tail_and_corrupt_lines(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    fs.append_jsonl(path, {"i": 1})
    with open(path, "ab") as fh:
        fh.write(b"{not json}\n")
    fs.append_jsonl(path, {"i": 2})
    whole = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(b'{"i": 3')  # being written
    records, offset = fs.read_jsonl(path)
    assert records == [{"i": 1}, {"i": 2}]
    assert offset == whole
    with open(path, "ab") as fh:
        fh.write(b"}\n")
    assert fs.read_jsonl(path, offset) == ([{"i": 3}], path.stat().st_size)
    assert fs.last_jsonl(path) == {"i": 3}
    assert fs.read_tail(path, 6) == b'": 3}\n'
    assert fs.read_tail(tmp_path / "missing") is None


def _hold(path: str, ready: Any, release: Any) -> None:
    with fs.lock(Path(path)) as held:
        assert held is not None
        ready.set()
        release.wait(10)


def test_lock_excludes_other_processes_and_dies_with_them(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(path), ready, release))
    proc.start()
    try:
        assert ready.wait(10)
        assert fs.lock_is_held(path)
        t0 = time.monotonic()
        with fs.lock(path, timeout=0.2) as held:
            assert held is None
        assert time.monotonic() - t0 >= 0.2
        with fs.lock(path, shared=True) as held:
            assert held is None  # shared waits for an exclusive holder too
    finally:
        os.kill(proc.pid, 9)  # killed, not released: the kernel must drop the flock
        proc.join(10)
    assert not fs.lock_is_held(path)
    with fs.lock(path) as held:
        assert held is not None


def test_shared_locks_coexist(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with fs.lock(path, shared=True) as a, fs.lock(path, shared=True) as b:
        assert a is not None and b is not None
        with fs.lock(path) as c:
            assert c is None


def test_rundir_reset_and_keep_metrics(tmp_path: Path) -> None:
    rd = create(tmp_path, "r1", {"id": "r1"})
    rd.set_status("running")
    rd.add_metric({"kind": "perplexity", "value": 1.0})
    rd.add_metric({"kind": "task", "value": 2.0})
    rd.add_event(stage="prune", step=1, total=2)
    rd.keep_metrics(lambda r: r["kind"] != "task")
    assert rd.read_metrics() == [{"kind": "perplexity", "value": 1.0}]
    rd.set_status("failed", error="boom")
    (rd.path / "checkpoint").write_text("x")
    rd.log.write_text("attempt 1\n")
    status = rd.reset(("checkpoint",), note="retry")
    assert status["state"] == "queued" and status["attempts"] == 1 and status["note"] == "retry"
    assert RunDir(rd.path).status() == status
    assert rd.read_metrics() == [] and rd.last_event() is None
    assert not (rd.path / "checkpoint").exists()
    assert rd.log.read_text() == "attempt 1\n"
    with rd.hold_lock():
        assert rd.is_locked()
        with rd.try_lock() as held:
            assert not held
        assert rd.lock.read_text() == f"{os.getpid()}\n"
    assert not rd.is_locked()
