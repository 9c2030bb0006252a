"""No control character reaches a Slurm batch script: refused at validation, naming the field
(real `langprune` processes; nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_bad_input import GOOD
from tests.conftest import run_cli

EVIL = "gpu\ntouch /tmp/pwned"

SPEC_CASES = [
    ("partition", f"partition = {json.dumps(EVIL)}", "runner.slurm.partition"),
    ("account", f"account = {json.dumps(EVIL)}", "runner.slurm.account"),
    ("qos", f"qos = {json.dumps('normal' + chr(13) + 'x')}", "runner.slurm.qos"),
    ("time", f"time = {json.dumps('1:00' + chr(0))}", "runner.slurm.time"),
    ("extra value", f"extra = {{ constraint = {json.dumps(EVIL)} }}", "runner.slurm.extra"),
    ("extra key", f"extra = {{ {json.dumps('a' + chr(10) + 'b')} = 1 }}", "runner.slurm.extra"),
]


@pytest.mark.parametrize(("name", "line", "field"), SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_control_characters_in_runner_slurm_are_refused(
    tmp_path: Path, name: str, line: str, field: str
) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text(GOOD + f'[runner]\nexecutor = "slurm"\n[runner.slurm]\n{line}\n')
    ws = tmp_path / "ws"
    for args in (("presets", "validate", str(preset)), ("plan", str(preset)), ("run", str(preset))):
        out = run_cli(*args, workspace=ws)
        assert out.returncode == 2, (name, args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        assert (field in out.stderr and "control character" in out.stderr) or (
            name == "extra key" and "not an sbatch option name" in out.stderr
        ), (name, out.stderr)
    assert not ws.exists()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("--slurm-opt", f"constraint={EVIL}"), "--slurm-opt constraint"),
        (("--slurm-opt", "con\nstraint=a100"), "--slurm-opt"),
        (("--slurm-partition", EVIL), "--slurm-partition"),
        (("--slurm-account", "a\tb"), "--slurm-account"),
        (("--slurm-time", "1:00\n#SBATCH --x"), "--slurm-time"),
    ],
)
def test_control_characters_in_slurm_options_are_refused(
    tmp_path: Path, args: tuple[str, ...], flag: str
) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text(GOOD)
    ws = tmp_path / "ws"
    out = run_cli("run", str(preset), "--executor", "slurm", *args, workspace=ws)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert flag in out.stderr, out.stderr
    assert not ws.exists()
