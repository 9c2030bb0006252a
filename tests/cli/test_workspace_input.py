"""A workspace that is missing, a file or read-only, and a binary preset: one line, exit 2,
nothing written, no traceback (real `langprune` processes)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_bad_input import GOOD
from tests.conftest import run_cli


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def _preset(tmp_path: Path) -> Path:
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    return path


def test_a_missing_workspace_is_created_only_by_run(tmp_path: Path) -> None:
    ws = tmp_path / "typo-ws"
    preset = _preset(tmp_path)
    for args in (
        ("status",),
        ("attach",),
        ("results",),
        ("retry",),
        ("cancel", "--all"),
        ("logs", "abc"),
        ("compare", "--metric", "ppl"),
        ("store", "rebuild"),
    ):
        result = run_cli("--workspace", str(ws), *args)
        _refused(result, str(ws), "does not exist")
        assert not ws.exists(), args
    plan = run_cli("--workspace", str(ws), "plan", str(preset))
    assert plan.returncode == 0 and "does not exist yet" in plan.stdout, plan.stderr
    result = run_cli("--workspace", str(ws), "run", str(preset))
    assert result.returncode == 0, result.stderr
    assert (ws / "runs").is_dir()
    run_cli("--workspace", str(ws), "cancel", "--all")


def test_a_workspace_that_is_a_file_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "afile"
    ws.write_text("not a workspace\n")
    preset = _preset(tmp_path)
    for args in (("status",), ("results",), ("run", str(preset)), ("plan", str(preset))):
        _refused(run_cli("--workspace", str(ws), *args), str(ws), "not a directory")
    assert ws.read_text() == "not a workspace\n"
    # under a file: cannot be created
    _refused(run_cli("--workspace", str(ws / "sub"), "run", str(preset)), "cannot create")


@contextlib.contextmanager
def _read_only_dir(path: Path) -> Iterator[None]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        if os.geteuid() == 0:
            pytest.skip("root without mount: cannot make a directory read-only")
        path.chmod(0o500)
    try:
        yield
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", str(path)], check=True)
        else:
            path.chmod(0o700)


def test_an_unwritable_workspace_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ro"
    preset = _preset(tmp_path)
    with _read_only_dir(ws):
        for args in (("status",), ("results",), ("run", str(preset))):
            _refused(run_cli("--workspace", str(ws), *args), str(ws), "not writable")


def test_a_binary_preset_is_refused(tmp_path: Path) -> None:
    preset = tmp_path / "bin.toml"
    preset.write_bytes(bytes(range(256)) * 4)
    ws = tmp_path / "ws"
    for args in (("presets", "validate", str(preset)), ("plan", str(preset)), ("run", str(preset))):
        _refused(run_cli("--workspace", str(ws), *args), str(preset), "not a text file")
    assert not ws.exists()
