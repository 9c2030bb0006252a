"""Shared fixtures: an isolated workspace per test, and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "ws"
    monkeypatch.setenv("LANGPRUNE_HOME", str(ws))
    return ws


def run_cli(*args: str, workspace: Path | None = None, **kw) -> subprocess.CompletedProcess[str]:
    """Run the installed `langprune` entry point in a fresh process."""
    env = dict(os.environ)
    if workspace is not None:
        env["LANGPRUNE_HOME"] = str(workspace)
    env.update(kw.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-m", "langprune", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=kw.pop("timeout", 300),
        **kw,
    )


@pytest.fixture
def cli(workspace: Path):
    def _run(*args: str, **kw) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, workspace=workspace, **kw)

    return _run


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 32 MB file system of its own (tmpfs), to fill up; skipped where mounting is refused."""
    import shutil

    mount = shutil.which("mount")
    root = tmp_path / "disk"
    root.mkdir()
    if mount is None:
        pytest.skip("no mount command: cannot make a small disk to fill")
    made = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=32m,mode=0700", "tmpfs", str(root)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True)


def fill_disk(root: Path) -> Path:
    """Write a file until the disk holding `root` is full; delete it to give the space back."""
    filler = root / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError:
            pass
        try:  # the last partial pages too
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    return filler
