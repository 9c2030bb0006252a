"""The CLI's one error boundary (langprune.cli.main): user errors are one line + fix, exit 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from langprune.engine.data.corpora import CorpusError
from langprune.engine.data.handbook import DemoSetupError
from langprune.engine.spec.errors import SpecError
from langprune.errors import LangpruneError, RunnerError
from langprune.store.errors import FilterError, StoreBusy, StoreError

REPO = Path(__file__).resolve().parents[2]


def test_every_user_error_is_a_langprune_error() -> None:
    from langprune.engine.models.loading import ModelLoadError
    from langprune.engine.prune.driver import SparsityError

    for cls in (SpecError, StoreError, StoreBusy, FilterError, CorpusError, ModelLoadError,
                SparsityError, DemoSetupError, RunnerError):  # fmt: skip
        assert issubclass(cls, LangpruneError), cls
    # the old bases stay, so `except ValueError` / `except RuntimeError` callers still work
    assert issubclass(RunnerError, ValueError) and issubclass(StoreError, ValueError)
    assert issubclass(ModelLoadError, RuntimeError) and issubclass(CorpusError, ValueError)


def _main_with(raise_expr: str, ws: Path) -> subprocess.CompletedProcess[str]:
    """Run the real `main` with `langprune logs x`, its run lookup replaced by one that raises."""
    script = textwrap.dedent(
        f"""
        import sys
        from langprune.engine.run import launcher
        from langprune.errors import RunnerError
        from langprune.store.errors import StoreBusy

        def find_runs(*a, **k):
            raise {raise_expr}

        launcher.find_runs = find_runs
        sys.argv = ["langprune", "--workspace", {str(ws)!r}, "logs", "x"]
        from langprune.cli import main
        main()
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO
    )


@pytest.mark.parametrize(
    ("raise_expr", "code", "lines"),
    [
        (
            'RunnerError("run \'x\': no such run", "give more characters")',
            2,
            ["error: run 'x': no such run", "fix: give more characters"],
        ),
        ('RunnerError("two\\nlines")', 2, ["error: two", "error: lines"]),
        ('StoreBusy("the database is locked")', 1, ["error: the database is locked"]),
    ],
)
def test_user_errors_are_reported_once_with_their_fix(
    raise_expr: str, code: int, lines: list[str], tmp_path: Path
) -> None:
    out = _main_with(raise_expr, tmp_path)
    assert out.returncode == code, out.stderr
    assert out.stderr.splitlines() == lines
    assert "Traceback" not in out.stderr


def test_an_internal_bug_keeps_its_traceback(tmp_path: Path) -> None:
    out = _main_with('ZeroDivisionError("a bug")', tmp_path)
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "ZeroDivisionError: a bug" in out.stderr


def test_a_real_command_reports_a_runner_error(cli, workspace) -> None:
    (workspace / "runs").mkdir(parents=True)  # only `run` creates a workspace
    out = cli("logs", "nosuchrun")
    assert out.returncode == 2
    assert out.stderr.splitlines()[0] == "error: run 'nosuchrun': no such run"
    assert out.stderr.splitlines()[1].startswith("fix: ")
