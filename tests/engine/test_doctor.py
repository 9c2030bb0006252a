"""`langprune doctor`: every check prints, the exit code follows the failures."""

from __future__ import annotations

from pathlib import Path

from langprune.engine.doctor import FAIL, check_disk, logind_kills_user_processes
from tests.conftest import run_cli


def test_doctor_reports_every_check_and_exit_code_follows_failures(tmp_path: Path) -> None:
    result = run_cli(
        "doctor", workspace=tmp_path / "ws", env={"COLUMNS": "200", "HF_HUB_OFFLINE": "1"}
    )
    for name in (
        "python",
        "package torch",
        "cuda",
        "hugging face hub",
        "disk",
        "survive logout",
        "slurm",
        "demo corpus",
    ):
        assert f" {name}:" in result.stdout, name
    failed = sum(line.startswith("FAIL") for line in result.stdout.splitlines())
    assert result.returncode == (1 if failed else 0), result.stdout
    assert not (tmp_path / "ws").exists(), "doctor must not create the workspace"


def test_logind_setting_last_one_wins() -> None:
    assert not logind_kills_user_processes([])
    assert not logind_kills_user_processes(["[Login]\n#KillUserProcesses=yes\n"])
    assert logind_kills_user_processes(["[Login]\nKillUserProcesses=yes\n"])
    assert not logind_kills_user_processes(["KillUserProcesses=yes", "KillUserProcesses=no"])


def test_disk_check_walks_up_to_an_existing_folder(tmp_path: Path) -> None:
    (check,) = check_disk(tmp_path / "not" / "yet" / "there")
    assert check.level != FAIL or "free" in check.detail
    assert "GiB free" in check.detail
