"""The CLI entry: version, help without heavy imports, presets, plan, workspace."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli

HEAVY = ("torch", "transformers", "lm_eval", "datasets")


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from langprune.cli import app;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
        "assert 'presets' in r.output;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"--help imported {out.stdout.strip()}"


def test_help_runs_as_a_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "plan" in result.stdout and "presets" in result.stdout


def test_no_arguments_prints_help(tmp_path: Path) -> None:
    result = run_cli(workspace=tmp_path / "ws")
    assert result.returncode == 0
    assert "Usage" in result.stdout


def test_version() -> None:
    from langprune import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"langprune {__version__}"


def test_presets_list_and_show(tmp_path: Path) -> None:
    result = run_cli("presets", "list", workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    for name in ("smoke", "paper-llama3-8b", "paper-aya23-8b"):
        assert name in result.stdout
    shown = run_cli("presets", "show", "smoke", workspace=tmp_path / "ws")
    assert shown.returncode == 0 and 'name = "smoke"' in shown.stdout


def test_plan_paper_preset_counts_57_runs(tmp_path: Path) -> None:
    result = run_cli("plan", "paper-llama3-8b", workspace=tmp_path / "ws", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "57 runs (0 already in the workspace" in result.stdout
    assert result.stdout.count("wanda") == 28 and result.stdout.count("sparsegpt") == 28


def test_plan_marks_runs_that_exist(tmp_path: Path) -> None:
    from langprune.engine.spec import presets
    from langprune.store import rundir

    ws = tmp_path / "ws"
    run = presets.load("smoke").runs()[1]
    rundir.create(ws / "runs", run.id, run.model_dump(mode="json")).set_status("done")
    result = run_cli("plan", "smoke", workspace=ws, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    line = next(ln for ln in result.stdout.splitlines() if run.id in ln)
    assert "done" in line
    assert "(1 already in the workspace" in result.stdout


def test_workspace_precedence_and_permissions(tmp_path: Path, monkeypatch) -> None:
    from langprune.workspace import workspace

    monkeypatch.setenv("LANGPRUNE_HOME", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert workspace(tmp_path / "flag") == (tmp_path / "flag").resolve()
    assert workspace() == (tmp_path / "env").resolve()
    monkeypatch.delenv("LANGPRUNE_HOME")
    ws = workspace()
    assert ws == (tmp_path / "xdg" / "langprune").resolve()
    assert stat.S_IMODE(os.stat(ws).st_mode) == 0o700
    assert (ws / "runs").is_dir()
