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
