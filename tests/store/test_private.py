"""The workspace is user-only (folders 0700, files 0600), also when it existed before; the copies
left by killed `store rebuild`s are removed once their lock is free."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from langprune.store import fs
from langprune.store.ingest import ingest
from langprune.workspace import db_path
from tests.store.helpers import write_known


def _cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, started with the common umask 022 (files 0644 unless langprune says so)."""
    env = {k: v for k, v in os.environ.items() if k != "LANGPRUNE_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "langprune", "--workspace", str(ws), *args],
        capture_output=True, text=True, env=env, timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip


def _loose(ws: Path) -> list[str]:
    """Everything under `ws` (itself included) that other users may read, enter or write."""
    found = []
    for path in [ws, *ws.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        want = 0o700 if stat.S_ISDIR(mode) else 0o600
        if stat.S_IMODE(mode) != want:
            found.append(f"{path.relative_to(ws.parent)} {oct(stat.S_IMODE(mode))}")
    return found


def test_an_existing_workspace_becomes_user_only(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    old = os.umask(0o022)
    try:
        ws.mkdir(mode=0o755)
        write_known(ws)
        ingest(ws)
        (ws / "runner").mkdir(exist_ok=True)
        (ws / "runner" / "scheduler.log").write_text("old log\n")
        (ws / "dense").mkdir()
        (ws / "dense" / "entry.json").write_text("{}")
        for path in [ws, *ws.rglob("*")]:  # as an older langprune or a umask-022 copy left it
            path.chmod(0o755 if path.is_dir() else 0o644)
    finally:
        os.umask(old)
    assert _loose(ws)
    r = _cli(ws, "results")
    assert r.returncode == 0, r.stderr
    assert _loose(ws) == []


def test_files_langprune_creates_are_user_only(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    old = os.umask(0o022)
    try:
        write_known(ws)
    finally:
        os.umask(old)
    for path in [ws, *ws.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    for args in (["store", "rebuild"], ["status"], ["compare", "-m", "ppl"]):
        r = _cli(ws, *args)
        assert r.returncode == 0, (args, r.stderr)
    assert db_path(ws).is_file()
    assert _loose(ws) == []


def test_killed_rebuilds_leave_no_copies_behind(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_known(ws)
    ingest(ws)
    db = db_path(ws)
    stale = db.with_name(f".{db.name}.rebuild-4242")  # a rebuild killed with -9 (pid 4242)
    shutil.copy(db, stale)
    stale.with_name(stale.name + ".wal").write_bytes(b"wal")
    live = db.with_name(f".{db.name}.rebuild-777")  # a rebuild still running: its lock is held
    shutil.copy(db, live)
    with fs.lock(live.with_name(live.name + ".owner")) as held:
        assert held is not None
        r = _cli(ws, "store", "rebuild")
        assert r.returncode == 0, r.stderr
        left = sorted(p.name for p in ws.iterdir() if ".rebuild-" in p.name)
        assert left == [live.name, live.name + ".owner"]
    r = _cli(ws, "results")
    assert r.returncode == 0, r.stderr
    assert not [p.name for p in ws.iterdir() if ".rebuild-" in p.name]
